"""The parallel apply: independent actions are sent concurrently by a bounded pool, within a
client-side rate limit (a token bucket, tested on an injected clock), in `apply_order`'s
order; results keep the plan's order; the leader guard stops further sends; and a pass applied
by a pool leaves the simulated cluster exactly as one applied one by one."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from test_apply_order import apply_ds, delete, ds_plan

from gitops_edge.cluster.base import ClusterError, NotFoundError
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model.observed import Condition
from gitops_edge.model.plan import Action, Plan
from gitops_edge.reconciler.apply import (
    DONE,
    FAILED,
    SKIPPED,
    ApplySettings,
    apply_actions,
    apply_plan,
)
from gitops_edge.reconciler.apply_order import WORK, Slot, apply_order
from gitops_edge.reconciler.leader_election import NotLeaderError
from gitops_edge.reconciler.rate_limit import DEFAULT_BURST, DEFAULT_QPS, TokenBucket
from gitops_edge.reconciler.reconcile import load_desired, reconcile_once

BOUND = 10.0  # seconds a test waits for other threads at most (never reached when it passes)


class FakeClock:
    """Time that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Recorder:
    """A cluster that records each send as it starts and finishes; `hold` makes every send of
    the named pods wait (bounded) for `release`."""

    def __init__(self, *, hold: frozenset[str] = frozenset()) -> None:
        self.log: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.hold = hold
        self.release = threading.Event()
        self.barrier: threading.Barrier | None = None

    def _note(self, what: str, name: str) -> None:
        with self.lock:
            self.log.append((what, name))

    def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        self._note("start", name)
        if self.barrier is not None:
            self.barrier.wait(BOUND)
        if name in self.hold:
            assert self.release.wait(BOUND)
        if name.startswith("gone"):
            raise NotFoundError(name)
        if name.startswith("bad"):
            raise ClusterError(name)
        self._note("end", name)

    def apply_daemonset(self, manifest: Mapping[str, Any]) -> None:
        self._note("start", "apply")
        self._note("end", "apply")

    def set_pod_condition(self, namespace: str, name: str, uid: str, condition: Condition) -> None:
        self._note("start", name)
        self._note("end", name)


# ── the token bucket ────────────────────────────────────────────────────────────────────────


def test_the_defaults_are_controller_runtimes() -> None:
    assert (DEFAULT_QPS, DEFAULT_BURST) == (20.0, 30)


@pytest.mark.parametrize(("qps", "burst"), [(20.0, 30), (5.0, 10), (0.5, 1)])
def test_the_bucket_lets_a_burst_through_then_qps(qps: float, burst: int) -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=qps, burst=burst, clock=clock, sleep=clock.sleep)
    start = clock.now
    times = []
    for _ in range(200):
        bucket.acquire()
        times.append(clock.now - start)
    assert times[:burst] == [0.0] * burst  # the bucket starts full
    for count, at in enumerate(times, start=1):  # never more than burst + qps·t by time t
        assert count <= burst + qps * at + 1e-6
    assert times[-1] == pytest.approx((200 - burst) / qps)


def test_the_bucket_refills_while_idle_up_to_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=10.0, burst=5, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        assert bucket.acquire() == 0.0
    assert bucket.acquire() == pytest.approx(0.1)
    clock.now += 60.0  # idle for a minute: 5 tokens, not 600
    waits = [bucket.acquire() for _ in range(6)]
    assert waits[:5] == [0.0] * 5 and waits[5] == pytest.approx(0.1)


def test_the_rate_limit_holds_for_a_pooled_apply() -> None:
    """Every send takes a token, whichever worker sends it: of 60 deletions sent by 8 workers
    at 20/s after a burst of 30, the 30 after the burst wait 1/20 s, 2/20 s, … 30/20 s (the
    clock stands still: each reserves the next slot)."""
    clock = FakeClock()
    slept: list[float] = []
    bucket = TokenBucket(qps=20.0, burst=30, clock=clock, sleep=slept.append)
    actions = [delete(f"p{i}") for i in range(60)]
    results = apply_actions(
        actions,
        Recorder(),  # type: ignore[arg-type]
        order=[Slot(WORK)] * 60,
        workers=8,
        limiter=bucket,
    )
    assert [r.outcome for r in results] == [DONE] * 60
    assert sorted(slept) == pytest.approx([k / 20.0 for k in range(1, 31)])


# ── the pool ─────────────────────────────────────────────────────────────────────────────────


def test_independent_actions_are_sent_at_once() -> None:
    """Four deletions of four DaemonSets meet at a barrier only four concurrent sends pass
    (sent one by one, the first would wait for the others: BrokenBarrierError)."""
    cluster = Recorder()
    cluster.barrier = threading.Barrier(4)
    plan = Plan(
        revision="r", now=0.0, daemonsets=tuple(ds_plan(f"d{i}", delete(f"p{i}")) for i in range(4))
    )
    results = apply_plan(plan, cluster, settings=ApplySettings(workers=4))  # type: ignore[arg-type]
    assert [r.outcome for r in results] == [DONE] * 4


def test_an_object_action_goes_before_the_pods_of_its_daemonset() -> None:
    cluster = Recorder()
    plan = Plan(
        revision="r",
        now=0.0,
        daemonsets=(ds_plan("web", apply_ds("web"), *(delete(f"p{i}") for i in range(20))),),
    )
    apply_plan(plan, cluster, settings=ApplySettings(workers=8))  # type: ignore[arg-type]
    assert cluster.log[:2] == [("start", "apply"), ("end", "apply")]
    assert len(cluster.log) == 42


def test_results_keep_the_plan_order_and_outcomes() -> None:
    """p0 is held until the three others have finished: it ends last, its result is first."""

    class LastFirst(Recorder):
        def _note(self, what: str, name: str) -> None:
            super()._note(what, name)
            with self.lock:
                if sum(1 for w, n in self.log if w == "end" or n[:3] in ("gon", "bad")) >= 3:
                    self.release.set()

    cluster = LastFirst(hold=frozenset({"p0"}))
    actions: list[Action] = [delete("p0"), delete("gone1"), delete("bad1"), delete("p3")]
    results = apply_actions(actions, cluster, order=[Slot(WORK)] * 4, workers=4)  # type: ignore[arg-type]
    assert [r.action for r in results] == actions
    assert [r.outcome for r in results] == [DONE, SKIPPED, FAILED, DONE]
    assert cluster.log[-1] == ("end", "p0")


def test_a_lost_lease_stops_further_sends_and_lets_the_ones_in_flight_finish() -> None:
    cluster = Recorder(hold=frozenset(f"p{i}" for i in range(3)))
    allowed = [3]
    lock = threading.Lock()

    def guard() -> None:
        with lock:
            if allowed[0] == 0:
                cluster.release.set()  # the three in flight may finish now
                raise NotLeaderError("lease lost")
            allowed[0] -= 1

    actions = [delete(f"p{i}") for i in range(12)]
    with pytest.raises(NotLeaderError):
        apply_actions(actions, cluster, order=[Slot(WORK)] * 12, workers=4, guard=guard)  # type: ignore[arg-type]
    started = [name for what, name in cluster.log if what == "start"]
    ended = [name for what, name in cluster.log if what == "end"]
    assert sorted(started) == sorted(ended) == ["p0", "p1", "p2"]


def test_one_by_one_is_the_plan_order() -> None:
    cluster = Recorder()
    actions = [delete(f"p{i}") for i in range(5)]
    apply_actions(actions, cluster, workers=1)  # type: ignore[arg-type]
    assert [n for what, n in cluster.log if what == "start"] == [f"p{i}" for i in range(5)]


# ── the simulated cluster: the same pass, one by one or pooled ──────────────────────────────


REPO = {
    "gitops-edge.yaml": """apiVersion: gitops-edge.io/v1alpha1
kind: RepositoryConfig
metadata:
  name: par
spec:
  cloudVersion: v1.16.0
  defaultNamespace: edge
""",
    "groups.yaml": "".join(
        f"""---
apiVersion: gitops-edge.io/v1alpha1
kind: NodeGroup
metadata:
  name: {g}
spec:
  selector:
    matchLabels:
      apps.openyurt.io/nodepool: {g}
"""
        for g in ("a", "b")
    ),
}
WORKLOAD = """apiVersion: gitops-edge.io/v1alpha1
kind: EdgeDaemonSet
metadata:
  name: {name}
spec:
  strategy:
    type: {model}
    maxUnavailable: 40%
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
        - name: main
          image: registry.example.com/{name}:{version}
  groups:
    - name: a
    - name: b
"""


def write(root: Path, version: str) -> Path:
    root.mkdir()
    for name, text in REPO.items():
        (root / name).write_text(text)
    for name, model in (
        ("web", "AdvancedRollingUpdate"),
        ("agent", "OTA"),
        ("api", "AdvancedRollingUpdate"),
    ):
        (root / f"{name}.yaml").write_text(WORKLOAD.format(name=name, model=model, version=version))
    return root


def test_a_pooled_pass_leaves_the_cluster_as_a_one_by_one_pass(tmp_path: Path) -> None:
    """Same plans, same results in the same order, same cluster afterwards: concurrency sends
    no deletion the planner did not plan, and none twice."""
    v1 = load_desired(write(tmp_path / "v1", "1.0"), revision="v1")
    v2 = load_desired(write(tmp_path / "v2", "2.0"), revision="v2")
    outcomes = []
    clusters = []
    for workers in (1, 8):
        cluster = SimCluster.create(
            namespaces=("edge",), groups=[("a", 12), ("b", 8)], not_ready=3, seed=4
        )
        settings = ApplySettings(workers=workers)
        reconcile_once(v1, cluster, settings=settings)
        cluster.tick(60)
        passes = [reconcile_once(v2, cluster, settings=settings)]
        cluster.tick(60)
        passes.append(reconcile_once(v2, cluster, settings=settings))
        outcomes.append(passes)
        clusters.append(cluster.observe())
    one, pooled = outcomes
    assert all(apply_order(plan).actions == plan.actions for p in pooled for plan in p.plans)
    assert [p.plans for p in one] == [p.plans for p in pooled]
    assert [p.results for p in one] == [p.results for p in pooled]
    deletions = [r for p in pooled for r in p.results if type(r.action).__name__ == "DeletePod"]
    assert deletions and all(r.outcome == DONE for r in deletions)
    assert clusters[0] == clusters[1]


# ── the options ──────────────────────────────────────────────────────────────────────────────


def test_the_options_and_their_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    from gitops_edge.cli.main import build_parser
    from gitops_edge.cli.pipeline_args import apply_settings

    parser = build_parser()
    kube = apply_settings(parser.parse_args(["reconcile", ".", "--once", "--cluster", "kube"]))
    assert kube.workers == 8 and kube.limiter is not None
    assert (kube.limiter.qps, kube.limiter.burst) == (20.0, 30)
    sim = apply_settings(parser.parse_args(["reconcile", ".", "--once", "--cluster", "sim:f"]))
    assert sim.workers == 1 and sim.limiter is None
    chosen = apply_settings(
        parser.parse_args(
            [
                "reconcile",
                ".",
                "--once",
                "--cluster",
                "kube:edge",
                "--apply-workers",
                "32",
                "--kube-qps",
                "50",
                "--kube-burst",
                "100",
            ]
        )
    )
    assert chosen.workers == 32 and chosen.limiter is not None
    assert (chosen.limiter.qps, chosen.limiter.burst) == (50.0, 100)
    for wrong in (
        ["--apply-workers", "0"],
        ["--apply-workers", "65"],
        ["--kube-qps", "0"],
        ["--kube-burst", "x"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args(["reconcile", ".", "--once", *wrong])
        assert exit_info.value.code == 2
    assert "give a number from" in capsys.readouterr().err
