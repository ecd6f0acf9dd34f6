"""Carrying out a Plan's actions on a Cluster, one by one; a failed action never stops the rest.

Side effects: writes to the cluster through the `Cluster` protocol only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gitops_edge.cluster.base import Cluster, ClusterError, NamespaceMissingError, NotFoundError
from gitops_edge.model.plan import (
    Action,
    AnnotateDaemonSet,
    ApplyDaemonSet,
    ApplyNamespace,
    CreateNodeJob,
    DeleteJob,
    DeleteNodeJob,
    DeletePod,
    PruneDaemonSet,
    PruneNamespace,
    RollbackDaemonSet,
    SetPodCondition,
    StartImagePull,
)

DONE = "done"
SKIPPED = "skipped"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ActionResult:
    action: Action
    outcome: str  # DONE | SKIPPED | FAILED
    detail: str = ""


def _apply_one(action: Action, cluster: Cluster) -> None:
    if isinstance(action, ApplyDaemonSet):
        cluster.apply_daemonset(json.loads(action.manifest_json))
    elif isinstance(action, DeletePod):
        cluster.delete_pod(action.namespace, action.name, action.uid)
    elif isinstance(action, SetPodCondition):
        cluster.set_pod_condition(action.namespace, action.name, action.uid, action.condition)
    elif isinstance(action, PruneDaemonSet):
        cluster.delete_daemonset(action.namespace, action.name)
    elif isinstance(action, StartImagePull):
        cluster.create_pull_job(json.loads(action.manifest_json))
    elif isinstance(action, DeleteJob):
        cluster.delete_job(action.namespace, action.name)
    elif isinstance(action, AnnotateDaemonSet):
        cluster.annotate_daemonset(action.namespace, action.name, dict(action.annotations))
    elif isinstance(action, RollbackDaemonSet):
        cluster.rollback_daemonset(action.namespace, action.name, action.uid, action.revision)
    elif isinstance(action, CreateNodeJob):
        cluster.create_node_job(json.loads(action.manifest_json))
    elif isinstance(action, DeleteNodeJob):
        cluster.delete_node_job(action.api_version, action.kind, action.name)
    elif isinstance(action, ApplyNamespace):
        cluster.apply_namespace(json.loads(action.manifest_json))
    elif isinstance(action, PruneNamespace):
        cluster.delete_namespace(action.name)


def apply_actions(
    actions: Iterable[Action],
    cluster: Cluster,
    *,
    guard: Callable[[], None] | None = None,
    on_applied: Callable[[int], None] | None = None,
) -> tuple[ActionResult, ...]:
    """Apply each action; a pod or object that is already gone is skipped, errors recorded. An
    object whose namespace does not exist is not "gone": that action failed. `guard` is called
    right before each action and stops the rest by raising (the leader election's check: a
    reconciler that lost its lease applies nothing more). `on_applied(n)`: told after each
    action how many are done (a progress line)."""
    results: list[ActionResult] = []
    for action in actions:
        if on_applied is not None and results:
            on_applied(len(results))
        if guard is not None:
            guard()
        try:
            _apply_one(action, cluster)
        except NamespaceMissingError as exc:
            results.append(ActionResult(action, FAILED, str(exc)))
        except NotFoundError as exc:
            results.append(ActionResult(action, SKIPPED, f"already gone: {exc}"))
        except ClusterError as exc:
            results.append(ActionResult(action, FAILED, str(exc)))
        else:
            results.append(ActionResult(action, DONE))
    if on_applied is not None and results:
        on_applied(len(results))
    return tuple(results)
