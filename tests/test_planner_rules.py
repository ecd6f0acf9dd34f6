"""One test per rule of DESIGN §2 (and §3, §5 where the planner owns them), on hand-built
desired and observed values. The planner is pure, so nothing here touches a cluster."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from planner_fixtures import (
    NEW,
    NOW,
    OLD,
    desired_ds,
    fleet,
    group,
    node,
    observed,
    observed_ds,
    pod,
    state,
)

from gitops_edge.model.desired import RepoConfig, UpdateModel
from gitops_edge.model.observed import POD_NEED_UPGRADE, Condition
from gitops_edge.model.plan import ApplyDaemonSet, DaemonSetPlan, DeletePod, Plan, SetPodCondition
from gitops_edge.planner import plan


def only(result: Plan) -> DaemonSetPlan:
    assert len(result.daemonsets) == 1
    return result.daemonsets[0]


def deletions(ds: DaemonSetPlan) -> list[DeletePod]:
    return [a for a in ds.actions if isinstance(a, DeletePod)]


# ── the budget ───────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("value", "nodes", "budget"),
    [
        ("95%", 10, 10),  # rounds up
        ("30%", 10, 3),
        ("31%", 10, 4),
        ("0%", 10, 1),  # 0% means the 10% default
        (0, 10, 1),
        ("0%", 11, 2),  # 10% of 11 rounds up to 2
        ("10%", 11, 2),
        (3, 10, 3),
        ("100%", 7, 7),
    ],
)
def test_budget_resolution(value: int | str, nodes: int, budget: int) -> None:
    ns, pods = fleet(nodes)
    ds = only(plan(state(desired_ds(max_unavailable=value)), observed(ns, pods)))
    assert ds.budget is not None
    assert ds.budget.max_unavailable == budget
    assert len(deletions(ds)) == min(budget, nodes)


def test_not_ready_nodes_count_in_n_but_are_never_touched() -> None:
    ns, pods = fleet(10, not_ready=(1, 4, 7))
    ds = only(plan(state(desired_ds(max_unavailable="30%")), observed(ns, pods)))
    assert ds.budget is not None and ds.budget.max_unavailable == 3  # 30% of N=10, not of 7
    touched = {a.node for a in deletions(ds)}
    assert touched.isdisjoint({"n01", "n04", "n07"})
    assert ds.budget.unavailable == 0  # NotReady nodes are not counted unavailable
    assert [d.node for d in ds.deferred] == ["n01", "n04", "n07"]
    assert all("NotReady since" in d.reason for d in ds.deferred)
    assert ds.progress.deferred == 3


def test_not_available_old_pod_is_deleted_outside_the_budget_but_its_node_counts() -> None:
    """Upstream deletes it outside the budget and does not count its node, so with budget 1 it
    would also delete a healthy pod: two nodes without an available pod after the pass. We
    still delete it outside the budget, but its node (unavailable before and after) counts."""
    ns, pods = fleet(10)
    broken = replace(pods[5], ready=False, ready_since=None)
    pods = (*pods[:5], broken, *pods[6:])
    ds = only(plan(state(desired_ds(max_unavailable=1)), observed(ns, pods)))
    outside = [a for a in deletions(ds) if a.outside_budget]
    inside = [a for a in deletions(ds) if not a.outside_budget]
    assert [a.node for a in outside] == ["n05"]
    assert "outside the budget" in outside[0].reason
    assert inside == []  # the budget of 1 is used by n05
    assert ds.budget is not None and ds.budget.unavailable == 1 and ds.budget.deletions == 0
    ds = only(plan(state(desired_ds(max_unavailable=2)), observed(ns, pods)))
    assert len([a for a in deletions(ds) if not a.outside_budget]) == 1


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param([pod("n00", revision=OLD, name="second-old")], id="two old pods"),
        pytest.param([pod("n00", revision=NEW, generation=2, name="new-too")], id="old and new"),
    ],
)
def test_node_with_two_pods_counts_unavailable(extra: list) -> None:  # type: ignore[type-arg]
    ns, pods = fleet(4)
    ds = only(plan(state(desired_ds(max_unavailable=2)), observed(ns, (*pods, *extra))))
    assert ds.budget is not None and ds.budget.unavailable == 1
    assert len(deletions(ds)) == 1  # 2 − 1
    assert "n00" not in {a.node for a in deletions(ds)}


def test_node_with_two_current_pods_is_unavailable_but_not_outdated() -> None:
    ns, pods = fleet(2, revision=NEW)
    twin = pod("n00", revision=NEW, generation=2, name="twin")
    ds = only(plan(state(desired_ds(max_unavailable=1)), observed(ns, (*pods, twin))))
    assert ds.progress.unavailable == 1 and ds.progress.outdated == 0
    assert ds.progress.current == 1 and deletions(ds) == []


def test_pod_on_a_node_missing_from_the_cluster_is_deferred_not_touched() -> None:
    ns, pods = fleet(3)
    ds = only(plan(state(desired_ds(max_unavailable="100%")), observed(ns[1:], pods)))
    assert "n00" not in {a.node for a in deletions(ds)}
    assert ds.progress.nodes == 3
    assert [d.node for d in ds.deferred] == ["n00"]
    assert ds.deferred[0].reason.startswith("node not found in the cluster; outdated pod edge/")


def test_node_with_only_a_terminating_pod_counts_unavailable() -> None:
    ns, pods = fleet(4)
    pods = (replace(pods[0], deleting=True), *pods[1:])
    ds = only(plan(state(desired_ds(max_unavailable=2)), observed(ns, pods)))
    assert ds.budget is not None and ds.budget.unavailable == 1
    assert len(deletions(ds)) == 1


def test_new_pod_counts_unavailable_until_ready_for_min_ready_seconds() -> None:
    ns, pods = fleet(4)
    fresh = pod("n00", revision=NEW, generation=2, ready=True, ready_since=NOW - 5)
    pods = (fresh, *pods[1:])
    desired = state(desired_ds(max_unavailable=1))
    waiting = only(plan(desired, observed(ns, pods, observed_ds(min_ready=10))))
    assert waiting.budget is not None and waiting.budget.unavailable == 1
    assert deletions(waiting) == []
    settled = only(plan(desired, observed(ns, pods, observed_ds(min_ready=5))))
    assert settled.budget is not None and settled.budget.unavailable == 0
    assert len(deletions(settled)) == 1
    assert settled.progress.current == 1


def test_old_pod_not_yet_available_by_min_ready_seconds_is_deleted_outside_budget() -> None:
    ns, pods = fleet(3)
    pods = (replace(pods[0], ready_since=NOW - 2), *pods[1:])
    ds = only(
        plan(state(desired_ds(max_unavailable=1)), observed(ns, pods, observed_ds(min_ready=10)))
    )
    assert [a.node for a in deletions(ds) if a.outside_budget] == ["n00"]


def test_rollback_makes_old_hash_pods_current_again() -> None:
    ns, pods = fleet(5, revision=OLD)
    # The template went back: the newest ControllerRevision is the old hash again, with a new
    # template generation that no pod carries.
    rolled_back = observed_ds(revision=OLD, generation=3)
    ds = only(plan(state(desired_ds()), observed(ns, pods, rolled_back)))
    assert deletions(ds) == []
    assert ds.progress.current == 5 and ds.progress.outdated == 0


def test_template_generation_label_also_makes_a_pod_current() -> None:
    ns, _ = fleet(2)
    pods = tuple(pod(n.name, revision="unrelated", generation=2) for n in ns)
    ds = only(plan(state(desired_ds()), observed(ns, pods, observed_ds(generation=2))))
    assert deletions(ds) == []
    assert ds.progress.current == 2


def test_at_most_250_deletions_a_pass() -> None:
    ns, pods = fleet(400)
    ds = only(plan(state(desired_ds(max_unavailable="100%")), observed(ns, pods)))
    assert len(deletions(ds)) == 250


def test_outside_budget_deletions_come_first_under_the_cap() -> None:
    ns, pods = fleet(300)
    pods = tuple(
        replace(p, ready=False, ready_since=None) if i < 10 else p for i, p in enumerate(pods)
    )
    ds = only(plan(state(desired_ds(max_unavailable="100%")), observed(ns, pods)))
    assert len(deletions(ds)) == 250
    assert sum(a.outside_budget for a in deletions(ds)) == 10


def test_candidates_in_node_order_and_deterministic_under_shuffling() -> None:
    ns, pods = fleet(20, not_ready=(3,))
    desired = state(desired_ds(max_unavailable="25%"))
    first = plan(desired, observed(ns, pods))
    shuffled_nodes, shuffled_pods = list(ns), list(pods)
    random.Random(4).shuffle(shuffled_nodes)
    random.Random(5).shuffle(shuffled_pods)
    again = plan(desired, observed(tuple(shuffled_nodes), tuple(shuffled_pods)))
    assert first == again
    assert [a.node for a in deletions(only(first))] == ["n00", "n01", "n02", "n04", "n05"]


def test_reason_names_pod_node_and_budget_left() -> None:
    ns, pods = fleet(10)
    ds = only(plan(state(desired_ds(max_unavailable="30%")), observed(ns, pods)))
    reasons = [a.reason for a in deletions(ds)]
    assert reasons[0].startswith(
        "delete pod edge/app-n00-old on node n00: outdated (oldhash → newhash)"
    )
    assert [r.rsplit("budget ", 1)[1] for r in reasons] == ["2/3 left", "1/3 left", "0/3 left"]


def test_budget_used_by_unavailable_nodes_leaves_no_room() -> None:
    ns, pods = fleet(10)
    pods = tuple(
        pod(p.node, revision=NEW, generation=2, ready=False) if i < 3 else p
        for i, p in enumerate(pods)
    )
    ds = only(plan(state(desired_ds(max_unavailable="30%")), observed(ns, pods)))
    assert ds.budget is not None and ds.budget.unavailable == 3
    assert deletions(ds) == []


# ── create / update ──────────────────────────────────────────────────────────────────────────


def test_absent_daemonset_is_created_and_no_pod_is_touched() -> None:
    ns, pods = fleet(3)
    result = only(plan(state(desired_ds()), observed(ns, pods, observed_ds("other"))))
    assert [type(a) for a in result.actions] == [ApplyDaemonSet]
    assert isinstance(result.actions[0], ApplyDaemonSet) and result.actions[0].create


def test_changed_spec_updates_the_daemonset_before_any_pod() -> None:
    ns, pods = fleet(3)
    result = only(plan(state(desired_ds(spec_hash="spec-2")), observed(ns, pods)))
    assert [type(a) for a in result.actions] == [ApplyDaemonSet]
    apply = result.actions[0]
    assert isinstance(apply, ApplyDaemonSet) and not apply.create
    assert "spec-1 → spec-2" in apply.reason
    assert result.notes and "after the DaemonSet update" in result.notes[0]


# ── OTA ──────────────────────────────────────────────────────────────────────────────────────


def test_ota_marks_every_pod_never_deletes_and_includes_not_ready_nodes() -> None:
    ns, old_pods = fleet(4, not_ready=(2,))
    pods = (pod("n00", revision=NEW, generation=2), *old_pods[1:])
    ds = only(plan(state(desired_ds(model=UpdateModel.OTA)), observed(ns, pods)))
    assert deletions(ds) == []
    marks = {a.node: a.condition for a in ds.actions if isinstance(a, SetPodCondition)}
    assert set(marks) == {"n00", "n01", "n02", "n03"}
    assert marks["n00"].status == "False" and marks["n01"].status == "True"
    assert marks["n02"].status == "True"  # NotReady too
    assert all(c.message == f"controllerrevision: {NEW}" for c in marks.values())
    assert all(c.type == POD_NEED_UPGRADE and c.last_transition_time == NOW for c in marks.values())
    assert ds.progress.ota_pending == 3


def test_ota_no_op_when_marks_are_right_and_transition_time_kept_on_message_change() -> None:
    ns, _ = fleet(2)
    right = Condition(
        POD_NEED_UPGRADE, "True", message=f"controllerrevision: {NEW}", last_transition_time=50.0
    )
    stale = Condition(
        POD_NEED_UPGRADE, "True", message="controllerrevision: older", last_transition_time=50.0
    )
    pods = (pod("n00", conditions=(right,)), pod("n01", conditions=(stale,)))
    ds = only(plan(state(desired_ds(model=UpdateModel.OTA)), observed(ns, pods)))
    marks = [a for a in ds.actions if isinstance(a, SetPodCondition)]
    assert [m.node for m in marks] == ["n01"]
    assert marks[0].condition.last_transition_time == 50.0  # status did not flip


def test_ota_flip_to_false_sets_transition_time() -> None:
    ns, _ = fleet(1)
    was = Condition(
        POD_NEED_UPGRADE, "True", message=f"controllerrevision: {NEW}", last_transition_time=50.0
    )
    pods = (pod("n00", revision=NEW, generation=2, conditions=(was,)),)
    ds = only(plan(state(desired_ds(model=UpdateModel.OTA)), observed(ns, pods)))
    (mark,) = ds.actions
    assert isinstance(mark, SetPodCondition)
    assert mark.condition.status == "False" and mark.condition.last_transition_time == NOW


# ── RollingUpdate and plain OnDelete ─────────────────────────────────────────────────────────


def test_rolling_update_left_to_the_controller_with_a_stall_note() -> None:
    ns, pods = fleet(6, not_ready=(1, 2))
    ds = only(
        plan(
            state(desired_ds(model=UpdateModel.ROLLING_UPDATE, max_unavailable=1)),
            observed(ns, pods),
        )
    )
    assert ds.actions == ()
    assert ds.notes and "stalled: 2 NotReady nodes use up maxUnavailable 1" in ds.notes[0]


def test_rolling_update_without_stall_has_progress_note() -> None:
    ns, pods = fleet(6)
    ds = only(
        plan(
            state(desired_ds(model=UpdateModel.ROLLING_UPDATE, max_unavailable=2)),
            observed(ns, pods),
        )
    )
    assert ds.actions == ()
    assert "stalled" not in " ".join(ds.notes)


def test_plain_on_delete_touches_nothing() -> None:
    ns, pods = fleet(3)
    ds = only(plan(state(desired_ds(model=UpdateModel.ON_DELETE)), observed(ns, pods)))
    assert ds.actions == ()
    assert "OnDelete" in ds.notes[0]


# ── groups and pruning ───────────────────────────────────────────────────────────────────────


def test_overlapping_groups_of_one_workload_are_a_plan_error() -> None:
    nodes = (node("a1", pool="a"), node("b1", pool="b", zone="x"), node("c1", pool="c"))
    groups = (group("a", pool="a"), group("bx", zone="x"), group("b", pool="b"))
    desired = state(
        desired_ds("web-a", workload="web", group="a"),
        desired_ds("web-b", workload="web", group="b"),
        desired_ds("web-bx", workload="web", group="bx"),
        groups=groups,
    )
    result = plan(desired, observed(nodes, (), observed_ds("other")))
    by_name = {ds.name: ds for ds in result.daemonsets}
    assert by_name["web-a"].errors == ()
    assert by_name["web-a"].actions  # created
    for name in ("web-b", "web-bx"):
        assert by_name[name].actions == ()
        assert "node b1 is in groups b and bx of workload web" in by_name[name].errors[0]


def test_prune_only_objects_we_created_and_only_when_enabled() -> None:
    ns, pods = fleet(1)
    ours = observed_ds("gone")
    theirs = observed_ds("foreign", labels={})
    obs = observed(ns, pods, observed_ds(), ours, theirs)
    result = plan(state(desired_ds()), obs)
    assert [(p.name, "created by owner test-repo" in p.reason) for p in result.prunes] == [
        ("gone", True)
    ]
    assert plan(state(desired_ds(), prune=False), obs).prunes == ()


# ── no double driving with OpenYurt's yurt-manager ───────────────────────────────────────────


def test_openyurt_annotated_daemonset_is_delegated_where_openyurt_runs() -> None:
    nodes, pods = fleet(4)
    annotated = replace(desired_ds(), openyurt_annotated=True)
    with_openyurt = replace(observed(nodes, pods), openyurt_installed=True)
    ds = only(plan(state(annotated), with_openyurt))
    assert ds.actions == () and ds.budget is None
    assert "yurt-manager drives this DaemonSet" in ds.notes[0]
    assert ds.progress.outdated == 4  # still observed and reported
    # Without OpenYurt, or when the repository says to drive, gitops-edge moves the pods.
    assert deletions(only(plan(state(annotated), observed(nodes, pods))))
    driving = replace(state(annotated), config=RepoConfig(drive_openyurt_annotated=True))
    assert deletions(only(plan(driving, with_openyurt)))
    # Rendered per-group DaemonSets carry gitops-edge's own annotations: always driven.
    assert deletions(only(plan(state(desired_ds()), with_openyurt)))
