"""The reconcile loop: last good revision kept, backoff on transient errors, prompt stop, and
the real command against a git remote and the simulated cluster — including SIGTERM and a
crash test that SIGKILLs it mid-rollout several times (the budget is never exceeded and the
rollout completes)."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from repo_config import write_config
from test_git_source import Remote, run

from gitops_edge.cli.loop_cmd import stop_on_signal
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model.desired import DesiredState, RepoConfig
from gitops_edge.reconciler.loop import Loaded, LoopSettings, backoff, run_loop
from gitops_edge.reconciler.reconcile import PassResult
from gitops_edge.repository.diagnostics import Diagnostic


def state(revision: str) -> DesiredState:
    return DesiredState(revision=revision, config=RepoConfig(), groups=(), daemonsets=())


class Recorder:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, level: str, message: str, **fields: Any) -> None:
        self.lines.append((level, message, fields))


def test_invalid_revision_keeps_the_last_good_one_and_is_reported_once() -> None:
    bad = Diagnostic(file="a.yaml", line=3, col=1, path="spec", message="broken", rule="schema")
    sequence = [
        Loaded("r1", state("r1")),
        Loaded("r2", None, (bad,)),
        Loaded("r2", None, (bad,)),
        Loaded("r3", state("r3")),
    ]
    applied: list[str] = []
    log = Recorder()
    passes = run_loop(
        load=lambda: sequence.pop(0),
        reconcile=lambda d: applied.append(d.revision) or PassResult(plans=(), results=()),  # type: ignore[func-returns-value]
        settings=LoopSettings(interval=0.01, max_passes=4),
        stop=threading.Event(),
        wake=threading.Event(),
        log=log,
        transient=(OSError,),
    )
    assert passes == 4
    assert applied == ["r1", "r1", "r1", "r3"]  # r2 never applied; r1 kept meanwhile
    invalid = [f for level, msg, f in log.lines if msg == "invalid desired state"]
    assert len(invalid) == 1 and "a.yaml:3:1" in invalid[0]["diagnostic"]


def test_transient_errors_back_off_and_the_loop_recovers() -> None:
    outcomes: list[Any] = [
        OSError("remote unreachable"),
        OSError("still"),
        Loaded("r1", state("r1")),
    ]

    def load() -> Loaded:
        item = outcomes.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    log = Recorder()
    run_loop(
        load=load,
        reconcile=lambda d: PassResult(plans=(), results=()),
        settings=LoopSettings(interval=0.05, max_backoff=0.05, max_passes=3),
        stop=threading.Event(),
        wake=threading.Event(),
        log=log,
        transient=(OSError,),
    )
    attempts = [f["attempt"] for _, msg, f in log.lines if msg.startswith("pass failed")]
    assert attempts == [1, 2]
    assert log.lines[-1][1] == "pass"


def test_a_change_that_arrives_during_a_pass_starts_the_next_pass_at_once() -> None:
    """A wake-up (folder change, node turning Ready) that arrives while a pass runs, after it
    loaded the repository, is not lost until the interval: the next pass starts at once."""
    wake = threading.Event()
    loaded: list[float] = []

    def load() -> Loaded:
        loaded.append(time.monotonic())
        if len(loaded) == 1:
            wake.set()  # the folder changed while this pass runs
        return Loaded("r", state("r"))

    passes = run_loop(
        load=load,
        reconcile=lambda d: PassResult(plans=(), results=()),
        settings=LoopSettings(interval=30, max_passes=2),
        stop=threading.Event(),
        wake=wake,
        log=Recorder(),
        transient=(OSError,),
    )
    assert passes == 2 and loaded[1] - loaded[0] < 5


def test_backoff_grows_and_is_capped() -> None:
    settings = LoopSettings(interval=10, max_backoff=8)
    assert 0.5 <= backoff(1, settings) <= 1.5
    assert backoff(10, settings) <= 12  # cap 8, +50% jitter at most


def test_a_pass_cut_short_by_the_stop_is_no_failure() -> None:
    """SIGTERM kills the git command a pass runs (the loop's stop event is git's cancel): the
    error that follows is the stop itself, not a failure to back off from or count."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def load() -> Loaded:
        stop.set()  # as the SIGTERM handler does while git runs
        raise OSError("git ls-remote was stopped: the reconciler is stopping")

    log = Recorder()
    passes = run_loop(
        load=load,
        reconcile=lambda d: PassResult(plans=(), results=()),
        settings=LoopSettings(interval=60),
        stop=stop,
        wake=threading.Event(),
        log=log,
        transient=(OSError,),
        on_error=errors.append,
    )
    assert passes == 1
    assert not [m for _, m, _ in log.lines if m.startswith("pass failed")], log.lines
    assert [m for level, m, _ in log.lines if level == "info"] == ["pass stopped"]
    assert errors == []


def test_stop_ends_the_wait_at_once() -> None:
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    start = time.monotonic()
    run_loop(
        load=lambda: Loaded("r", state("r")),
        reconcile=lambda d: PassResult(plans=(), results=()),
        settings=LoopSettings(interval=60),
        stop=stop,
        wake=threading.Event(),
        log=Recorder(),
        transient=(OSError,),
    )
    assert time.monotonic() - start < 5


# ── the real command ─────────────────────────────────────────────────────────────────────────

DAEMONSET = """apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: web
  namespace: default
  annotations:
    apps.openyurt.io/update-strategy: AdvancedRollingUpdate
    apps.openyurt.io/max-unavailable: 30%
spec:
  selector:
    matchLabels: {app: web}
  updateStrategy:
    type: OnDelete
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:TAG
"""


def start_loop(
    source: str, sim: Path, cache: Path, interval: str = "0.2", **popen: Any
) -> subprocess.Popen[str]:
    """The real `reconcile` loop as a subprocess, JSON logs on stderr (`popen`: other or
    overriding `subprocess.Popen` arguments)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gitops_edge",
            "reconcile",
            source,
            "--cluster",
            f"sim:{sim}",
            "--interval",
            interval,
            "--log-format",
            "json",
            "--cache-dir",
            str(cache),
        ],
        **{"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen},
    )


def web_pods(sim: Path) -> tuple[list[Any], set[str], str]:
    with SimCluster.open(sim, read_only=True) as cluster:
        observed = cluster.observe()
    pods = [p for p in observed.pods if p.owner_name == "web"]
    ready = {n.name for n in observed.nodes if n.ready}
    current = next((d.current_revision for d in observed.daemonsets if d.name == "web"), "")
    return pods, ready, current


@pytest.fixture
def fleet(tmp_path: Path) -> tuple[Remote, Path]:
    remote = Remote(tmp_path)
    write_config(remote.work)
    (remote.work / "web.yaml").write_text(DAEMONSET.replace("TAG", "1.19.4"))
    remote.commit("web 1.19.4")
    sim = tmp_path / "fleet.json"
    SimCluster.init_file(sim, SimCluster.create(groups=[("edge", 10)]))
    return remote, sim


def wait_for(condition: Any, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_loop_applies_a_merged_commit_and_stops_on_sigterm(
    fleet: tuple[Remote, Path], tmp_path: Path
) -> None:
    remote, sim = fleet
    loop = start_loop(remote.url, sim, tmp_path / "cache")
    try:
        assert wait_for(lambda: len(web_pods(sim)[0]) == 10)
        (remote.work / "web.yaml").write_text(DAEMONSET.replace("TAG", "1.20.0"))
        head = remote.commit("web 1.20.0")
        assert wait_for(lambda: bool(web_pods(sim)[2]) and _revision_of(sim) == head)
    finally:
        loop.send_signal(signal.SIGTERM)
        _, err = loop.communicate(timeout=30)
    assert loop.returncode == 0
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    messages = [line["msg"] for line in lines]
    assert "new revision" in messages and messages[-1] == "reconcile loop stopped"
    assert any(line.get("revision") == head for line in lines)


def _revision_of(sim: Path) -> str:
    with SimCluster.open(sim, read_only=True) as cluster:
        ds = next(d for d in cluster.observe().daemonsets if d.name == "web")
    return ds.annotations.get("gitops-edge.io/git-revision", "")


def test_sigkill_mid_rollout_never_exceeds_the_budget_and_completes(
    fleet: tuple[Remote, Path], tmp_path: Path
) -> None:
    remote, sim = fleet
    cache = tmp_path / "cache"
    loop = start_loop(remote.url, sim, cache)
    assert wait_for(lambda: len(web_pods(sim)[0]) == 10)
    with SimCluster.open(sim) as cluster:
        cluster.tick(10)  # all Ready
    (remote.work / "web.yaml").write_text(DAEMONSET.replace("TAG", "1.20.0"))
    remote.commit("web 1.20.0")
    budget = math.ceil(0.3 * 10)
    worst, kills, iteration = 0, 0, 0
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            pods, ready, current = web_pods(sim)
            live = [p for p in pods if not p.deleting]
            down = {p.node for p in live if p.node in ready and not p.ready}
            down |= ready - {p.node for p in live}
            worst = max(worst, len(down))
            assert len(down) <= budget, f"{len(down)} nodes down, budget {budget}"
            if (
                kills == 3  # the three crashes happen early in the rollout, whatever its pace
                and current
                and all(p.revision_hash == current and p.ready for p in live)
                and len(live) == 10
            ) and _revision_of(sim) == run("rev-parse", "HEAD", cwd=remote.work):
                break
            iteration += 1
            if kills < 3 and iteration % 2 == 0:
                loop.kill()  # SIGKILL: no cleanup at all
                loop.communicate(timeout=10)
                kills += 1
                loop = start_loop(remote.url, sim, cache)
            with SimCluster.open(sim) as cluster:
                cluster.tick(3)  # pods become Ready over time
            time.sleep(0.2)
        else:
            pytest.fail("the rollout did not complete in 2 minutes")
    finally:
        loop.kill()
        loop.communicate(timeout=10)
    assert kills == 3
    assert worst <= budget


def test_unreachable_remote_backs_off_without_crashing_and_resumes(
    fleet: tuple[Remote, Path], tmp_path: Path
) -> None:
    remote, sim = fleet
    loop = start_loop(remote.url, sim, tmp_path / "cache")
    try:
        assert wait_for(lambda: len(web_pods(sim)[0]) == 10)
        hidden = remote.bare.with_name("away.git")
        remote.bare.rename(hidden)  # the remote is gone
        time.sleep(2)
        assert loop.poll() is None  # still running
        hidden.rename(remote.bare)  # back
        (remote.work / "web.yaml").write_text(DAEMONSET.replace("TAG", "1.20.0"))
        head = remote.commit("web 1.20.0")
        assert wait_for(lambda: _revision_of(sim) == head)
    finally:
        loop.send_signal(signal.SIGTERM)
        _, err = loop.communicate(timeout=30)
    messages = [json.loads(line)["msg"] for line in err.splitlines() if line.startswith("{")]
    assert "pass failed; backing off" in messages
    assert loop.returncode == 0


def test_a_node_turning_ready_triggers_a_pass_before_the_interval(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_config(repo)
    all_at_once = DAEMONSET.replace("max-unavailable: 30%", "max-unavailable: 100%")
    (repo / "web.yaml").write_text(all_at_once.replace("TAG", "1.19.4"))
    sim = tmp_path / "fleet.json"
    SimCluster.init_file(sim, SimCluster.create(groups=[("edge", 4)]))
    loop = start_loop(str(repo), sim, tmp_path / "c", "3600")  # the interval never elapses
    try:
        assert wait_for(lambda: len(web_pods(sim)[0]) == 4)
        with SimCluster.open(sim) as cluster:
            cluster.tick(10)
            cluster.set_node_ready("edge-02", False)
        # The change (picked up by the folder watch) rolls every Ready node in one pass;
        # edge-02 is deferred.
        first = web_pods(sim)[2]
        (repo / "web.yaml").write_text(all_at_once.replace("TAG", "1.20.0"))
        # Wait for the new revision (edge-01 was already current with the first one: waiting
        # for it alone raced the folder watch under load).
        assert wait_for(
            lambda: web_pods(sim)[2] != first and _revision_current_on(sim, "edge-01"), seconds=20
        )
        time.sleep(1.5)
        assert not _revision_current_on(sim, "edge-02")
        with SimCluster.open(sim) as cluster:
            cluster.set_node_ready("edge-02", True)  # the link is back
        # Only the node-Ready trigger can start the next pass now.
        assert wait_for(lambda: _revision_current_on(sim, "edge-02"), seconds=20)
    finally:
        loop.send_signal(signal.SIGTERM)
        loop.communicate(timeout=30)
    assert loop.returncode == 0


def _revision_current_on(sim: Path, node: str) -> bool:
    pods, _, current = web_pods(sim)
    return any(p.node == node and p.revision_hash == current for p in pods) and bool(current)


def test_a_changed_local_folder_triggers_a_pass_before_the_interval(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_config(repo)
    (repo / "web.yaml").write_text(DAEMONSET.replace("TAG", "1.19.4"))
    sim = tmp_path / "fleet.json"
    SimCluster.init_file(sim, SimCluster.create(groups=[("edge", 2)]))
    loop = start_loop(str(repo), sim, tmp_path / "c", "3600")
    try:
        assert wait_for(lambda: len(web_pods(sim)[0]) == 2)
        before = web_pods(sim)[2]
        (repo / "web.yaml").write_text(DAEMONSET.replace("TAG", "1.20.0"))
        assert wait_for(lambda: web_pods(sim)[2] not in ("", before), seconds=20)
    finally:
        loop.send_signal(signal.SIGTERM)
        loop.communicate(timeout=30)
    assert loop.returncode == 0


def test_the_folder_watch_is_on_before_the_first_pass_reads_the_folder(tmp_path: Path) -> None:
    """A change made right after the loop's triggers start (while its first pass runs) wakes
    it: the folder watch is running once `_start_triggers` returns, not some time later."""
    import argparse

    from gitops_edge.cli.loop_cmd import _start_triggers

    repo = tmp_path / "repo"
    write_config(repo)
    stop, wake = threading.Event(), threading.Event()
    args = argparse.Namespace(cluster="kube", no_watch_cache=False, path=str(repo))
    try:
        _start_triggers(args, stop=stop, wake=wake, log=lambda *a, **k: None)
        (repo / "web.yaml").write_text("changed")  # at once: the first pass is under way
        assert wake.wait(10), "the change was lost: the watch was not on yet"
    finally:
        stop.set()


def test_a_signal_that_lands_while_a_log_line_is_written_still_stops_the_loop() -> None:
    """The handler runs between two bytecodes of the main thread; if that thread is writing a
    log line it holds the log's lock, and a handler that logged would wait for itself forever
    (seen as a loop that did not stop within 30 s of SIGTERM under load)."""
    stop = threading.Event()
    lock = threading.Lock()  # as the logger's and the masked stream's
    written: list[str] = []
    handler = stop_on_signal(stop, lambda level, msg, **fields: logged(msg))

    def logged(message: str) -> None:
        with lock:
            written.append(message)
            if message == "pass":
                handler(signal.SIGTERM, None)  # the signal lands mid-write

    writer = threading.Thread(target=logged, args=("pass",), daemon=True)
    writer.start()
    writer.join(5)
    assert not writer.is_alive(), "the handler deadlocked on the log's lock"
    assert stop.is_set()
    deadline = time.monotonic() + 5
    while "stopping after the current pass" not in written and time.monotonic() < deadline:
        time.sleep(0.01)
    assert written == ["pass", "stopping after the current pass"]
