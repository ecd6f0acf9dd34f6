"""AdvancedRollingUpdate, one pass (DESIGN §2; OpenYurt daemonpodupdater v1.7).

Over Ready nodes only (NotReady nodes are never touched, never counted unavailable, and are
reported as deferred while they still run an outdated pod): a node with more than one live pod,
no live pod (including a Ready node the DaemonSet should run on that has no pod at all), an old
and a new pod, or only a new pod not yet available counts unavailable; an old pod that is not
available is deleted outside the budget, and its node counts unavailable too (upstream does not
count it, so one pass could leave budget + that many nodes without an available pod); old
available pods are candidates, deleted up to `maxUnavailable − unavailable`. At most 250
deletions a pass (outside-budget ones first). Candidates in node-name order (upstream iterates
a Go map; we sort so a plan is reproducible). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gitops_edge.model.desired import DesiredDaemonSet
from gitops_edge.model.observed import DaemonSetObs
from gitops_edge.model.openyurt import DEFAULT_MAX_UNAVAILABLE, resolve_max_unavailable
from gitops_edge.model.plan import Budget, Deferral, DeletePod
from gitops_edge.planner.classify import UNAVAILABLE_STATES, NodeState, NodeView
from gitops_edge.planner.words import rfc3339, short

MAX_DELETIONS_PER_PASS = 250  # upstream BurstReplicas


def budget_spec(value: int | str | None) -> str:
    """The max-unavailable value the budget was resolved from, for people: "30%", "3", or
    "10%" for the default (absent, 0 or 0%)."""
    if value is None or value in (0, "0", "0%"):
        return DEFAULT_MAX_UNAVAILABLE
    return str(value)


@dataclass(frozen=True, slots=True)
class AdvancedPass:
    deletions: tuple[DeletePod, ...]
    deferred: tuple[Deferral, ...]
    budget: Budget
    unavailable: int


def plan_advanced(
    views: Sequence[NodeView], *, ds: DaemonSetObs, desired: DesiredDaemonSet
) -> AdvancedPass:
    limit = resolve_max_unavailable(desired.max_unavailable, len(views))
    unavailable = 0
    free: list[DeletePod] = []
    candidates: list[NodeView] = []
    deferred: list[Deferral] = []
    new = short(ds.current_revision)
    for view in views:  # in node-name order
        if not view.ready:
            if view.outdated:
                pods = ", ".join(f"{p.namespace}/{p.name}" for p in view.live)
                why = (
                    f"NotReady since {rfc3339(view.ready_since)}"
                    if view.known
                    else "node not found in the cluster"
                )
                deferred.append(
                    Deferral(
                        node=view.node,
                        reason=f"{why}; outdated pod {pods} deferred until the node is Ready",
                    )
                )
            continue
        if view.state in UNAVAILABLE_STATES:
            unavailable += 1
        elif view.state is NodeState.OLD_NOT_AVAILABLE:
            unavailable += 1  # not available before its deletion, nor after: in the budget
            pod = view.live[0]
            free.append(
                DeletePod(
                    namespace=pod.namespace,
                    name=pod.name,
                    uid=pod.uid,
                    node=view.node,
                    outside_budget=True,
                    reason=f"delete pod {pod.namespace}/{pod.name} on node {view.node}: "
                    f"outdated ({short(pod.revision_hash)} → {new}) and not available, "
                    "deleted outside the budget",
                )
            )
        elif view.state is NodeState.OLD_AVAILABLE:
            candidates.append(view)
    free = free[:MAX_DELETIONS_PER_PASS]
    room = max(0, min(limit - unavailable, len(candidates), MAX_DELETIONS_PER_PASS - len(free)))
    budgeted: list[DeletePod] = []
    for i, view in enumerate(candidates[:room]):
        pod = view.live[0]
        left = limit - unavailable - i - 1
        budgeted.append(
            DeletePod(
                namespace=pod.namespace,
                name=pod.name,
                uid=pod.uid,
                node=view.node,
                outside_budget=False,
                reason=f"delete pod {pod.namespace}/{pod.name} on node {view.node}: outdated "
                f"({short(pod.revision_hash)} → {new}), budget {left}/{limit} left",
            )
        )
    return AdvancedPass(
        deletions=(*free, *budgeted),
        deferred=tuple(deferred),
        budget=Budget(
            max_unavailable=limit,
            unavailable=unavailable,
            deletions=len(budgeted),
            spec=budget_spec(desired.max_unavailable),
        ),
        unavailable=unavailable,
    )
