"""`gitops-edge reconcile --health-addr`: the loop command serves /healthz and /readyz (and
/metrics too when --metrics-addr is the same address); a bad address is a usage error."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from loop_records import records_until_first_pass
from repo_config import write_config

from gitops_edge.cli.loop_cmd import start_probes
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.reconciler.health import Heartbeat


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def reconcile(tmp_path: Path, *options: str) -> list[str]:
    repo = tmp_path / "repo"
    write_config(repo)
    sim = tmp_path / "fleet.json"
    SimCluster.init_file(sim, SimCluster.create(groups=[("edge", 2)]))
    command = [sys.executable, "-m", "gitops_edge", "reconcile", str(repo), f"--cluster=sim:{sim}"]
    return [*command, "--log-format=json", *options]


def test_the_loop_serves_its_probes_and_metrics_on_one_address(tmp_path: Path) -> None:
    address = ["--health-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"]
    loop = subprocess.Popen(
        reconcile(tmp_path, "--interval", "3600", *address),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        records = records_until_first_pass(loop)
        (served,) = [r for r in records if r["msg"] == "health probes served"]
        assert float(served["grace"]) == 3 * 3600 + 60  # 3 × --interval + --git-timeout
        base = served["address"]
        # The pass's log line comes out just before the loop records the pass as completed.
        ready = time.monotonic() + 10
        while get(f"{base}/readyz")[0] != 200 and time.monotonic() < ready:
            time.sleep(0.05)
        assert get(f"{base}/readyz") == (200, "ok: 1 passes completed\n")
        assert get(f"{base}/healthz") == (200, "ok: passes start on time\n")
        status, metrics = get(f"{base}/metrics")
        assert status == 200 and "gitops_edge_passes_total 1.0" in metrics
        assert [r["address"] for r in records if r["msg"] == "metrics served"] == [
            f"{base}/metrics"
        ]
    finally:
        loop.terminate()
        loop.communicate(timeout=30)


def test_a_bad_health_addr_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        reconcile(tmp_path, "--health-addr", "8081"), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "--health-addr '8081': write HOST:PORT or :PORT, e.g. :8081" in done.stderr


def test_an_ipv6_health_addr_is_served_and_logged_as_a_url() -> None:
    records: list[dict[str, Any]] = []
    args = argparse.Namespace(health_addr="[::1]:0", interval=60.0, git_timeout=60.0)
    server = start_probes(
        args, heartbeat=Heartbeat(), metrics=None, log=lambda lvl, msg, **f: records.append(f)
    )
    assert not isinstance(server, str)
    try:
        (served,) = records
        assert served["address"] == f"http://[::1]:{server.server_port}"
        assert float(served["grace"]) == 240
        assert get(f"{served['address']}/healthz") == (200, "ok: passes start on time\n")
    finally:
        server.shutdown()
        server.server_close()
