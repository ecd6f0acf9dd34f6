"""The fleet's distinct-node figures (`FleetProgress`) kept up to date from pass to pass, for
the incremental planner: each DaemonSet plan's share (`DaemonSetPlan.fleet`, its deferred
nodes) is counted per node, and a pass only adds and removes the shares of the plans that
changed, instead of joining every DaemonSet's node sets again (0.3 s a pass at 100,000 nodes).
The figures equal `planner.fleet.fleet_progress` of the same plans (a property test compares
the incremental plan with a full one, these figures included).
Side effects: none outside the object (it keeps its counts).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from gitops_edge.model.plan import DaemonSetPlan, Deferral, FleetNodes, FleetProgress

Key = tuple[str, str]  # (namespace, name)
Share = tuple[FleetNodes, tuple[Deferral, ...]]


class FleetCounts:
    """Per node: how many DaemonSets host it, are behind on it, defer it."""

    def __init__(self) -> None:
        self._hosting: Counter[str] = Counter()
        self._behind: Counter[str] = Counter()
        self._deferred: Counter[str] = Counter()
        self._shares: dict[Key, Share] = {}

    def reset(self) -> None:
        """Forget every share: the next `progress` counts all of them (a full replan)."""
        for counts in (self._hosting, self._behind, self._deferred):
            counts.clear()
        self._shares.clear()

    def progress(self, daemonsets: Sequence[DaemonSetPlan]) -> FleetProgress:
        """The figures of a plan made of `daemonsets`, counting only the shares that changed
        since the previous call (a reused plan's share is the very same object)."""
        seen: set[Key] = set()
        for plan in daemonsets:
            key = (plan.namespace, plan.name)
            seen.add(key)
            old = self._shares.get(key)
            if old is not None and old[0] is plan.fleet and old[1] is plan.deferred:
                continue
            if old is not None:
                self._count(old, -1)
            share = (plan.fleet, plan.deferred)
            self._count(share, +1)
            self._shares[key] = share
        for key in [k for k in self._shares if k not in seen]:
            self._count(self._shares.pop(key), -1)
        hosting = self._hosting
        return FleetProgress(
            nodes=len(hosting),
            current=len(hosting) - sum(1 for node in self._behind if node in hosting),
            deferred=sum(1 for node in self._deferred if node in hosting),
        )

    def _count(self, share: Share, step: int) -> None:
        fleet, deferred = share
        _add(self._hosting, fleet.hosting, step)
        _add(self._behind, fleet.behind, step)
        _add(self._deferred, frozenset(d.node for d in deferred), step)


def _add(counts: Counter[str], nodes: Iterable[str], step: int) -> None:
    for node in nodes:
        left = counts[node] + step
        if left:
            counts[node] = left
        else:
            del counts[node]
