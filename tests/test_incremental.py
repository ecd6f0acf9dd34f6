"""Incremental passes (issue 20 item 1): the incremental planner gives the plan a full replan
gives, after every pass of random event sequences, and does not replan what did not change.

The property test runs GITOPS_EDGE_INCREMENTAL_EXAMPLES examples (default 40; raise it for a
longer search, e.g. 2000).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from planner_fixtures import NEW, NOW, OLD, desired_ds, group, observed_ds, state
from repo_config import write_config
from test_loop import DAEMONSET

from gitops_edge.cli.main import build_parser
from gitops_edge.cli.pipeline_args import pipeline_from_args
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model.desired import (
    SPEC_HASH_ANNOTATION,
    DesiredDaemonSet,
    DesiredState,
    RolloutPolicy,
    UpdateModel,
)
from gitops_edge.model.maintenance import parse_window
from gitops_edge.model.observed import Node, Observed, PodObs
from gitops_edge.model.placement import Placement
from gitops_edge.model.plan import (
    AnnotateDaemonSet,
    ApplyDaemonSet,
    DeletePod,
    Plan,
    SetPodCondition,
)
from gitops_edge.planner import plan as full_plan
from gitops_edge.reconciler.incremental import IncrementalPlanner

EXAMPLES = int(os.environ.get("GITOPS_EDGE_INCREMENTAL_EXAMPLES", "40"))
NODES = tuple(f"n{i}" for i in range(6))
SETS = ("web-a", "web-b", "web-c", "agent", "ota")
WINDOW = parse_window("0 3 * * *", "1h", "UTC")  # opens at NOW + 800 s, on the sim's epoch


def _desired(spec: dict[str, str], *, waves: bool = True) -> DesiredState:
    policy = RolloutPolicy(waves=2, bake_seconds=300, progress_deadline_seconds=400)
    daemonsets: tuple[DesiredDaemonSet, ...] = (
        replace(
            desired_ds("web-a", group="a", workload="web", spec_hash=spec["web-a"]),
            rollout=replace(policy, wave=0),
            min_ready_seconds=60,
        ),
        replace(
            desired_ds("web-b", group="b", workload="web", spec_hash=spec["web-b"]),
            rollout=replace(policy, wave=1),
            window=WINDOW,
        ),
        replace(  # group c overlaps a and b on the nodes labelled extra=yes: a plan error
            desired_ds("web-c", group="c", workload="web", spec_hash=spec["web-c"]),
            rollout=replace(policy, wave=1),
        ),
        desired_ds("agent", max_unavailable=1, spec_hash=spec["agent"]),
        desired_ds("ota", model=UpdateModel.OTA, spec_hash=spec["ota"]),
    )
    groups = (
        replace(group("a", pool="a"), nodes=("n0",)),  # n0 wherever its labels put it
        group("b", pool="b"),
        group("c", extra="yes"),
    )
    if not waves:
        daemonsets = tuple(replace(d, rollout=None) for d in daemonsets)
    return state(*daemonsets, groups=groups)


@dataclass
class World:
    """A small fleet the events change; `observed()` is what a cluster would show."""

    now: float = NOW
    ready: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(NODES, True))
    pool: dict[str, str] = field(
        default_factory=lambda: {n: "ab"[i // 3] for i, n in enumerate(NODES)}
    )
    revision: dict[str, str] = field(default_factory=lambda: dict.fromkeys(SETS, NEW))
    spec: dict[str, str] = field(default_factory=lambda: dict.fromkeys(SETS, "spec-1"))
    observed_spec: dict[str, str] = field(default_factory=lambda: dict.fromkeys(SETS, "spec-1"))
    pods: dict[str, PodObs] = field(default_factory=dict)
    annotations: dict[str, dict[str, str]] = field(default_factory=lambda: {d: {} for d in SETS})
    extra: set[str] = field(default_factory=set)  # nodes labelled extra=yes
    cached: bool = False  # unchanged pods and nodes are the same objects in every observation
    node_objects: dict[str, Node] = field(default_factory=dict)
    serial: int = 0

    def __post_init__(self) -> None:
        for ds in SETS:
            for n in NODES:
                if self._fits(ds, n):
                    self.create(ds, n, OLD, ready_since=NOW - 1000)

    def _fits(self, ds: str, n: str) -> bool:
        return _placement(ds).fits(n, self.labels(n))

    def labels(self, n: str) -> dict[str, str]:
        return {"pool": self.pool[n], **({"extra": "yes"} if n in self.extra else {})}

    def create(self, ds: str, n: str, revision: str, *, ready_since: float | None) -> None:
        self.serial += 1
        name = f"{ds}-{n}-{self.serial}"
        self.pods[name] = PodObs(
            namespace="edge",
            name=name,
            uid=f"uid-{name}",
            node=n,
            owner_kind="DaemonSet",
            owner_name=ds,
            owner_uid=f"uid-{ds}",
            revision_hash=revision,
            template_generation=None,
            ready=ready_since is not None,
            ready_since=ready_since,
            created=self.now,
        )

    def observed(self) -> Observed:
        nodes = tuple(
            self._kept(
                Node(name=n, labels=self.labels(n), ready=self.ready[n], ready_since=NOW - 5000)
            )
            for n in NODES
        )
        daemonsets = tuple(
            replace(
                observed_ds(ds, revision=self.revision[ds], min_ready=60 if ds == "web-a" else 0),
                annotations={**self.annotations[ds], SPEC_HASH_ANNOTATION: self.observed_spec[ds]},
                placement=_placement(ds),
            )
            for ds in SETS
        )
        pods = tuple(p for _, p in sorted(self.pods.items()))
        if not self.cached:  # fresh objects, as a cluster listed again gives
            pods = tuple(dataclasses.replace(p) for p in pods)
        return Observed(now=self.now, nodes=nodes, daemonsets=daemonsets, pods=pods)

    def _kept(self, node: Node) -> Node:
        """With `cached`, the node object of the previous observation while it is unchanged
        (as the watch-fed cache keeps it)."""
        if not self.cached:
            return node
        known = self.node_objects.get(node.name)
        if known != node:
            self.node_objects[node.name] = known = node
        assert known is not None
        return known

    def apply(self, plan: Plan) -> None:
        """What the cluster does with the plan's actions (part of them: enough to move on)."""
        for action in plan.actions:
            if isinstance(action, DeletePod):
                gone = self.pods.pop(action.name, None)
                if gone is not None and self.ready[gone.node]:
                    owner = gone.owner_name
                    self.create(owner, gone.node, self.revision[owner], ready_since=None)
            elif isinstance(action, ApplyDaemonSet):
                self.observed_spec[action.name] = self.spec[action.name]
            elif isinstance(action, AnnotateDaemonSet):
                self.annotations[action.name].update(
                    (k, v) for k, v in action.annotations if v is not None
                )
            elif isinstance(action, SetPodCondition) and action.name in self.pods:
                pod = self.pods[action.name]
                self.pods[action.name] = replace(pod, conditions=(action.condition,))


def _placement(ds: str) -> Placement:
    if ds == "web-c":
        return Placement(node_selector=(("extra", "yes"),))
    if ds.startswith("web-"):
        return Placement(node_selector=(("pool", ds[-1]),))
    return Placement()


events = st.one_of(
    st.tuples(st.just("delete-pod"), st.integers(0, 40)),
    st.tuples(st.just("create-pod"), st.sampled_from(SETS), st.sampled_from(NODES)),
    st.tuples(st.just("pod-ready"), st.integers(0, 40)),
    st.tuples(st.just("node-ready"), st.sampled_from(NODES)),
    st.tuples(st.just("label"), st.sampled_from(NODES)),
    st.tuples(st.just("extra-label"), st.sampled_from(NODES)),
    st.tuples(st.just("spec"), st.sampled_from(SETS)),
    st.tuples(st.just("revision"), st.sampled_from(SETS)),
    st.tuples(st.just("tick"), st.sampled_from((1, 30, 59, 60, 299, 300, 400, 800, 3600))),
    st.tuples(st.just("apply"), st.just(0)),
)


def _happen(world: World, event: tuple[object, ...], last: Plan) -> None:
    kind, arg = event[0], event[1]
    names = sorted(world.pods)
    if kind == "delete-pod" and names:
        world.pods.pop(names[int(str(arg)) % len(names)])
    elif kind == "create-pod":
        ds = str(arg)
        world.create(ds, str(event[2]), world.revision[ds], ready_since=None)
    elif kind == "pod-ready" and names:
        name = names[int(str(arg)) % len(names)]
        pod = world.pods[name]
        ready = not pod.ready
        world.pods[name] = replace(pod, ready=ready, ready_since=world.now if ready else None)
    elif kind == "node-ready":
        world.ready[str(arg)] = not world.ready[str(arg)]
    elif kind == "label":
        world.pool[str(arg)] = "b" if world.pool[str(arg)] == "a" else "a"
    elif kind == "extra-label":
        world.extra ^= {str(arg)}
    elif kind == "spec":
        world.spec[str(arg)] = f"spec-{world.serial}"
    elif kind == "revision":
        world.serial += 1
        world.revision[str(arg)] = f"rev{world.serial}"
    elif kind == "tick":
        world.now += int(str(arg))
    elif kind == "apply":
        world.apply(last)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    st.lists(events, min_size=1, max_size=25),
    st.sampled_from((1, 3, 1000)),
    st.booleans(),
    st.booleans(),
)
def test_incremental_plan_equals_full_plan_after_every_pass(
    history: list[tuple[object, ...]], full_every: int, waves: bool, cached: bool
) -> None:
    world = World(cached=cached)
    planner = IncrementalPlanner(full_every=full_every)
    last = full_plan(_desired(world.spec, waves=waves), world.observed())
    for event in history:
        _happen(world, event, last)
        planner.begin_pass()
        desired, observed = _desired(world.spec, waves=waves), world.observed()
        incremental = planner.plan(desired, observed)
        last = full_plan(desired, observed)
        assert incremental == last, event


def _steady() -> tuple[DesiredState, World]:
    world = World()
    for ds in SETS:
        world.revision[ds] = OLD  # every pod current
    desired = _desired(world.spec)
    world.apply(full_plan(desired, world.observed()))  # the OTA pods marked: nothing to do
    return desired, world


def test_a_pass_with_nothing_changed_replans_no_daemonset() -> None:
    desired, world = _steady()
    planner = IncrementalPlanner(full_every=1000)
    first = planner.plan(desired, world.observed())
    assert not first.actions and planner.planned == len(SETS)
    second = planner.plan(desired, world.observed())
    assert second == full_plan(desired, world.observed())
    assert (planner.planned, planner.reused) == (len(SETS), len(SETS))


def test_a_pod_change_replans_only_its_daemonset() -> None:
    desired, world = _steady()
    planner = IncrementalPlanner(full_every=1000)
    planner.plan(desired, world.observed())
    victim = next(name for name in sorted(world.pods) if name.startswith("agent-"))
    del world.pods[victim]
    after = planner.plan(desired, world.observed())
    assert after == full_plan(desired, world.observed())
    assert planner.planned == len(SETS) + 1  # agent only


def test_a_node_turning_not_ready_replans_the_daemonsets_on_it_and_their_workloads() -> None:
    desired, world = _steady()
    planner = IncrementalPlanner(full_every=1000)
    planner.plan(desired, world.observed())
    world.ready["n0"] = False  # pool a: web-a (and so web-b, its workload), agent, ota
    after = planner.plan(desired, world.observed())
    assert after == full_plan(desired, world.observed())
    assert planner.planned == 2 * len(SETS)
    world.ready["n0"] = True
    world.pods = {k: p for k, p in world.pods.items() if not k.startswith(("web-", "ota-"))}
    planner.plan(desired, world.observed())
    planned = planner.planned
    world.ready["n1"] = False  # now only agent's pods are on it; n1 still fits web-a's
    planner.plan(desired, world.observed())
    assert planner.planned - planned == len(SETS)  # web-a's placement fits n1: all replanned


def test_a_daemonset_outside_its_window_is_replanned_when_the_window_opens() -> None:
    desired, world = _steady()
    world.revision["web-b"] = NEW  # web-b has outdated pods, held by its window
    planner = IncrementalPlanner(full_every=1000)
    held = planner.plan(desired, world.observed())
    assert next(d for d in held.daemonsets if d.name == "web-b").held
    planned = planner.planned
    world.now += 100  # the window opens at NOW + 800
    planner.plan(desired, world.observed())
    assert planner.planned == planned  # still held: reused
    world.now = NOW + 800
    opened = planner.plan(desired, world.observed())
    assert opened == full_plan(desired, world.observed())
    assert not next(d for d in opened.daemonsets if d.name == "web-b").held


def test_a_full_replan_runs_every_full_every_passes() -> None:
    desired, world = _steady()
    planner = IncrementalPlanner(full_every=3)
    for _ in range(6):
        planner.begin_pass()
        planner.plan(desired, world.observed())
    # passes 1 (nothing to reuse yet) and 4 plan everything; 2, 3, 5 and 6 reuse it all
    assert planner.planned == 2 * len(SETS)


def test_the_loop_plans_incrementally_and_the_option_sets_the_safety_net(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_config(repo)
    (repo / "web.yaml").write_text(DAEMONSET.replace("TAG", "1.19.4"))
    sim = tmp_path / "fleet.json"
    SimCluster.init_file(sim, SimCluster.create(groups=[("edge", 4)]))
    argv = ["reconcile", str(repo), "--cluster", f"sim:{sim}", "--full-replan-every", "5"]
    args = build_parser(argv).parse_args(argv)
    pipeline = pipeline_from_args(
        args, log=lambda *a, **k: None, clusters=lambda: SimCluster.open(sim)
    )
    assert pipeline is not None and pipeline.incremental is not None
    assert pipeline.incremental.full_every == 5
    desired = pipeline.load().desired
    assert desired is not None
    for _ in range(4):  # the DaemonSet is created, its pods start; then nothing changes
        with SimCluster.open(sim) as cluster:
            cluster.tick(30)
        pipeline.run_pass(desired)
    before = pipeline.incremental.planned
    outcome = pipeline.run_pass(desired)  # the sim's clock stands still: nothing changed
    with SimCluster.open(sim) as cluster:
        assert outcome.last_plan == full_plan(desired, cluster.observe())
    assert pipeline.incremental.planned == before and pipeline.incremental.reused > 0
    once = ["reconcile", str(repo), "--cluster", f"sim:{sim}", "--once"]
    single = pipeline_from_args(
        build_parser(once).parse_args(once),
        log=lambda *a, **k: None,
        clusters=lambda: SimCluster.open(sim),
    )
    assert single is not None and single.incremental is None  # one pass: nothing to reuse


@pytest.mark.parametrize("value", ["0", "-1", "x", "1.5"])
def test_full_replan_every_must_be_a_whole_number_of_passes(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["reconcile", ".", "--cluster", "sim:x.json", "--full-replan-every", value]
    with pytest.raises(SystemExit) as exit_:
        build_parser(argv).parse_args(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--full-replan-every" in err and "a whole number of passes, at least 1" in err


def test_a_node_joining_an_overlapping_group_replans_every_daemonset_whose_group_holds_it() -> None:
    desired, world = _steady()
    desired = _desired(world.spec, waves=False)  # no wave ties web-a to web-c
    world.pool["n0"] = "b"  # still in group a (named there), now in b too: an overlap
    world.pods = {k: p for k, p in world.pods.items() if not k.startswith("web-a-n0")}
    planner = IncrementalPlanner(full_every=1000)
    planner.plan(desired, world.observed())
    world.extra.add("n0")  # and in group c: web-a's error now names three groups
    after = planner.plan(desired, world.observed())
    assert after == full_plan(desired, world.observed())
    web_a = next(d for d in after.daemonsets if d.name == "web-a")
    assert "node n0 is in groups a and b and c" in web_a.errors[0]


class _CountingPods(tuple):  # type: ignore[type-arg]
    """A pods tuple that counts how often it is walked."""

    walks = 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        type(self).walks += 1
        return super().__iter__()


def _count_label_indexes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """From now on, one entry per label index built from every node (`LabelIndex.of`)."""
    from gitops_edge.planner import index

    built: list[int] = []
    label_index = index.LabelIndex.of

    def counting(nodes: Iterable[Node]) -> index.LabelIndex:
        built.append(1)
        return label_index(nodes)

    monkeypatch.setattr(index.LabelIndex, "of", counting)
    return built


def test_a_steady_pass_keeps_the_pod_and_node_index_and_walks_the_pods_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At 100,000 nodes and 1,000,000 pods, indexing every pod by owner and every node by label
    at every pass was most of a steady pass's planning: the index is kept between passes and
    updated from what changed; the pods are walked once (the identity check against the
    previous observation), the nodes' label index is not rebuilt."""
    desired, world = _steady()
    planner = IncrementalPlanner(full_every=1000)
    observed = world.observed()
    planner.plan(desired, observed)
    built = _count_label_indexes(monkeypatch)
    _CountingPods.walks = 0
    again = replace(observed, pods=_CountingPods(observed.pods), nodes=tuple(observed.nodes))
    assert planner.plan(desired, again) == full_plan(desired, observed)
    assert _CountingPods.walks <= 1
    assert len(built) == 1  # full_plan's own, not the incremental planner's


def test_a_pass_after_a_node_turned_ready_walks_the_pods_once_and_keeps_the_label_index(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At 100,000 nodes a pass after one node turned Ready took 1.0-1.4 s against 0.4 s for a
    steady pass: finding the DaemonSets with a pod on the node, and when the replanned plans
    expire, walked every pod, and the nodes' label index was rebuilt from every node. The
    pods on each node are kept in the pod index, each replanned DaemonSet's pods come from it,
    and the node index is updated from the nodes that changed."""
    desired, world = _steady()
    planner = IncrementalPlanner(full_every=1000)
    planner.plan(desired, world.observed())
    world.ready["n0"] = False
    before = world.observed()
    planner.plan(desired, before)
    world.ready["n0"] = True
    observed = replace(world.observed(), pods=before.pods)  # unchanged pods: the same objects
    built = _count_label_indexes(monkeypatch)
    _CountingPods.walks = 0
    planned = planner.planned
    again = replace(observed, pods=_CountingPods(observed.pods))
    assert planner.plan(desired, again) == full_plan(desired, observed)
    assert planner.planned > planned  # the DaemonSets on n0 were replanned
    assert _CountingPods.walks <= 1
    assert len(built) == 1  # full_plan's own, not the incremental planner's


def test_the_kept_pod_index_follows_pods_created_changed_and_deleted() -> None:
    desired, world = _steady()
    planner = IncrementalPlanner(full_every=1000)
    planner.plan(desired, world.observed())
    names = sorted(n for n in world.pods if n.startswith("agent-"))
    del world.pods[names[0]]
    pod = world.pods[names[1]]
    world.pods[names[1]] = replace(pod, ready=False, ready_since=None)
    world.create("agent", pod.node, world.revision["agent"], ready_since=None)
    for _ in range(3):
        observed = world.observed()
        assert planner.plan(desired, observed) == full_plan(desired, observed)
