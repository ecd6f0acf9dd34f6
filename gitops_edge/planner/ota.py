"""OTA (DESIGN §2): the cloud side never deletes pods; it keeps `PodNeedUpgrade` on every pod
the DaemonSet owns (NotReady nodes too): True when outdated, False when current, message
`controllerrevision: <hash>`; lastTransitionTime changes only when the status flips.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gitops_edge.model.observed import POD_NEED_UPGRADE, Condition, DaemonSetObs
from gitops_edge.model.plan import SetPodCondition
from gitops_edge.planner.classify import NodeView, is_current
from gitops_edge.planner.words import short


@dataclass(frozen=True, slots=True)
class OtaPass:
    marks: tuple[SetPodCondition, ...]
    pending: int  # pods whose PodNeedUpgrade is (or will be) True


def plan_ota(views: Sequence[NodeView], *, ds: DaemonSetObs, now: float) -> OtaPass:
    marks: list[SetPodCondition] = []
    pending = 0
    message = f"controllerrevision: {ds.current_revision}"
    for view in views:
        for pod in view.live:
            status = "False" if is_current(pod, ds) else "True"
            pending += status == "True"
            existing = pod.condition(POD_NEED_UPGRADE)
            if existing is not None and (existing.status, existing.message) == (status, message):
                continue
            flipped = existing is None or existing.status != status
            since = now if flipped or existing is None else existing.last_transition_time
            what = (
                f"outdated ({short(pod.revision_hash)} → {short(ds.current_revision)})"
                if status == "True"
                else f"current ({short(ds.current_revision)})"
            )
            marks.append(
                SetPodCondition(
                    namespace=pod.namespace,
                    name=pod.name,
                    uid=pod.uid,
                    node=view.node,
                    condition=Condition(
                        type=POD_NEED_UPGRADE,
                        status=status,
                        message=message,
                        last_transition_time=since,
                    ),
                    reason=f"mark pod {pod.namespace}/{pod.name} on node {view.node} "
                    f"PodNeedUpgrade={status}: {what}",
                )
            )
    return OtaPass(marks=tuple(marks), pending=pending)
