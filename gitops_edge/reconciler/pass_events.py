"""The Kubernetes Events one reconcile pass emits, as values: what was applied, pruned, halted,
rolled back or failed, on the object it happened to (the DaemonSet, the node job, the Namespace),
and why a DaemonSet or node job with a plan error was left alone (`PlanFailed`).

As Flux's controllers do (`EventRecorder.AnnotatedEventf` with `<group>/revision` metadata),
each Event carries the source revision as the annotation `gitops-edge.io/revision`, and, so that
`kubectl describe` shows it too, at the end of its message. Reasons are UpperCamelCase; the
type is Warning for a failed action, a halt and a rollback, else Normal. Pod deletions of one
DaemonSet are one Event per pass (a count and the nodes), not one per pod; successful
bookkeeping (OTA marks, pre-pull Jobs) emits nothing. Identical Events (same object, type,
reason and message: client-go's `getEventKey`) share one `key`, which the adapters aggregate
into one object with a count; within a pass an Event is emitted once (an action failing in both
rounds of a pass counts once). The Event values themselves are `events`'s. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gitops_edge.model.events import Event, ObjectRef
from gitops_edge.model.plan import (
    Action,
    AnnotateDaemonSet,
    ApplyDaemonSet,
    ApplyNamespace,
    CreateNodeJob,
    DeleteJob,
    DeleteNodeJob,
    DeletePod,
    Plan,
    PruneDaemonSet,
    PruneNamespace,
    RollbackDaemonSet,
    SetPodCondition,
    StartImagePull,
)
from gitops_edge.planner.policy import HALTED_ANNOTATION, LAST_GOOD_ANNOTATION
from gitops_edge.reconciler.apply import DONE, FAILED, ActionResult

NORMAL = "Normal"
WARNING = "Warning"
MESSAGE_LIMIT = 1024  # events.k8s.io's note limit; core/v1 has none, kubectl shows it whole
NODES_SHOWN = 5

# Reasons (UpperCamelCase, as Kubernetes' own: SuccessfulCreate, FailedScheduling, …).
APPLIED = "Applied"
PRUNED = "Pruned"
PODS_DELETED = "PodsDeleted"
ROLLOUT_HALTED = "RolloutHalted"
ROLLOUT_COMPLETE = "RolloutComplete"
ROLLED_BACK = "RolledBack"
PLAN_FAILED = "PlanFailed"  # a plan error: nothing is done for that object this pass
_FAILED_REASONS: dict[type, str] = {
    ApplyDaemonSet: "ApplyFailed",
    ApplyNamespace: "ApplyFailed",
    CreateNodeJob: "ApplyFailed",
    PruneDaemonSet: "PruneFailed",
    PruneNamespace: "PruneFailed",
    DeleteNodeJob: "PruneFailed",
    DeletePod: "PodDeleteFailed",
    SetPodCondition: "PodConditionFailed",
    StartImagePull: "PrePullFailed",
    DeleteJob: "PrePullFailed",
    AnnotateDaemonSet: "AnnotateFailed",
    RollbackDaemonSet: "RollbackFailed",
}


def pass_events(
    *,
    plans: Iterable[Plan],
    results: Iterable[ActionResult],
    revision: str,
    uids: Mapping[tuple[str, str], str] | None = None,
) -> tuple[Event, ...]:
    """The Events of a pass, in the order its actions ran. `plans`: every round's plan (to find
    which object an action belongs to and when it was planned); `uids`: DaemonSet uids by
    (namespace, name), as observed."""
    owners: dict[Action, tuple[ObjectRef, float]] = {}
    for plan in plans:
        for action, ref in _owned(plan, uids or {}):
            owners.setdefault(action, (ref, plan.now))
    events: list[Event] = []
    deleted: dict[ObjectRef, tuple[float, list[str]]] = {}
    for result in results:
        owner = owners.get(result.action)
        if owner is None:
            continue
        ref, when = owner
        action = result.action
        if result.outcome == FAILED:
            reason = _FAILED_REASONS[type(action)]
            text = f"{action.reason}: failed: {result.detail}"
            events.append(_event(ref, WARNING, reason, text, revision=revision, time=when))
        elif result.outcome == DONE and isinstance(action, DeletePod):
            deleted.setdefault(ref, (when, []))[1].append(action.node)
        elif result.outcome == DONE:
            done = _done(action)
            if done is not None:
                kind, reason = done
                events.append(
                    _event(ref, kind, reason, action.reason, revision=revision, time=when)
                )
    for plan in plans:
        events.extend(_plan_errors(plan, uids or {}, revision=revision))
    for ref, (when, nodes) in deleted.items():
        shown = ", ".join(nodes[:NODES_SHOWN])
        more = f" and {len(nodes) - NODES_SHOWN} more" if len(nodes) > NODES_SHOWN else ""
        text = (
            f"deleted {len(nodes)} outdated pod{'s' if len(nodes) != 1 else ''} of DaemonSet "
            f"{ref.namespace}/{ref.name} so that they restart at its new revision (on "
            f"{shown}{more})"
        )
        events.append(_event(ref, NORMAL, PODS_DELETED, text, revision=revision, time=when))
    unique = {event.key: event for event in reversed(events)}  # the first of each, in order
    return tuple(sorted(unique.values(), key=events.index))


def _plan_errors(
    plan: Plan, uids: Mapping[tuple[str, str], str], *, revision: str
) -> Iterable[Event]:
    """A Warning on each DaemonSet and node job the plan leaves alone, saying why (a pass's
    rounds plan the same errors: identical Events keep the first)."""
    failed = [(_daemonset(ds.namespace, ds.name, uids), ds.errors) for ds in plan.daemonsets]
    failed += [
        (ObjectRef(api_version=job.api_version, kind=job.kind, name=job.name), job.errors)
        for job in plan.jobs
    ]
    for ref, errors in failed:
        for error in errors:
            yield _event(
                ref,
                WARNING,
                PLAN_FAILED,
                f"not reconciled: {error}",
                revision=revision,
                time=plan.now,
            )


def _done(action: Action) -> tuple[str, str] | None:
    """(type, reason) of the Event a successful action emits, or None for bookkeeping."""
    if isinstance(action, ApplyDaemonSet | ApplyNamespace | CreateNodeJob):
        return NORMAL, APPLIED
    if isinstance(action, PruneDaemonSet | PruneNamespace | DeleteNodeJob):
        return NORMAL, PRUNED
    if isinstance(action, RollbackDaemonSet):
        return WARNING, ROLLED_BACK
    if isinstance(action, AnnotateDaemonSet):
        set_ = {name for name, value in action.annotations if value is not None}
        if HALTED_ANNOTATION in set_:
            return WARNING, ROLLOUT_HALTED
        if LAST_GOOD_ANNOTATION in set_:
            return NORMAL, ROLLOUT_COMPLETE
    return None


def _event(
    ref: ObjectRef, type_: str, reason: str, text: str, *, revision: str, time: float
) -> Event:
    suffix = f" (revision {revision[:12]})" if revision else ""
    if len(text) + len(suffix) > MESSAGE_LIMIT:
        text = text[: MESSAGE_LIMIT - len(suffix) - 1] + "…"
    return Event(
        involved=ref,
        type=type_,
        reason=reason,
        message=text + suffix,
        revision=revision,
        time=time,
    )


def _owned(plan: Plan, uids: Mapping[tuple[str, str], str]) -> Iterable[tuple[Action, ObjectRef]]:
    """Every action of a plan with the object its Event is about."""
    for ns in plan.namespaces:
        yield ns, _namespace(ns.name)
    for prune in plan.namespace_prunes:
        yield prune, _namespace(prune.name)
    for job in plan.jobs:
        for action in job.actions:
            yield action, _node_job(action, job.api_version, job.kind, job.name)
    for ds in plan.daemonsets:
        ref = _daemonset(ds.namespace, ds.name, uids)
        for prepull in ds.prepull:
            for action in prepull.actions:
                yield action, _node_job(action, prepull.api_version, prepull.kind, prepull.name)
        for action in ds.actions:
            yield action, ref
    for pruned in plan.prunes:
        yield pruned, _daemonset(pruned.namespace, pruned.name, uids)


def _namespace(name: str) -> ObjectRef:
    return ObjectRef(api_version="v1", kind="Namespace", name=name)


def _daemonset(namespace: str, name: str, uids: Mapping[tuple[str, str], str]) -> ObjectRef:
    return ObjectRef(
        api_version="apps/v1",
        kind="DaemonSet",
        name=name,
        namespace=namespace,
        uid=uids.get((namespace, name), ""),
    )


def _node_job(action: Action, api_version: str, kind: str, name: str) -> ObjectRef:
    if isinstance(action, CreateNodeJob | DeleteNodeJob):
        api_version, kind, name = action.api_version, action.kind, action.name
    return ObjectRef(api_version=api_version, kind=kind, name=name)
