"""The JSON form of one plan action (`{type, namespace?, name, node?, …, reason}`), part of
the stable plan JSON shape documented in `plan_format`. Pure.
"""

from __future__ import annotations

from typing import Any

from gitops_edge.model.plan import (
    Action,
    AnnotateDaemonSet,
    ApplyDaemonSet,
    ApplyNamespace,
    CreateNodeJob,
    DeleteNodeJob,
    DeletePod,
    PruneDaemonSet,
    PruneNamespace,
    RollbackDaemonSet,
    SetPodCondition,
    StartImagePull,
)
from gitops_edge.planner.words import rfc3339
from gitops_edge.reports.job_format import node_job_action_to_dict


def action_to_dict(action: Action) -> dict[str, Any]:
    if isinstance(action, ApplyNamespace):
        verb = action.reason.split(" ", 1)[0]  # create | apply | update
        return {"type": f"{verb}Namespace", "name": action.name, "reason": action.reason}
    if isinstance(action, PruneNamespace):
        return {"type": "pruneNamespace", "name": action.name, "reason": action.reason}
    if isinstance(action, ApplyDaemonSet):
        kind = "create" if action.create else "restore" if action.drift else "update"
        return {
            "type": kind,
            "namespace": action.namespace,
            "name": action.name,
            "reason": action.reason,
            **({"drift": list(action.drift)} if action.drift else {}),
        }
    if isinstance(action, DeletePod):
        return {
            "type": "deletePod",
            "namespace": action.namespace,
            "name": action.name,
            "uid": action.uid,
            "node": action.node,
            "outsideBudget": action.outside_budget,
            "reason": action.reason,
        }
    if isinstance(action, SetPodCondition):
        return {
            "type": "setPodCondition",
            "namespace": action.namespace,
            "name": action.name,
            "uid": action.uid,
            "node": action.node,
            "condition": {
                "type": action.condition.type,
                "status": action.condition.status,
                "message": action.condition.message,
                "lastTransitionTime": rfc3339(action.condition.last_transition_time),
            },
            "reason": action.reason,
        }
    if isinstance(action, StartImagePull):
        return {
            "type": "startImagePull",
            "namespace": action.namespace,
            "name": action.name,
            "pod": action.pod,
            "node": action.node,
            "revision": action.revision,
            "reason": action.reason,
        }
    if isinstance(action, CreateNodeJob | DeleteNodeJob):
        return node_job_action_to_dict(action)
    if isinstance(action, AnnotateDaemonSet):
        return {
            "type": "annotate",
            "namespace": action.namespace,
            "name": action.name,
            "annotations": dict(action.annotations),
            "reason": action.reason,
        }
    if isinstance(action, RollbackDaemonSet):
        return {
            "type": "rollback",
            "namespace": action.namespace,
            "name": action.name,
            "revision": action.revision,
            "reason": action.reason,
        }
    if isinstance(action, PruneDaemonSet):
        return {
            "type": "prune",
            "namespace": action.namespace,
            "name": action.name,
            "pods": list(action.pods),
            "reason": action.reason,
        }
    return {
        "type": "deleteJob",
        "namespace": action.namespace,
        "name": action.name,
        "reason": action.reason,
    }
