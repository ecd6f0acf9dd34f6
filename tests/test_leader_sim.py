"""Leader election on a simulated cluster: its Leases beside the state file behave as the API
server's (409 for a taken name or a stale resourceVersion, 404 for an update of nothing), and
two reconcile loops sharing one simulated fleet elect one leader; when it is killed, the
standby takes over within the lease duration."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from test_leader_kube import EXAMPLE, FAST, SLACK, eventually, start_loop

from gitops_edge.cli.main import main
from gitops_edge.cluster.base import ClusterError, NotFoundError
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.cluster.sim_lease import SimLeaseStore, leases_file
from gitops_edge.model.lease import Lease, LeaseRecord


def test_sim_leases_refuse_stale_and_duplicate_writes(tmp_path: Path) -> None:
    store = SimLeaseStore(tmp_path / "fleet.json", namespace="ns", name="lease")
    assert store.get() is None
    with pytest.raises(NotFoundError):
        store.update(Lease(LeaseRecord("a"), "1"), LeaseRecord("a"))
    created = store.create(LeaseRecord("a", 15, "t0", "t0", 0))
    with pytest.raises(ClusterError, match="409"):
        store.create(LeaseRecord("b"))
    renewed = store.update(created, LeaseRecord("a", 15, "t0", "t1", 0))
    assert renewed.version != created.version and store.get() == renewed
    with pytest.raises(ClusterError, match="409"):  # b read `created`, a renewed since
        store.update(created, LeaseRecord("b", 15, "t2", "t2", 1))
    assert leases_file(tmp_path / "fleet.json").exists()


def test_two_loops_on_one_simulated_fleet_one_leads_and_the_standby_takes_over(
    tmp_path: Path,
) -> None:
    sim = tmp_path / "fleet.json"
    SimCluster.init_file(sim, SimCluster.create(groups=[("hangzhou", 4)]))
    cluster = f"sim:{sim}"
    first, first_log = start_loop(cluster, {})
    second: subprocess.Popen[str] | None = None
    try:
        eventually(lambda: any(r.get("msg") == "pass" for r in first_log), seconds=60)
        second, second_log = start_loop(cluster, {})
        eventually(lambda: any("standing by" in str(r.get("msg")) for r in second_log), seconds=30)
        time.sleep(5 * FAST.retry_period)
        assert not any(r.get("msg") == "pass" for r in second_log)  # a standby never passes
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed = time.monotonic()
        eventually(lambda: any(r.get("msg") == "pass" for r in second_log), seconds=30)
        (took_over,) = [r["at"] for r in second_log if str(r.get("msg")).startswith("acquired")]
        assert took_over - killed <= FAST.lease_duration + 3 * FAST.retry_period + SLACK
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(30)
            if process is not None and process.stderr is not None:
                process.stderr.close()
    assert second is not None and second.returncode == 0
    (lease,) = (
        SimLeaseStore(sim, namespace="gitops-edge-system", name="x")._read()["leases"].values()
    )
    assert lease["record"]["holder"] == ""  # released when the standby-turned-leader stopped
    assert lease["record"]["transitions"] == 1


def renew_as(store: SimLeaseStore, who: str, stop: threading.Event) -> None:
    """Another reconciler, alive: it holds the Lease and renews it every 0.1 s."""
    lease = store.create(LeaseRecord(who, 1, "t0", "t0", 0))
    while not stop.wait(0.1):
        lease = store.update(lease, LeaseRecord(who, 1, "t0", f"t{time.monotonic()}", 0))


def once(sim: Path, *extra: str) -> int:
    return main(
        [
            *("reconcile", str(EXAMPLE), "--cluster", f"sim:{sim}", "--once"),
            *("--leader-elect", "--leader-elect-lease-duration", "1.2"),
            *("--leader-elect-renew-deadline", "0.8", "--leader-elect-retry-period", "0.1"),
            *extra,
        ]
    )


def test_once_stands_by_while_another_reconciler_holds_the_lease(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POD_NAMESPACE", "gitops-edge")
    sim = tmp_path / "fleet.json"
    SimCluster.init_file(sim, SimCluster.create(groups=[("hangzhou", 2)]))
    store = SimLeaseStore(sim, namespace="gitops-edge", name="gitops-edge-reconciler")
    stop = threading.Event()
    other = threading.Thread(target=renew_as, args=(store, "other", stop), daemon=True)
    other.start()
    try:
        assert once(sim) == 0
    finally:
        stop.set()
        other.join(10)
    err = capsys.readouterr().err
    assert "standing by: the lease gitops-edge/gitops-edge-reconciler is held by other" in err
    with SimCluster.open(sim, read_only=True) as cluster:
        assert cluster.observe().daemonsets == ()  # nothing was applied
    # the other reconciler is gone (its lease runs out): this one takes over and applies
    assert once(sim) == 0
    with SimCluster.open(sim, read_only=True) as cluster:
        assert cluster.observe().daemonsets != ()
    lease = store.get()
    assert lease is not None and lease.record.holder == "" and lease.record.transitions == 1


def test_leader_election_timings_that_cannot_work_are_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = tmp_path / "fleet.json"
    SimCluster.init_file(sim, SimCluster.create(groups=[("hangzhou", 2)]))
    assert once(sim, "--leader-elect-renew-deadline", "2") == 2
    assert "must be longer than the renew deadline" in capsys.readouterr().err
