"""The dependency rules of the parallel apply (`apply_order`): stages, the order kept within a
DaemonSet around its object actions and on one pod or Job, nothing kept across DaemonSets."""

from __future__ import annotations

from gitops_edge.model.desired import UpdateModel
from gitops_edge.model.observed import Condition
from gitops_edge.model.plan import (
    Action,
    AnnotateDaemonSet,
    ApplyDaemonSet,
    ApplyNamespace,
    CreateNodeJob,
    DaemonSetPlan,
    DeleteJob,
    DeleteNodeJob,
    DeletePod,
    JobPlan,
    Plan,
    Progress,
    PruneDaemonSet,
    PruneNamespace,
    SetPodCondition,
    StartImagePull,
)
from gitops_edge.reconciler.apply_order import (
    NAMESPACE_PRUNES,
    NAMESPACES,
    PRUNES,
    WORK,
    Slot,
    apply_order,
)

NS = "edge"


def ds_plan(name: str, *actions: Action, prepull: tuple[JobPlan, ...] = ()) -> DaemonSetPlan:
    return DaemonSetPlan(
        namespace=NS,
        name=name,
        workload=name,
        group=None,
        model=UpdateModel.ADVANCED_ROLLING_UPDATE,
        revision="h",
        actions=actions,
        deferred=(),
        progress=Progress(nodes=0, current=0, outdated=0, unavailable=0, deferred=0),
        budget=None,
        prepull=prepull,
    )


def job_plan(name: str, *actions: Action) -> JobPlan:
    return JobPlan(
        kind="ImagePrePullJob",
        name=name,
        api_version="operations.kubeedge.io/v1alpha2",
        source="",
        phase="",
        reason="",
        nodes=(),
        actions=actions,
    )


def apply_ds(name: str) -> ApplyDaemonSet:
    return ApplyDaemonSet(namespace=NS, name=name, manifest_json="{}", create=False, reason="")


def delete(pod: str) -> DeletePod:
    return DeletePod(namespace=NS, name=pod, uid=pod, node=pod, outside_budget=False, reason="")


def mark(pod: str) -> SetPodCondition:
    condition = Condition(type="PodNeedUpgrade", status="True", reason="", message="")
    return SetPodCondition(
        namespace=NS, name=pod, uid=pod, node=pod, condition=condition, reason=""
    )


def annotate(name: str) -> AnnotateDaemonSet:
    return AnnotateDaemonSet(namespace=NS, name=name, annotations=(("a", "b"),), reason="")


def pull(pod: str) -> StartImagePull:
    return StartImagePull(
        namespace=NS,
        name=f"pull-{pod}",
        pod=pod,
        node=pod,
        revision="h",
        manifest_json="{}",
        reason="",
    )


def node_job(name: str) -> CreateNodeJob:
    return CreateNodeJob(
        api_version="operations.kubeedge.io/v1alpha2",
        kind="ImagePrePullJob",
        name=name,
        manifest_json="{}",
        reason="",
    )


def test_the_rules_over_a_pass_with_every_kind_of_action() -> None:
    plan = Plan(
        revision="r",
        now=0.0,
        namespaces=(
            ApplyNamespace(name="a", manifest_json="{}", create=True, reason=""),  # 0
            ApplyNamespace(name="b", manifest_json="{}", create=True, reason=""),  # 1
        ),
        jobs=(
            job_plan("upgrade", node_job("upgrade")),  # 2
            job_plan(
                "gone",
                DeleteNodeJob(api_version="v", kind="NodeUpgradeJob", name="gone", reason=""),
            ),  # 3
        ),
        daemonsets=(
            # 4 5 6 7 8
            ds_plan(
                "web", apply_ds("web"), delete("w1"), delete("w2"), annotate("web"), mark("w3")
            ),
            # 9 10 11 12
            ds_plan("api", delete("a1"), delete("a2"), mark("a1"), delete("a3")),
            # 13 (pre-pull node job) 14 15 16 17
            ds_plan(
                "log",
                pull("l1"),
                mark("l1"),
                DeleteJob(namespace=NS, name="pull-l1", reason=""),
                pull("l2"),
                prepull=(job_plan("prepull-log", node_job("prepull-log")),),
            ),
        ),
        prunes=(
            PruneDaemonSet(namespace=NS, name="old1", reason=""),  # 18
            PruneDaemonSet(namespace=NS, name="old2", reason=""),  # 19
        ),
        namespace_prunes=(PruneNamespace(name="c", reason=""),),  # 20
    )
    ordered = apply_order(plan)
    assert ordered.actions == plan.actions and len(plan.actions) == 21
    assert ordered.slots == (
        Slot(NAMESPACES),
        Slot(NAMESPACES),
        Slot(WORK),  # node jobs of different names: independent
        Slot(WORK),
        Slot(WORK),  # web: ApplyDaemonSet first
        Slot(WORK, (4,)),  # its pod deletions after it, concurrently
        Slot(WORK, (4,)),
        Slot(WORK, (5, 6)),  # AnnotateDaemonSet after every earlier action of web
        Slot(WORK, (7,)),  # and what follows it, after it
        Slot(WORK),  # api: nothing waits for web's actions
        Slot(WORK),
        Slot(WORK, (9,)),  # the same pod: in order
        Slot(WORK),
        Slot(WORK),  # log's pre-pull node job: an object action of log
        Slot(WORK, (13,)),
        Slot(WORK, (13, 14)),  # pod l1 after its pull
        Slot(WORK, (13, 14)),  # the Job pull-l1 after its creation
        Slot(WORK, (13,)),
        Slot(PRUNES),
        Slot(PRUNES),
        Slot(NAMESPACE_PRUNES),
    )


def test_every_action_waits_only_for_earlier_ones_of_its_stage() -> None:
    """So plan order is a valid order: one by one is what it always was."""
    plan = Plan(
        revision="r",
        now=0.0,
        daemonsets=tuple(
            ds_plan(
                f"d{i}",
                apply_ds(f"d{i}"),
                *(delete(f"d{i}-{j}") for j in range(5)),
                annotate(f"d{i}"),
            )
            for i in range(3)
        ),
    )
    slots = apply_order(plan).slots
    for index, slot in enumerate(slots):
        assert all(j < index and slots[j].stage == slot.stage for j in slot.after)
    assert [s.stage for s in slots] == sorted(s.stage for s in slots)
