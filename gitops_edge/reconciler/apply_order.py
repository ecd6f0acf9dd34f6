"""Which actions of a pass may be sent at the same time: the dependency rules of the parallel
apply, as a pure function of the Plan (`apply_order`).

The rules (README, "Applying in parallel"):

1. Stages run one after the other, every action of a stage finished before the next starts:
   namespaces (`ApplyNamespace`) → the work (node jobs, DaemonSets and their pods) →
   DaemonSet prunes (`PruneDaemonSet`) → namespace prunes (`PruneNamespace`). So a namespace
   exists before anything is created in it, a workload moved to another DaemonSet is applied
   before the old one is pruned, and a namespace is deleted only after what was in it.
2. Within the work stage, the actions of one DaemonSet (its pre-pull node jobs, then its own
   actions) keep their order around its object actions (`ApplyDaemonSet`, `AnnotateDaemonSet`,
   `RollbackDaemonSet`, a pre-pull node job): such an action waits for every earlier action of
   the DaemonSet, and every later action of it waits for that one. Between two object actions,
   its pod actions (`DeletePod`, `SetPodCondition`, `StartImagePull`, `DeleteJob`) run
   concurrently, except that the actions on one pod, or on one pre-pull Job, keep their order.
3. Actions of different DaemonSets, and node jobs of different names, do not wait for each
   other; the actions on one node job keep their order.

Plan order is always one valid order: every action waits only for earlier ones, so applying
the actions one by one (`--apply-workers 1`) is the same as before. No side effects.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass

from gitops_edge.model.plan import (
    Action,
    ApplyNamespace,
    DeleteJob,
    DeletePod,
    Plan,
    PruneDaemonSet,
    PruneNamespace,
    SetPodCondition,
    StartImagePull,
)

NAMESPACES, WORK, PRUNES, NAMESPACE_PRUNES = range(4)


@dataclass(frozen=True, slots=True)
class Slot:
    """When one action may start: once every action of earlier stages has finished and the
    actions of its own stage at the indices `after` (into the pass's action list) have."""

    stage: int
    after: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Ordered:
    """A pass's actions (`plan.actions`, in its order) and when each may start."""

    actions: tuple[Action, ...]
    slots: tuple[Slot, ...]


def apply_order(plan: Plan) -> Ordered:
    """The plan's actions, each with its `Slot` (module docstring)."""
    actions: list[Action] = []
    slots: list[Slot] = []
    last: dict[Hashable, int] = {}  # a pod, a Job, a node job → its latest action's index
    barrier: dict[Hashable, int] = {}  # a DaemonSet → its latest object action's index
    since: dict[Hashable, list[int]] = {}  # a DaemonSet → its actions since that one
    for index, (action, owner) in enumerate(_owned(plan)):
        actions.append(action)
        stage = _stage(action)
        if stage != WORK:
            slots.append(Slot(stage))
            continue
        if owner is None:  # a node job written in the repository
            job: Hashable = ("nodejob", *_node_job(action))
            slots.append(Slot(WORK, _one(last.get(job))))
            last[job] = index
            continue
        keys = _pod_keys(action)
        if not keys:  # an object action of the DaemonSet: a barrier within it
            earlier = since.get(owner, [])
            before = earlier or list(_one(barrier.get(owner)))
            slots.append(Slot(WORK, tuple(before)))
            barrier[owner], since[owner] = index, []
            continue
        after = {*_one(barrier.get(owner)), *(last[k] for k in keys if k in last)}
        slots.append(Slot(WORK, tuple(sorted(after))))
        since.setdefault(owner, []).append(index)
        for key in keys:
            last[key] = index
    return Ordered(tuple(actions), tuple(slots))


def _owned(plan: Plan) -> Iterator[tuple[Action, Hashable | None]]:
    """`plan.actions` in its order, each with the DaemonSet it belongs to (None: none)."""
    for namespace in plan.namespaces:
        yield namespace, None
    for job in plan.jobs:
        for action in job.actions:
            yield action, None
    for ds in plan.daemonsets:
        owner = ("daemonset", ds.namespace, ds.name)
        for prepull in ds.prepull:
            for action in prepull.actions:
                yield action, owner
        for action in ds.actions:
            yield action, owner
    for prune in plan.prunes:
        yield prune, None
    for namespace_prune in plan.namespace_prunes:
        yield namespace_prune, None


def _stage(action: Action) -> int:
    if isinstance(action, ApplyNamespace):
        return NAMESPACES
    if isinstance(action, PruneDaemonSet):
        return PRUNES
    if isinstance(action, PruneNamespace):
        return NAMESPACE_PRUNES
    return WORK


def _pod_keys(action: Action) -> tuple[Hashable, ...]:
    """The pod and pre-pull Job a pod action touches (none: an object action)."""
    if isinstance(action, DeletePod | SetPodCondition):
        return (("pod", action.namespace, action.name),)
    if isinstance(action, StartImagePull):
        return (("pod", action.namespace, action.pod), ("job", action.namespace, action.name))
    if isinstance(action, DeleteJob):
        return (("job", action.namespace, action.name),)
    return ()


def _node_job(action: Action) -> tuple[str, str]:
    kind = getattr(action, "kind", type(action).__name__)
    return str(kind), str(getattr(action, "name", ""))


def _one(index: int | None) -> tuple[int, ...]:
    return () if index is None else (index,)
