"""Where one node stands for one DaemonSet (DESIGN §2): which pod is current, which is
available, and how the node counts in an AdvancedRollingUpdate pass.

Pure functions. No side effects.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from operator import attrgetter
from typing import NamedTuple

from gitops_edge.observed import DaemonSetObs, Node, PodObs


class NodeState(enum.Enum):
    CURRENT = "current"  # only a new pod, available
    NEW_NOT_AVAILABLE = "new-not-available"  # only a new pod, not yet available → unavailable
    OLD_AVAILABLE = "old-available"  # only an old, available pod → candidate
    OLD_NOT_AVAILABLE = "old-not-available"  # only an old pod, not available → delete freely
    CONFLICT = "conflict"  # more than one live pod, or an old and a new one → unavailable
    NO_LIVE_POD = "no-live-pod"  # only terminating pods → unavailable


OUTDATED_STATES = frozenset(
    (NodeState.OLD_AVAILABLE, NodeState.OLD_NOT_AVAILABLE, NodeState.CONFLICT)
)


class NodeView(NamedTuple):
    """One node hosting pods of one DaemonSet. A NamedTuple rather than a frozen dataclass: the
    planner makes one per pod (200,000 at fleet scale) and tuples are three times cheaper."""

    node: str
    ready: bool
    ready_since: float
    state: NodeState
    live: tuple[PodObs, ...]  # pods not being deleted, in name order
    outdated: bool  # runs an old pod (alone, or beside others)


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


def classify(live: Sequence[PodObs], ds: DaemonSetObs, *, now: float) -> NodeState:
    """The state of a node from its live (not terminating) pods."""
    if not live:
        return NodeState.NO_LIVE_POD
    if len(live) > 1:
        return NodeState.CONFLICT
    pod = live[0]
    available = is_available(pod, min_ready_seconds=ds.min_ready_seconds, now=now)
    if is_current(pod, ds):
        return NodeState.CURRENT if available else NodeState.NEW_NOT_AVAILABLE
    return NodeState.OLD_AVAILABLE if available else NodeState.OLD_NOT_AVAILABLE


def node_views(
    pods: Iterable[PodObs], *, ds: DaemonSetObs, nodes: Mapping[str, Node], now: float
) -> list[NodeView]:
    """One view per node hosting pods of `ds`, in node-name order (pods in name order)."""
    by_node: dict[str, list[PodObs]] = {}
    for pod in pods:
        on_node = by_node.get(pod.node)
        if on_node is None:
            by_node[pod.node] = [pod]
        else:
            on_node.append(pod)
    views = []
    for name in sorted(by_node):
        on_node = by_node[name]
        if len(on_node) == 1 and not on_node[0].deleting:
            live: tuple[PodObs, ...] = (on_node[0],)
        else:
            on_node.sort(key=_BY_NAME)
            live = tuple(p for p in on_node if not p.deleting)
        state = classify(live, ds, now=now)
        node = nodes.get(name)
        views.append(
            NodeView(
                name,
                node is not None and node.ready,
                node.ready_since if node is not None else 0.0,
                state,
                live,
                state in OUTDATED_STATES,
            )
        )
    return views


_BY_NAME = attrgetter("name")
