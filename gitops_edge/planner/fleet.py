"""Fleet-wide figures of one plan: progress in distinct nodes (the headline), and the NodeGroups
of the repository that match no node (a warning in `plan`, `diff` and the metrics).

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from gitops_edge.model.desired import DesiredDaemonSet, NodeGroup
from gitops_edge.model.plan import DaemonSetPlan, EmptyGroup, FleetNodes, FleetProgress
from gitops_edge.planner.classify import NodeView, counts_current


def fleet_nodes(views: Sequence[NodeView]) -> FleetNodes:
    """One DaemonSet's share of the fleet figures, from the node views it was planned with."""
    hosting = frozenset(view.node for view in views)
    behind = frozenset(view.node for view in views if not counts_current(view))
    return FleetNodes(hosting=hosting, behind=behind)


def fleet_progress(daemonsets: Iterable[DaemonSetPlan]) -> FleetProgress:
    """Distinct nodes over the DaemonSets of a plan: a node counts once, current when every
    DaemonSet on it counts current, deferred when an outdated pod there waits for it."""
    hosting: set[str] = set()
    behind: set[str] = set()
    deferred: set[str] = set()
    for plan in daemonsets:
        hosting |= plan.fleet.hosting
        behind |= plan.fleet.behind
        deferred.update(d.node for d in plan.deferred)
    return FleetProgress(
        nodes=len(hosting),
        current=len(hosting - behind),
        deferred=len(deferred & hosting),
    )


def empty_groups(
    groups: Iterable[NodeGroup],
    *,
    members: Mapping[str, frozenset[str]],
    daemonsets: Sequence[DesiredDaemonSet],
) -> tuple[EmptyGroup, ...]:
    """The groups whose selector and node list match no node of the observed cluster."""
    out = []
    for group in sorted(groups, key=lambda g: g.name):
        if members.get(group.name):
            continue
        mine = tuple(f"{d.namespace}/{d.name}" for d in daemonsets if d.group == group.name)
        names = ", ".join(mine)
        runs = (
            "no workload uses it"
            if not mine
            else f"its DaemonSet {names} runs on no node"
            if len(mine) == 1
            else f"its DaemonSets {names} run on no node"
        )
        where = f"{group.source.file}:{group.source.line}"
        out.append(
            EmptyGroup(
                group=group.name,
                source=where,
                daemonsets=mine,
                message=f"NodeGroup {group.name} ({where}) matches no node: {runs} (hint: "
                "compare its selector and nodes with the nodes' names and labels, kubectl get "
                "nodes --show-labels; a typo in a label or value matches nothing)",
            )
        )
    return tuple(out)
