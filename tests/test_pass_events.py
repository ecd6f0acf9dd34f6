"""The Kubernetes Events a pass emits, built from its plans and results (pure): one per apply,
prune, halt, rollback and failed action, on the object it happened to, with the revision;
pod deletions summed per DaemonSet; bookkeeping silent; identical Events share a key."""

from __future__ import annotations

from dataclasses import replace

from gitops_edge.model.desired import UpdateModel
from gitops_edge.model.events import REVISION_ANNOTATION, Event, ObjectRef
from gitops_edge.model.observed import Condition
from gitops_edge.model.plan import (
    Action,
    AnnotateDaemonSet,
    ApplyDaemonSet,
    ApplyNamespace,
    CreateNodeJob,
    DaemonSetPlan,
    DeleteNodeJob,
    DeletePod,
    JobPlan,
    Plan,
    Progress,
    PruneDaemonSet,
    PruneNamespace,
    RollbackDaemonSet,
    SetPodCondition,
)
from gitops_edge.planner.policy import HALTED_ANNOTATION, LAST_GOOD_ANNOTATION
from gitops_edge.reconciler.apply import DONE, FAILED, SKIPPED, ActionResult
from gitops_edge.reconciler.pass_events import pass_events

REV = "0123456789abcdef0123"
DS = ObjectRef("apps/v1", "DaemonSet", "web-a", "edge", "uid-web")


def ds_plan(*actions: Action) -> DaemonSetPlan:
    return DaemonSetPlan(
        namespace="edge",
        name="web-a",
        workload="web",
        group="a",
        model=UpdateModel.ADVANCED_ROLLING_UPDATE,
        revision="h1",
        actions=actions,
        deferred=(),
        progress=Progress(nodes=3, current=0, outdated=3, unavailable=0, deferred=0),
        budget=None,
    )


def events_of(plan: Plan, *results: ActionResult) -> tuple[Event, ...]:
    return pass_events(
        plans=(plan,), results=results, revision=REV, uids={("edge", "web-a"): "uid-web"}
    )


def apply_ds() -> ApplyDaemonSet:
    return ApplyDaemonSet("edge", "web-a", "{}", create=False, reason="update DaemonSet edge/web-a")


def test_an_apply_is_a_normal_applied_event_on_the_daemonset_with_the_revision() -> None:
    action = apply_ds()
    (event,) = events_of(Plan(REV, 100.0, (ds_plan(action),)), ActionResult(action, DONE))
    assert event.involved == DS
    assert (event.type, event.reason) == ("Normal", "Applied")
    assert event.message == "update DaemonSet edge/web-a (revision 0123456789ab)"
    assert (event.revision, event.time, event.namespace) == (REV, 100.0, "edge")


def test_a_failed_action_is_a_warning_with_its_error() -> None:
    action = apply_ds()
    (event,) = events_of(
        Plan(REV, 1.0, (ds_plan(action),)), ActionResult(action, FAILED, "403 forbidden")
    )
    assert (event.type, event.reason) == ("Warning", "ApplyFailed")
    assert event.message.startswith("update DaemonSet edge/web-a: failed: 403 forbidden")


def test_skipped_actions_and_bookkeeping_emit_nothing() -> None:
    pod = DeletePod("edge", "p1", "u1", "n1", outside_budget=False, reason="delete pod")
    mark = SetPodCondition("edge", "p2", "u2", "n2", Condition("PodNeedUpgrade", "True"), "mark")
    plan = Plan(REV, 1.0, (ds_plan(pod, mark),))
    assert events_of(plan, ActionResult(pod, SKIPPED, "gone"), ActionResult(mark, DONE)) == ()


def test_pod_deletions_are_one_event_per_daemonset_naming_the_nodes() -> None:
    pods = [
        DeletePod("edge", f"p{i}", f"u{i}", f"n{i}", outside_budget=False, reason="delete")
        for i in range(7)
    ]
    plan = Plan(REV, 1.0, (ds_plan(*pods),))
    (event,) = events_of(plan, *(ActionResult(p, DONE) for p in pods))
    assert (event.involved, event.type, event.reason) == (DS, "Normal", "PodsDeleted")
    assert "deleted 7 outdated pods" in event.message
    assert "(on n0, n1, n2, n3, n4 and 2 more)" in event.message


def test_halt_rollback_and_rollout_complete() -> None:
    halt = AnnotateDaemonSet("edge", "web-a", ((HALTED_ANNOTATION, "s h why"),), "halt edge/web-a")
    back = RollbackDaemonSet("edge", "web-a", "uid-web", "h0", "roll edge/web-a back")
    record = AnnotateDaemonSet("edge", "web-a", ((LAST_GOOD_ANNOTATION, "h1"),), "record h1")
    unhalt = AnnotateDaemonSet("edge", "web-a", ((HALTED_ANNOTATION, None),), "clear")
    plan = Plan(REV, 1.0, (ds_plan(halt, back, record, unhalt),))
    events = events_of(plan, *(ActionResult(a, DONE) for a in (halt, back, record, unhalt)))
    assert [(e.type, e.reason) for e in events] == [
        ("Warning", "RolloutHalted"),
        ("Warning", "RolledBack"),
        ("Normal", "RolloutComplete"),
    ]


def test_prunes_namespaces_and_node_jobs_are_on_their_objects() -> None:
    prune = PruneDaemonSet("edge", "old-a", "prune DaemonSet edge/old-a")
    ns = ApplyNamespace("edge", "{}", create=True, reason="create Namespace edge")
    gone = PruneNamespace("legacy", "prune Namespace legacy")
    job = CreateNodeJob("operations.kubeedge.io/v1alpha2", "NodeUpgradeJob", "up", "{}", "create")
    old = DeleteNodeJob("operations.kubeedge.io/v1alpha1", "ImagePrePullJob", "pp", "prune pp")
    plan = Plan(
        REV,
        1.0,
        (),
        prunes=(prune,),
        namespaces=(ns,),
        namespace_prunes=(gone,),
        jobs=(
            JobPlan("NodeUpgradeJob", "up", job.api_version, "", "", "", (), actions=(job,)),
            JobPlan("ImagePrePullJob", "pp", old.api_version, "", "", "", (), actions=(old,)),
        ),
    )
    events = pass_events(
        plans=(plan,),
        results=tuple(ActionResult(a, DONE) for a in (ns, job, old, prune, gone)),
        revision=REV,
        uids={("edge", "old-a"): "uid-old"},
    )
    assert [(e.involved, e.reason, e.namespace) for e in events] == [
        (ObjectRef("v1", "Namespace", "edge"), "Applied", "default"),
        (ObjectRef(job.api_version, "NodeUpgradeJob", "up"), "Applied", "default"),
        (ObjectRef(old.api_version, "ImagePrePullJob", "pp"), "Pruned", "default"),
        (ObjectRef("apps/v1", "DaemonSet", "old-a", "edge", "uid-old"), "Pruned", "edge"),
        (ObjectRef("v1", "Namespace", "legacy"), "Pruned", "default"),
    ]


def test_an_action_failing_in_both_rounds_of_a_pass_is_one_event() -> None:
    action = apply_ds()
    plans = (Plan(REV, 1.0, (ds_plan(action),)), Plan(REV, 2.0, (ds_plan(action),)))
    failed = ActionResult(action, FAILED, "boom")
    (event,) = pass_events(plans=plans, results=(failed, failed), revision=REV)
    assert event.time == 1.0


def test_identical_events_share_key_and_name_others_do_not() -> None:
    action = apply_ds()
    plan = Plan(REV, 1.0, (ds_plan(action),))
    (first,) = events_of(plan, ActionResult(action, FAILED, "boom"))
    (again,) = events_of(Plan(REV, 61.0, (ds_plan(action),)), ActionResult(action, FAILED, "boom"))
    (other,) = events_of(plan, ActionResult(action, FAILED, "other"))
    assert first.time != again.time
    assert (first.key, first.name) == (again.key, again.name)
    assert first.name.startswith("web-a.") and len(first.name) == len("web-a.") + 16
    assert other.name != first.name


def test_the_revision_annotation_is_fluxs_group_revision() -> None:
    assert REVISION_ANNOTATION == "gitops-edge.io/revision"


def test_an_event_name_stays_within_253_characters() -> None:
    job = ObjectRef("operations.kubeedge.io/v1alpha2", "NodeUpgradeJob", "j" * 253)
    event = Event(job, "Normal", "Applied", "create", revision=REV, time=1.0)
    assert len(event.name) == 253 and event.name.startswith("j" * 236 + ".")


def test_a_plan_error_is_a_warning_on_the_daemonset_or_node_job_it_leaves_alone() -> None:
    """Nothing is done for a DaemonSet or node job with a plan error (e.g. overlapping node
    groups): `kubectl describe` on it says why, as a Warning `PlanFailed`, once per pass even
    when both rounds planned it."""
    ds = replace(ds_plan(), errors=("node groups a and b overlap on n1",))
    job = JobPlan(
        kind="NodeUpgradeJob",
        name="up",
        api_version="operations.kubeedge.io/v1alpha2",
        source="jobs/up.yaml:1",
        phase="",
        reason="",
        nodes=(),
        errors=("cluster serves only v1alpha1",),
    )
    plan = Plan(REV, 5.0, (ds,), jobs=(job,))
    events = pass_events(
        plans=(plan, plan), results=(), revision=REV, uids={("edge", "web-a"): "uid-web"}
    )
    assert [(e.involved, e.type, e.reason) for e in events] == [
        (DS, "Warning", "PlanFailed"),
        (
            ObjectRef("operations.kubeedge.io/v1alpha2", "NodeUpgradeJob", "up"),
            "Warning",
            "PlanFailed",
        ),
    ]
    assert events[0].message.startswith("not reconciled: node groups a and b overlap on n1")
    assert events[1].message.startswith("not reconciled: cluster serves only v1alpha1")
