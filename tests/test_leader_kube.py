"""Leader election against the stand-in API server: two reconcilers (each its own credentials,
so the stand-in records who wrote what, and when), one leads; the leader dies or is cut off
from the Lease; the standby takes over within the lease duration, and the old leader applies
nothing after it lost the lease. Short timings (a lease of 1.2 s) keep the tests fast."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kmock
import pytest
from kube_standin import StandIn, running, write_kubeconfig

from gitops_edge.cluster import kube
from gitops_edge.cluster.kube import Retrier
from gitops_edge.cluster.kube_cluster import KubeCluster
from gitops_edge.cluster.kube_lease import KubeLeaseStore
from gitops_edge.model.plan import ApplyNamespace
from gitops_edge.reconciler.apply import apply_actions
from gitops_edge.reconciler.leader_election import NotLeaderError, Timings
from gitops_edge.reconciler.leader_elector import LeaderElector

EXAMPLE = Path(__file__).resolve().parent.parent / "example-repo"
FAST = Timings(lease_duration=1.2, renew_deadline=0.8, retry_period=0.1)
SLACK = 0.5  # seconds a busy test machine may add to a step (scheduling, request latency)


@pytest.fixture
def api() -> Iterator[StandIn]:
    with running() as standin:
        standin.add_namespace("gitops-edge")
        yield standin


def connect(api: StandIn, tmp_path: Path, who: str) -> KubeCluster:
    path = write_kubeconfig(tmp_path / f"kubeconfig-{who}", api.url, token=who)
    return KubeCluster(kube.api_client_for(str(path), None), retrier=Retrier(attempts=1))


def elector(api: StandIn, tmp_path: Path, who: str) -> LeaderElector:
    store = KubeLeaseStore(
        connect(api, tmp_path, who),
        namespace="gitops-edge",
        name="gitops-edge-reconciler",
        timeout=1.0,
    )
    return LeaderElector(store, identity=who, timings=FAST)


def eventually(check: Callable[[], bool], *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def acquired_at(api: StandIn, holder: str) -> float:
    """When the stand-in stored the Lease with `holder` first."""
    return min(t for t, who, _ in api.leases.history if who == holder)


def last_renewal(api: StandIn, holder: str) -> float:
    return max(t for t, who, _ in api.leases.history if who == holder)


def test_the_standby_takes_over_within_the_lease_duration_after_the_leader_dies(
    api: StandIn, tmp_path: Path
) -> None:
    first, second = elector(api, tmp_path, "a"), elector(api, tmp_path, "b")
    try:
        first.start()
        assert first.leading()
        second.start()
        time.sleep(3 * FAST.retry_period)
        assert not second.leading() and second.holder == "a"  # a renews: b stands by
        first.abandon()  # the leader dies: no more renewals, no release
        died = last_renewal(api, "a")
        eventually(second.leading, seconds=5)
        took_over = acquired_at(api, "b")
        # b saw a's last renewal at its next read (a retry period later at most, with jitter)
        # and took over at its first try a lease duration after that; SLACK: a loaded machine
        assert took_over - died <= FAST.lease_duration + 3 * FAST.retry_period + SLACK
        assert not first.leading()  # a's renew deadline passed before that
        assert (
            api.leases.objects[("gitops-edge", "gitops-edge-reconciler")]["spec"][
                "leaseTransitions"
            ]
            == 1
        )
    finally:
        first.abandon()
        second.stop()
    assert api.leases.holder("gitops-edge", "gitops-edge-reconciler") == ""  # b released it


def cut_off_from_the_lease(who: str) -> Callable[[StandIn, kmock.Request], kmock.Response | None]:
    """A gate answering 503 to `who`'s Lease requests (its renewals do not get through) while
    its other requests (its pass's writes) still do."""

    def gate(api: StandIn, req: kmock.Request) -> kmock.Response | None:
        token = str(req.headers.get("Authorization") or "")
        if token == f"Bearer {who}" and "/leases" in req.url.path:
            return kmock.Response(status=503, payload={"kind": "Status", "code": 503})
        return None

    return gate


def test_a_leader_that_cannot_renew_stops_applying_before_the_standby_takes_over(
    api: StandIn, tmp_path: Path
) -> None:
    """The leader runs a long pass (thousands of actions); its renewals start failing (the
    API answers 503 to them) while its writes still get through. Its pass stops at the action
    after its renew deadline, and every write it made is older than the standby's takeover."""
    first, second = elector(api, tmp_path, "a"), elector(api, tmp_path, "b")
    writer = connect(api, tmp_path, "a")
    actions = [
        ApplyNamespace(
            name=f"n{i}",
            manifest_json=json.dumps({"kind": "Namespace", "metadata": {"name": f"n{i}"}}),
            create=True,
            reason=f"create namespace n{i}",
        )
        for i in range(20_000)
    ]
    outcome: dict[str, Any] = {}

    def long_pass() -> None:
        try:
            apply_actions(actions, writer, guard=first.check)
        except NotLeaderError as exc:
            outcome["stopped"] = exc

    try:
        first.start()
        second.start()
        worker = threading.Thread(target=long_pass, daemon=True)
        worker.start()
        eventually(lambda: len(mine(api, "a")) >= 20, seconds=10)
        api.gate = cut_off_from_the_lease("a")
        cut = time.monotonic()
        worker.join(30)
        assert not worker.is_alive() and "stopped" in outcome
        assert "not the leader" in str(outcome["stopped"])
        eventually(second.leading, seconds=10)
        took_over = acquired_at(api, "b")
        writes = mine(api, "a")
        assert 20 <= len(writes) < len(actions)
        assert max(writes) < took_over  # nothing applied by a once b could hold the lease
        # a stopped at its renew deadline, counted from before its last renewal reached the
        # API (so earlier than this); SLACK: the last write's own way to the stand-in
        assert max(writes) <= last_renewal(api, "a") + FAST.renew_deadline + SLACK
        assert cut < took_over
    finally:
        first.abandon()
        second.stop()


def mine(api: StandIn, who: str) -> list[float]:
    """When `who`'s writes other than to the Lease arrived."""
    return [
        t for t, token, _, path in api.writes if token == f"Bearer {who}" and "/leases" not in path
    ]


def start_loop(
    cluster: str, env: dict[str, str]
) -> tuple[subprocess.Popen[str], list[dict[str, Any]]]:
    """`gitops-edge reconcile example-repo --cluster CLUSTER --leader-elect` (short timings) as
    a process; its JSON log records are collected as they come, with when they came."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "gitops_edge", "reconcile", str(EXAMPLE)),
            *("--cluster", cluster, "--interval", "3600", "--log-format", "json"),
            *("--leader-elect", "--leader-elect-lease-duration", "1.2"),
            *("--leader-elect-renew-deadline", "0.8", "--leader-elect-retry-period", "0.1"),
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **env},
    )
    records: list[dict[str, Any]] = []

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            try:
                records.append({**json.loads(line), "at": time.monotonic()})
            except ValueError:
                records.append({"msg": line})

    threading.Thread(target=read, daemon=True).start()
    return process, records


def credentials(api: StandIn, tmp_path: Path, who: str) -> dict[str, str]:
    return {
        "KUBECONFIG": str(write_kubeconfig(tmp_path / f"kc-{who}", api.url, token=who)),
        "POD_NAMESPACE": "gitops-edge",
    }


def test_two_reconcile_loops_one_leads_and_the_standby_takes_over_when_it_is_killed(
    api: StandIn, tmp_path: Path
) -> None:
    for i in range(4):
        api.put(
            "nodes",
            {
                "metadata": {
                    "name": f"hangzhou-{i}",
                    "labels": {"apps.openyurt.io/nodepool": "hangzhou"},
                },
                "status": {"conditions": [{"type": "Ready", "status": "True"}]},
            },
        )
    first, first_log = start_loop("kube", credentials(api, tmp_path, "a"))
    second: subprocess.Popen[str] | None = None
    try:
        eventually(lambda: any(r.get("msg") == "pass" for r in first_log), seconds=60)
        assert ("edge-system", "log-agent-hangzhou") in api.store["daemonsets"]
        second, second_log = start_loop("kube", credentials(api, tmp_path, "b"))
        eventually(lambda: any("standing by" in str(r.get("msg")) for r in second_log), seconds=30)
        assert not any(r.get("msg") == "pass" for r in second_log)
        first.send_signal(signal.SIGKILL)  # the leader dies: its lease runs out
        first.wait(10)
        killed = time.monotonic()
        eventually(lambda: any(r.get("msg") == "pass" for r in second_log), seconds=30)
        (identity,) = [r["identity"] for r in second_log if r.get("msg", "").startswith("acquired")]
        assert identity.rsplit("_", 1)[0] == socket.gethostname()  # host name, random suffix
        took_over = acquired_at(api, identity)
        assert took_over - killed <= FAST.lease_duration + 3 * FAST.retry_period + SLACK
        # the standby wrote nothing but its Lease requests before it held the lease
        assert all(t > took_over for t in mine(api, "b"))
        assert all(t < took_over for t in mine(api, "a"))
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(30)
            if process is not None and process.stderr is not None:
                process.stderr.close()
    assert second is not None and second.returncode == 0
    assert api.leases.holder("gitops-edge", "gitops-edge-reconciler") == ""  # released on exit
