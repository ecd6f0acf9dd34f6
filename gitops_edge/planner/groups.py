"""Node groups of one workload must not overlap (DESIGN §3): an overlap seen in the cluster is
a plan error for every DaemonSet of that workload whose group holds an overlapping node.

Pure: no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from gitops_edge.model.desired import DesiredDaemonSet

Key = tuple[str, str]
SHOWN = 3  # overlapping nodes named in one error


def shared_nodes(
    groups: Sequence[str], *, members: Mapping[str, frozenset[str]]
) -> dict[str, tuple[str, ...]]:
    """Nodes in more than one of `groups` → those groups (sorted). The common case, no overlap,
    is decided by one set union in C: the union is as large as the sizes added up."""
    sets = [members.get(g, frozenset()) for g in groups]
    if sum(map(len, sets)) == len(frozenset().union(*sets)):
        return {}
    groups_of: dict[str, list[str]] = defaultdict(list)
    for name, nodes in zip(groups, sets, strict=True):
        for node in nodes:
            groups_of[node].append(name)
    return {node: tuple(sorted(gs)) for node, gs in groups_of.items() if len(gs) > 1}


def overlap_errors(
    daemonsets: Sequence[DesiredDaemonSet], *, members: Mapping[str, frozenset[str]]
) -> dict[Key, tuple[str, ...]]:
    """(namespace, name) → errors, for DaemonSets whose group shares nodes with another group of
    the same workload. Workloads over the same groups share one computation."""
    by_workload: dict[tuple[str, str], list[DesiredDaemonSet]] = defaultdict(list)
    for ds in daemonsets:
        if ds.group is not None:
            by_workload[(ds.namespace, ds.workload)].append(ds)
    seen: dict[tuple[str, ...], dict[str, tuple[str, ...]]] = {}
    out: dict[Key, tuple[str, ...]] = {}
    for (_, workload), rendered in sorted(by_workload.items()):
        groups = tuple(sorted({ds.group or "" for ds in rendered}))
        if len(groups) < 2:
            continue
        shared = seen.get(groups)
        if shared is None:
            shared = seen[groups] = shared_nodes(groups, members=members)
        if not shared:
            continue
        for ds in rendered:
            mine = sorted(n for n, gs in shared.items() if ds.group in gs)
            if not mine:
                continue
            named = "; ".join(
                f"node {n} is in groups {' and '.join(shared[n])}" for n in mine[:SHOWN]
            )
            more = f" (+{len(mine) - SHOWN} more nodes)" if len(mine) > SHOWN else ""
            out[(ds.namespace, ds.name)] = (
                f"{named}{more} of workload {workload}: node groups of one workload must not "
                "overlap; nothing is done for this DaemonSet until the NodeGroup selectors or "
                "node labels are fixed",
            )
    return out
