"""Fleet-wide figures of one plan: progress in distinct nodes (the headline), and the NodeGroups
of the repository that match no node (a warning in `plan`, `diff` and the metrics).

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from gitops_edge.model.desired import DesiredDaemonSet, NodeGroup
from gitops_edge.model.plan import DaemonSetPlan, EmptyGroup, FleetProgress
from gitops_edge.planner.classify import NodeView, counts_current


class FleetTally:
    """Distinct nodes over the DaemonSets of a plan, fed one DaemonSet at a time (its views are
    not kept: at fleet scale they are 200,000)."""

    def __init__(self) -> None:
        self._hosting: set[str] = set()
        self._behind: set[str] = set()
        self._deferred: set[str] = set()

    def add(self, views: Sequence[NodeView], plan: DaemonSetPlan) -> None:
        for view in views:
            self._hosting.add(view.node)
            if not counts_current(view):
                self._behind.add(view.node)
        self._deferred.update(d.node for d in plan.deferred)

    def result(self) -> FleetProgress:
        return FleetProgress(
            nodes=len(self._hosting),
            current=len(self._hosting - self._behind),
            deferred=len(self._deferred & self._hosting),
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
