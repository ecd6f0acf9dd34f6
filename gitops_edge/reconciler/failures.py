"""What went wrong in one reconcile pass: every failed action and every plan error, each with
the object it concerns, its reason and its kind — one of a small, stable set of values (the
`kind` label of `gitops_edge_errors_total`, never an object name, so its cardinality stays
bounded) — and the log records that show them, at most `LOG_LIMIT` per kind and pass.

Pure: builds values; the loop logs them and the metrics count them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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
from gitops_edge.planner.words import short
from gitops_edge.reconciler.apply import FAILED, ActionResult
from gitops_edge.reports.plan_format import all_jobs

LOG_LIMIT = 20  # log records per kind and pass; the rest are summed up in one record

ACTION_FAILED = "action_failed"  # the `event` field of each kind of record
PLAN_ERROR = "plan_error"
SUPPRESSED = "failures_suppressed"

PLAN_DAEMONSET = "plan_daemonset"  # a DaemonSet the plan does nothing for (e.g. groups overlap)
PLAN_NODE_JOB = "plan_node_job"  # a node job (or pre-pull job) the plan does nothing for
PLAN_PRUNE = "plan_prune"  # pruning refused (a revision that would prune every workload)
ACTION_KINDS: Mapping[type, str] = {
    ApplyDaemonSet: "action_apply",
    DeletePod: "action_delete_pod",
    SetPodCondition: "action_set_condition",
    PruneDaemonSet: "action_prune",
    StartImagePull: "action_prepull",
    DeleteJob: "action_prepull",
    CreateNodeJob: "action_node_job",
    DeleteNodeJob: "action_node_job",
    AnnotateDaemonSet: "action_annotate",
    RollbackDaemonSet: "action_rollback",
    ApplyNamespace: "action_namespace",
    PruneNamespace: "action_namespace",
}
KINDS = (*dict.fromkeys(ACTION_KINDS.values()), PLAN_DAEMONSET, PLAN_NODE_JOB, PLAN_PRUNE)


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed action (`action` says what was attempted) or one plan error (`action` "")."""

    kind: str  # one of KINDS
    object: str  # "Pod ns/name", "DaemonSet ns/name", "NodeUpgradeJob name", …
    reason: str  # the cluster's answer (e.g. "… (403 Forbidden)"), or the plan error
    action: str = ""  # e.g. "delete pod ns/name on node edge-01"

    @property
    def event(self) -> str:
        return ACTION_FAILED if self.action else PLAN_ERROR


@dataclass(frozen=True, slots=True)
class LogRecord:
    """A log line to write: level, message and fields (`log(level, message, **fields)`)."""

    level: str
    message: str
    fields: tuple[tuple[str, Any], ...]


def pass_failures(*, results: Iterable[ActionResult], plan: Plan | None) -> tuple[Failure, ...]:
    """The failed actions of a pass, in the order they ran, then the errors of its last plan."""
    out = []
    for result in results:
        if result.outcome == FAILED:
            what, obj = describe(result.action)
            kind = ACTION_KINDS[type(result.action)]
            out.append(Failure(kind=kind, action=what, object=obj, reason=result.detail))
    if plan is not None:
        for ds in plan.daemonsets:
            obj = f"DaemonSet {ds.namespace}/{ds.name}"
            out += [Failure(kind=PLAN_DAEMONSET, object=obj, reason=e) for e in ds.errors]
        for job in all_jobs(plan):
            obj = f"{job.kind} {job.name}"
            out += [Failure(kind=PLAN_NODE_JOB, object=obj, reason=e) for e in job.errors]
        obj = f"pruning for owner {plan.owner}"
        out += [Failure(kind=PLAN_PRUNE, object=obj, reason=e) for e in plan.prune_errors]
    return tuple(out)


def describe(action: Action) -> tuple[str, str]:
    """(what the action does, the object it acts on), e.g. ("delete pod ns/p on node n",
    "Pod ns/p")."""
    if isinstance(action, ApplyNamespace):
        verb = "create" if action.create else "apply"
        return f"{verb} Namespace {action.name}", f"Namespace {action.name}"
    if isinstance(action, PruneNamespace):
        return f"prune Namespace {action.name}", f"Namespace {action.name}"
    if isinstance(action, DeletePod):
        ident = f"{action.namespace}/{action.name}"
        return f"delete pod {ident} on node {action.node}", f"Pod {ident}"
    if isinstance(action, SetPodCondition):
        ident = f"{action.namespace}/{action.name}"
        cond = f"{action.condition.type}={action.condition.status}"
        return f"set {cond} on pod {ident} on node {action.node}", f"Pod {ident}"
    if isinstance(action, StartImagePull):
        ident = f"{action.namespace}/{action.name}"
        where = f"for pod {action.namespace}/{action.pod} on node {action.node}"
        return f"create pre-pull Job {ident} {where}", f"Job {ident}"
    if isinstance(action, DeleteJob):
        ident = f"{action.namespace}/{action.name}"
        return f"delete pre-pull Job {ident}", f"Job {ident}"
    if isinstance(action, CreateNodeJob):
        return f"create {action.kind} {action.name} ({action.api_version})", _job(action)
    if isinstance(action, DeleteNodeJob):
        return f"delete {action.kind} {action.name}", _job(action)
    ident = f"DaemonSet {action.namespace}/{action.name}"
    if isinstance(action, ApplyDaemonSet):
        verb = "create" if action.create else "update"
    elif isinstance(action, PruneDaemonSet):
        verb = "prune"
    elif isinstance(action, AnnotateDaemonSet):
        verb = "annotate"
    else:
        return f"roll back {ident} to revision {short(action.revision)}", ident
    return f"{verb} {ident}", ident


def _job(action: CreateNodeJob | DeleteNodeJob) -> str:
    return f"{action.kind} {action.name}"


def counts_by_kind(failures: Iterable[Failure]) -> dict[str, int]:
    return dict(Counter(f.kind for f in failures))


def log_records(
    failures: Iterable[Failure], *, revision: str, limit: int = LOG_LIMIT
) -> tuple[LogRecord, ...]:
    """One record per failure, at most `limit` per kind, then one summary record per kind
    that had more ("… and 9,980 more failed actions of kind action_delete_pod")."""
    shown: Counter[str] = Counter()
    suppressed: dict[str, Failure] = {}  # kind → its first suppressed failure
    out = []
    for failure in failures:
        shown[failure.kind] += 1
        if shown[failure.kind] > limit:
            suppressed.setdefault(failure.kind, failure)
            continue
        fields: dict[str, Any] = {"event": failure.event, "kind": failure.kind}
        if failure.action:
            fields["action"] = failure.action
        fields |= {"object": failure.object, "reason": failure.reason, "revision": revision}
        message = "action failed" if failure.action else "plan error"
        out.append(LogRecord("error", message, tuple(fields.items())))
    for kind, first in suppressed.items():
        more = shown[kind] - limit
        what = "failed actions" if first.action else "plan errors"
        fields = {"event": SUPPRESSED, "kind": kind, "count": more, "revision": revision}
        message = f"… and {more:,} more {what} of kind {kind}"
        out.append(LogRecord("error", message, tuple(fields.items())))
    return tuple(out)
