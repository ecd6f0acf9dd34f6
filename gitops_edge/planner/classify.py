"""Where one node stands for one DaemonSet (DESIGN §2): which pod is current, which is
available, and how the node counts in an AdvancedRollingUpdate pass.

Pure functions. No side effects.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from gitops_edge.observed import DaemonSetObs, PodObs


class NodeState(enum.Enum):
    CURRENT = "current"  # only a new pod, available
    NEW_NOT_AVAILABLE = "new-not-available"  # only a new pod, not yet available → unavailable
    OLD_AVAILABLE = "old-available"  # only an old, available pod → candidate
    OLD_NOT_AVAILABLE = "old-not-available"  # only an old pod, not available → delete freely
    CONFLICT = "conflict"  # more than one live pod, or an old and a new one → unavailable
    NO_LIVE_POD = "no-live-pod"  # only terminating pods → unavailable


@dataclass(frozen=True, slots=True)
class NodeView:
    """One node hosting pods of one DaemonSet."""

    node: str
    ready: bool
    ready_since: float
    state: NodeState
    live: tuple[PodObs, ...]  # pods not being deleted, in name order

    @property
    def outdated(self) -> bool:
        return self.state in (NodeState.OLD_AVAILABLE, NodeState.OLD_NOT_AVAILABLE) or (
            self.state is NodeState.CONFLICT
        )


def is_current(pod: PodObs, ds: DaemonSetObs) -> bool:
    """Upstream IsPodUpdated: the revision hash or the template generation matches."""
    hash_matches = bool(ds.current_revision) and pod.revision_hash == ds.current_revision
    generation_matches = pod.template_generation == ds.template_generation
    return hash_matches or generation_matches


def is_available(pod: PodObs, *, min_ready_seconds: int, now: float) -> bool:
    """Ready, and Ready for at least minReadySeconds."""
    if not pod.ready or pod.ready_since is None:
        return False
    return min_ready_seconds <= 0 or pod.ready_since + min_ready_seconds <= now


def classify(pods: Sequence[PodObs], ds: DaemonSetObs, *, now: float) -> NodeState:
    live = [p for p in pods if not p.deleting]
    if not live:
        return NodeState.NO_LIVE_POD
    if len(live) > 1:
        return NodeState.CONFLICT
    pod = live[0]
    available = is_available(pod, min_ready_seconds=ds.min_ready_seconds, now=now)
    if is_current(pod, ds):
        return NodeState.CURRENT if available else NodeState.NEW_NOT_AVAILABLE
    return NodeState.OLD_AVAILABLE if available else NodeState.OLD_NOT_AVAILABLE
