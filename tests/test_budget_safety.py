"""Issue 14, items 1 and 2: the AdvancedRollingUpdate budget holds when replacement pods are
never created (DaemonSet controller down, quota, webhook) or wait for the scheduler, or never
get scheduled. Planner rules on hand-built values, then scenarios on the simulated cluster,
which creates pods Pending and unbound as the real DaemonSet controller does (DESIGN §8), and a
property test over those behaviours."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from planner_fixtures import NEW, desired_ds, fleet, node, observed, observed_ds, pod, state
from test_rollout_properties import PASS_SECONDS, desired_state

from gitops_edge.cluster.k8s_objects import pod_from
from gitops_edge.cluster.sim import POOL_LABEL, SimCluster
from gitops_edge.model.desired import DesiredState
from gitops_edge.model.observed import Observed, PodObs
from gitops_edge.model.openyurt import resolve_max_unavailable
from gitops_edge.model.placement import Placement, Taint, Toleration, placement_from
from gitops_edge.model.plan import ApplyDaemonSet, DaemonSetPlan, DeletePod, Plan
from gitops_edge.planner import plan
from gitops_edge.reconciler.apply import apply_actions


def only(result: Plan) -> DaemonSetPlan:
    assert len(result.daemonsets) == 1
    return result.daemonsets[0]


def deletions(ds: DaemonSetPlan) -> list[DeletePod]:
    return [a for a in ds.actions if isinstance(a, DeletePod)]


# ── item 1: a node that should run a pod but has none ────────────────────────────────────────


def test_ready_eligible_node_without_a_pod_counts_unavailable_and_in_n() -> None:
    nodes, pods = fleet(10)
    gone = pods[:3]  # deleted, never recreated
    ds = only(plan(state(desired_ds(max_unavailable=3)), observed(nodes, pods[3:])))
    assert ds.budget is not None
    assert ds.budget.max_unavailable == 3 and ds.budget.unavailable == 3
    assert deletions(ds) == []
    assert ds.progress.nodes == 10 and ds.progress.unavailable == 3
    # A percentage rounds over N = 10 (the 7 hosting nodes plus the 3 that lost their pod).
    ds = only(plan(state(desired_ds(max_unavailable="50%")), observed(nodes, pods[3:])))
    assert ds.budget is not None and ds.budget.max_unavailable == 5
    assert len(deletions(ds)) == 2
    assert {d.node for d in deletions(ds)}.isdisjoint(p.node for p in gone)


def test_not_ready_node_without_a_pod_is_not_counted() -> None:
    nodes, pods = fleet(10, not_ready=(0, 1))
    ds = only(plan(state(desired_ds(max_unavailable=2)), observed(nodes, pods[2:])))
    assert ds.budget is not None and ds.budget.unavailable == 0
    assert ds.progress.nodes == 8 and len(deletions(ds)) == 2


def test_only_nodes_the_template_may_run_on_count() -> None:
    """nodeSelector, required node affinity, and NoSchedule/NoExecute taints against the
    template's tolerations (plus the DaemonSet controller's own) decide eligibility."""
    nodes = (
        node("a0", pool="a"),
        node("a1", pool="a"),
        node("a2", pool="a"),
        node("b0", pool="b"),  # other pool: not eligible
        replace(node("a3", pool="a"), taints=(Taint("dedicated", "gpu", "NoSchedule"),)),
        replace(node("a4", pool="a"), taints=(Taint("cost", "high", "PreferNoSchedule"),)),
        replace(node("a5", pool="a"), taints=(Taint("node.kubernetes.io/unschedulable"),)),
    )
    pods = (pod("a0"),)
    selected = replace(observed_ds(), placement=placement_from({"nodeSelector": {"pool": "a"}}))
    ds = only(plan(state(desired_ds(max_unavailable=9)), observed(nodes, pods, selected)))
    # a1, a2, a4 (PreferNoSchedule never repels) and a5 (the controller tolerates
    # unschedulable) lack their pod; a3's taint is not tolerated, b0 is not selected.
    assert ds.budget is not None and ds.budget.unavailable == 4 and ds.progress.nodes == 5
    tolerating = replace(
        selected,
        placement=replace(
            selected.placement,
            tolerations=(*selected.placement.tolerations, Toleration("dedicated", "Exists")),
        ),
    )
    ds = only(plan(state(desired_ds(max_unavailable=9)), observed(nodes, pods, tolerating)))
    assert ds.budget is not None and ds.budget.unavailable == 5
    affinity = replace(
        observed_ds(),
        placement=placement_from(
            {
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {"key": "pool", "operator": "In", "values": ["b"]}
                                    ]
                                },
                                {
                                    "matchFields": [
                                        {"key": "metadata.name", "operator": "In", "values": ["a1"]}
                                    ]
                                },
                            ]
                        }
                    }
                }
            }
        ),
    )
    ds = only(plan(state(desired_ds(max_unavailable=9)), observed(nodes, pods, affinity)))
    # b0 and a1 should run it and have none; a0's pod still counts for its node.
    assert ds.budget is not None and ds.budget.unavailable == 2 and ds.progress.nodes == 3


def test_placement_admits_agrees_with_the_planner_index() -> None:
    placement = Placement(node_selector=(("pool", "a"),))
    assert placement.admits("x", {"pool": "a"}, ())
    assert not placement.admits("x", {"pool": "b"}, ())
    assert not placement.admits("x", {"pool": "a"}, (Taint("k", "v", "NoExecute"),))
    assert placement.admits(
        "x", {"pool": "a"}, (Taint("node.kubernetes.io/not-ready", "", "NoExecute"),)
    )


# ── item 2: a pod waiting for the scheduler belongs to its node ──────────────────────────────


def pending(node_name: str, *, revision: str = NEW, owner_uid: str = "uid-app") -> PodObs:
    """A pod as the DaemonSet controller creates it: Pending, unbound, pinned by affinity."""
    raw = {
        "metadata": {
            "name": f"app-{node_name}-pending",
            "namespace": "edge",
            "uid": f"uid-pending-{node_name}",
            "labels": {"controller-revision-hash": revision, "pod-template-generation": "2"},
            "ownerReferences": [
                {"kind": "DaemonSet", "name": "app", "uid": owner_uid, "controller": True}
            ],
        },
        "spec": {
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchFields": [
                                    {
                                        "key": "metadata.name",
                                        "operator": "In",
                                        "values": [node_name],
                                    }
                                ]
                            }
                        ]
                    }
                }
            }
        },
        "status": {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}],
        },
    }
    return pod_from(raw)


def test_unbound_pod_is_attributed_to_its_pinned_node_and_counts_unavailable() -> None:
    seen = pending("n00")
    assert seen.node == "n00" and not seen.bound and seen.owner_uid == "uid-app"
    nodes, pods = fleet(10)
    # n00..n02 were upgraded: their new pods wait for the scheduler (never fit).
    waiting = tuple(pending(n.name) for n in nodes[:3])
    ds = only(plan(state(desired_ds(max_unavailable=3)), observed(nodes, pods[3:] + waiting)))
    assert ds.budget is not None and ds.budget.unavailable == 3
    assert deletions(ds) == [] and ds.progress.nodes == 10


def test_pod_whose_node_cannot_be_determined_is_ignored() -> None:
    nodes, pods = fleet(10)
    lost = replace(pending("n00"), node="", name="app-lost")
    ds = only(plan(state(desired_ds(max_unavailable="10%")), observed(nodes, (*pods, lost))))
    assert ds.budget is not None and ds.budget.max_unavailable == 1  # 10% of 10, not of 11
    assert ds.progress.nodes == 10 and len(deletions(ds)) == 1


def test_pods_belong_to_their_daemonset_by_uid_not_by_name() -> None:
    """A DaemonSet deleted and created again under the same name does not own the pods its
    predecessor left behind (still terminating): matched by the ownerReference's uid."""
    nodes, pods = fleet(4)
    leftovers = tuple(replace(p, owner_uid="uid-predecessor") for p in pods)
    ds = only(plan(state(desired_ds(max_unavailable=4)), observed(nodes, leftovers)))
    assert deletions(ds) == []  # none of these pods is this DaemonSet's
    assert ds.budget is not None and ds.budget.unavailable == 4


# ── scenarios on the simulated cluster ───────────────────────────────────────────────────────


def ready_nodes_without_available_pod(observed_state: Observed, ds_name: str) -> int:
    """Independent of the planner: Ready nodes of the fleet (every node is eligible here) with
    no live, Ready pod of the DaemonSet."""
    ready = {n.name for n in observed_state.nodes if n.ready}
    up = {
        p.node
        for p in observed_state.pods
        if p.owner_name == ds_name and p.ready and not p.deleting and p.bound
    }
    return len(ready - up)


def rollout(tmp: Path, *, nodes: int, budget: str) -> tuple[SimCluster, DesiredState]:
    cluster = SimCluster.create(namespaces=("edge",), groups=[("g", nodes)])
    v1 = desired_state(tmp, groups=["g"], budget=budget, min_ready=0, version="1.0.0")
    v2 = desired_state(tmp, groups=["g"], budget=budget, min_ready=0, version="2.0.0")
    apply_actions(plan(v1, cluster.observe()).actions, cluster)
    cluster.tick(PASS_SECONDS)
    apply_actions(plan(v2, cluster.observe()).actions, cluster)  # the DaemonSet update
    return cluster, v2


def passes(cluster: SimCluster, desired: DesiredState, *, count: int, budget: int) -> list[int]:
    """Run `count` passes; the number of Ready nodes without an available pod after each."""
    down = []
    for _ in range(count):
        apply_actions(plan(desired, cluster.observe()).actions, cluster)
        after = ready_nodes_without_available_pod(cluster.observe(), "app-g")
        assert after <= budget, f"{after} nodes down, budget {budget}"
        down.append(after)
        cluster.tick(PASS_SECONDS)
    return down


def test_stopped_daemonset_controller_never_takes_down_more_than_the_budget(
    tmp_path: Path,
) -> None:
    """Measured before the fix: 28 of 30 pods deleted over 6 passes with a budget of 9."""
    cluster, v2 = rollout(tmp_path, nodes=30, budget="30%")
    cluster.set_controller_stopped(True)
    down = passes(cluster, v2, count=6, budget=9)
    assert down == [9] * 6  # the first pass uses the budget, then nothing moves
    cluster.set_controller_stopped(False)  # the controller is back: the rollout finishes
    cluster.tick(PASS_SECONDS)
    for _ in range(6):
        apply_actions(plan(v2, cluster.observe()).actions, cluster)
        cluster.tick(PASS_SECONDS)
    final = only(plan(v2, cluster.observe()))
    assert final.progress.current == 30 and final.progress.outdated == 0


def test_unschedulable_new_template_never_takes_down_more_than_the_budget(
    tmp_path: Path,
) -> None:
    cluster = SimCluster.create(namespaces=("edge",), groups=[("g", 20)])
    cluster.set_image_unschedulable("registry.example.com/app:2.0.0", True)
    v1 = desired_state(tmp_path, groups=["g"], budget="3", min_ready=0, version="1.0.0")
    v2 = desired_state(tmp_path, groups=["g"], budget="3", min_ready=0, version="2.0.0")
    apply_actions(plan(v1, cluster.observe()).actions, cluster)
    cluster.tick(PASS_SECONDS)
    apply_actions(plan(v2, cluster.observe()).actions, cluster)
    down = passes(cluster, v2, count=8, budget=3)
    assert down == [3] * 8
    waiting = [p for p in cluster.observe().pods if not p.bound]
    assert len(waiting) == 3 and all(p.node for p in waiting)
    reason = {c.reason for p in waiting for c in p.conditions if c.type == "PodScheduled"}
    assert reason == {"Unschedulable"}


def test_pods_waiting_for_the_scheduler_count_against_the_budget(tmp_path: Path) -> None:
    cluster, v2 = rollout(tmp_path, nodes=12, budget="2")
    cluster.set_schedule_delay(2.5 * PASS_SECONDS)  # replacements stay unbound for 2-3 passes
    down = passes(cluster, v2, count=30, budget=2)  # 6 batches of 2, 3 to 4 passes each
    assert max(down) == 2 and down[-1] == 0
    final = only(plan(v2, cluster.observe()))
    assert final.progress.current == 12


def test_sim_pods_are_created_pending_unbound_and_pinned(tmp_path: Path) -> None:
    cluster = SimCluster.create(namespaces=("edge",), groups=[("g", 2)])
    cluster.set_schedule_delay(10)
    v1 = desired_state(tmp_path, groups=["g"], budget="1", min_ready=0, version="1.0.0")
    apply_actions(plan(v1, cluster.observe()).actions, cluster)
    raw = cluster.raw_pod("edge", next(p.name for p in cluster.observe().pods))
    assert "nodeName" not in raw["spec"] and raw["status"]["phase"] == "Pending"
    terms = raw["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert terms[0]["matchFields"][0]["key"] == "metadata.name"
    assert cluster.node_pods("g-01") == []  # not the node's until bound
    cluster.tick(10)
    bound = cluster.raw_pod("edge", raw["metadata"]["name"])
    assert bound["spec"]["nodeName"] == terms[0]["matchFields"][0]["values"][0]
    assert bound["status"]["phase"] == "Running"


# ── property: the budget holds whatever the controller and the scheduler do ──────────────────


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    size=st.integers(min_value=1, max_value=14),
    budget=st.sampled_from(["1", "2", "3", "10%", "30%", "50%"]),
    stop_at=st.one_of(st.none(), st.integers(min_value=0, max_value=3)),
    restart_at=st.one_of(st.none(), st.integers(min_value=2, max_value=6)),
    unschedulable=st.booleans(),
    delay=st.sampled_from([0.0, 10.0, 2.5 * PASS_SECONDS]),
    flips=st.lists(st.lists(st.integers(min_value=0, max_value=20), max_size=3), max_size=6),
)
def test_budget_holds_when_pods_are_not_recreated_or_not_scheduled(
    size: int,
    budget: str,
    stop_at: int | None,
    restart_at: int | None,
    unschedulable: bool,
    delay: float,
    flips: list[list[int]],
) -> None:
    """After every pass, the Ready eligible nodes without an available pod number at most
    max(budget, how many there were before the pass): a pass never takes more down than the
    budget allows, whether deleted pods come back, come back late, or never."""
    with tempfile.TemporaryDirectory() as tmp:
        cluster, v2 = rollout(Path(tmp), nodes=size, budget=budget)
    names = list(cluster.node_names)
    cluster.set_schedule_delay(delay)
    if unschedulable:
        cluster.set_image_unschedulable("registry.example.com/app:2.0.0", True)
    for i in range(8):
        if i == stop_at:
            cluster.set_controller_stopped(True)
        if i == restart_at:
            cluster.set_controller_stopped(False)
        for flip in flips[i] if i < len(flips) else ():
            name = names[flip % len(names)]
            cluster.set_node_ready(name, not cluster.node_is_ready(name))
        before_state = cluster.observe()
        before = ready_nodes_without_available_pod(before_state, "app-g")
        hosting = {p.node for p in before_state.pods if p.owner_name == "app-g"}
        ready = {n.name for n in before_state.nodes if n.ready}
        limit = resolve_max_unavailable(budget, len(hosting | ready))
        current = plan(v2, before_state)
        assert not any(isinstance(a, ApplyDaemonSet) for a in current.actions)
        apply_actions(current.actions, cluster)
        after = ready_nodes_without_available_pod(cluster.observe(), "app-g")
        assert after <= max(limit, before), (i, after, limit, before)
        cluster.tick(PASS_SECONDS)


def test_pool_label_is_what_groups_select() -> None:
    """The scenarios above rely on every node being in group g (eligible for app-g)."""
    cluster = SimCluster.create(namespaces=("edge",), groups=[("g", 3)])
    assert all(n.labels[POOL_LABEL] == "g" for n in cluster.observe().nodes)


def test_sim_pods_tolerate_what_the_daemonset_controller_adds() -> None:
    """DESIGN §8: DaemonSet pods tolerate the not-ready and unreachable NoExecute taints (so they
    are not evicted from NotReady nodes), and the pressure and unschedulable NoSchedule ones."""
    cluster = SimCluster.create(groups=[("g", 1)])
    cluster.add_namespace("edge")
    cluster.apply_daemonset(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "x", "namespace": "edge"},
            "spec": {
                "selector": {"matchLabels": {"app": "x"}},
                "updateStrategy": {"type": "OnDelete"},
                "template": {
                    "metadata": {"labels": {"app": "x"}},
                    "spec": {"containers": [{"name": "x", "image": "x/y:1"}]},
                },
            },
        }
    )
    (pod_obj,) = cluster.observe().pods
    raw = cluster.raw_pod("edge", pod_obj.name)
    tolerated = {(t["key"], t["effect"]) for t in raw["spec"]["tolerations"]}
    assert ("node.kubernetes.io/not-ready", "NoExecute") in tolerated
    assert ("node.kubernetes.io/unreachable", "NoExecute") in tolerated
    assert ("node.kubernetes.io/unschedulable", "NoSchedule") in tolerated
    assert all(t["operator"] == "Exists" for t in raw["spec"]["tolerations"])


def test_sim_taints_keep_new_pods_off_and_only_no_execute_evicts() -> None:
    """As kube-controller-manager's NodeShouldRunDaemonPod: an untolerated NoSchedule taint
    keeps a new pod off the node but leaves a running one; an untolerated NoExecute evicts it.
    The planner counts neither node as one that should run a pod."""
    cluster = SimCluster.create(groups=[("g", 3)])
    cluster.add_namespace("edge")
    with tempfile.TemporaryDirectory() as tmp:
        v1 = desired_state(Path(tmp), groups=["g"], budget="1", min_ready=0, version="1.0.0")
    apply_actions(plan(v1, cluster.observe()).actions, cluster)
    cluster.tick(PASS_SECONDS)  # the pods are Ready
    cluster.set_node_taints("g-01", [{"key": "maintenance", "effect": "NoSchedule"}])
    cluster.set_node_taints("g-02", [{"key": "broken", "effect": "NoExecute"}])
    hosting = {p.node for p in cluster.observe().pods if not p.deleting}
    assert hosting == {"g-01", "g-03"}  # NoSchedule: still running; NoExecute: evicted
    observed_state = cluster.observe()
    (ds,) = plan(v1, observed_state).daemonsets
    # g-02 (untolerated NoExecute, no pod) is not a node that should run one: not counted.
    assert ds.progress.nodes == 2 and ds.progress.unavailable == 0
    cluster.set_node_taints("g-01", [])
    cluster.set_node_taints("g-02", [])
    assert {p.node for p in cluster.observe().pods} == {"g-01", "g-02", "g-03"}
