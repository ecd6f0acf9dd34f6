"""Where one node stands for one DaemonSet (DESIGN §2): which pod is current, which is
available, and how the node counts in an AdvancedRollingUpdate pass.

Pure functions. No side effects.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from operator import attrgetter
from typing import NamedTuple

from gitops_edge.model.observed import DaemonSetObs, Node, PodObs
from gitops_edge.planner.index import FleetIndex


class NodeState(enum.IntEnum):
    """An IntEnum so that set membership hashes in C (200,000 lookups a pass at fleet scale)."""

    CURRENT = 0  # only a new pod, available
    NEW_NOT_AVAILABLE = 1  # only a new pod, not yet available → unavailable
    OLD_AVAILABLE = 2  # only an old, available pod → candidate
    OLD_NOT_AVAILABLE = 3  # only an old pod, not available → delete outside the budget
    CONFLICT = 4  # more than one live pod, or an old and a new one → unavailable
    NO_LIVE_POD = 5  # only terminating pods, or none on a node that should run one → unavailable


UNAVAILABLE_STATES = frozenset(
    (NodeState.CONFLICT, NodeState.NO_LIVE_POD, NodeState.NEW_NOT_AVAILABLE)
)


class NodeView(NamedTuple):
    """One node hosting pods of one DaemonSet. A NamedTuple rather than a frozen dataclass: the
    planner makes one per pod (200,000 at fleet scale) and tuples are three times cheaper."""

    node: str
    ready: bool
    ready_since: float
    state: NodeState
    live: tuple[PodObs, ...]  # pods not being deleted, in name order
    outdated: bool  # runs an old live pod (alone, or beside others)
    known: bool  # the node exists in the observation (a pod may outlive its node object)


def counts_current(view: NodeView) -> bool:
    """Whether a node counts as current in a DaemonSet's progress: its only live pod is current
    and available; or the node is NotReady (it exists) and its only live pod is current: its
    kubelet cannot report the pod Ready, but there is nothing left to upgrade on it."""
    if view.state is NodeState.CURRENT:
        return True
    return not view.ready and view.known and view.state is NodeState.NEW_NOT_AVAILABLE


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


def daemonset_views(ds: DaemonSetObs, *, index: FleetIndex, now: float) -> list[NodeView]:
    """The node views of an observed DaemonSet: its pods, and its Ready eligible nodes."""
    return node_views(
        index.pods_of(ds), ds=ds, nodes=index.nodes, eligible=index.ready_eligible(ds), now=now
    )


def node_views(
    pods: Iterable[PodObs],
    *,
    ds: DaemonSetObs,
    nodes: Mapping[str, Node],
    eligible: Iterable[str] = (),
    now: float,
) -> list[NodeView]:
    """One view per node hosting pods of `ds` (terminating pods, and pods waiting for the
    scheduler on the node they are pinned to, count for hosting), plus one per `eligible` node
    (Ready, should run a pod of `ds`) hosting none: NO_LIVE_POD, unavailable (a pod deleted and
    never recreated must not escape the budget). In node-name order, live pods in name order.
    The single-live-pod case, nearly every node, is classified inline: this loop runs once per
    pod of the fleet."""
    revision, generation = ds.current_revision, ds.template_generation
    min_ready, deadline = ds.min_ready_seconds, now - ds.min_ready_seconds
    views: list[NodeView] = []
    ordered = sorted(pods, key=_BY_NODE_AND_NAME)
    i, count = 0, len(ordered)
    while i < count:
        pod = ordered[i]
        name = pod.node
        j = i + 1
        while j < count and ordered[j].node == name:
            j += 1
        if j == i + 1 and not pod.deleting:
            live: tuple[PodObs, ...] = (pod,)
            current = (bool(revision) and pod.revision_hash == revision) or (
                pod.template_generation == generation
            )
            since = pod.ready_since
            available = pod.ready and since is not None and (min_ready <= 0 or since <= deadline)
            if current:
                state = NodeState.CURRENT if available else NodeState.NEW_NOT_AVAILABLE
            else:
                state = NodeState.OLD_AVAILABLE if available else NodeState.OLD_NOT_AVAILABLE
            outdated = not current
        else:
            live = tuple(p for p in ordered[i:j] if not p.deleting)
            state = classify(live, ds, now=now)
            outdated = not all(is_current(p, ds) for p in live)
        node = nodes.get(name)
        if node is None:
            views.append(NodeView(name, False, 0.0, state, live, outdated, False))
        else:
            views.append(NodeView(name, node.ready, node.ready_since, state, live, outdated, True))
        i = j
    hosting = {view.node for view in views}
    missing = [name for name in eligible if name not in hosting]
    if missing:
        for name in missing:
            node = nodes[name]
            views.append(
                NodeView(name, node.ready, node.ready_since, NodeState.NO_LIVE_POD, (), False, True)
            )
        views.sort(key=_BY_NODE)
    return views


_BY_NODE_AND_NAME = attrgetter("node", "name")
_BY_NODE = attrgetter("node")
