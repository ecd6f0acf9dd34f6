"""Pruning (DESIGN §5): DaemonSets this tool created (label app.kubernetes.io/managed-by=
gitops-edge) whose source left the repository. Nothing without that label is ever pruned.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Set

from gitops_edge.desired import GROUP_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, WORKLOAD_LABEL
from gitops_edge.observed import DaemonSetObs
from gitops_edge.plan import PruneDaemonSet


def plan_prunes(
    observed: Iterable[DaemonSetObs], *, desired: Set[tuple[str, str]]
) -> tuple[PruneDaemonSet, ...]:
    out = []
    for ds in sorted(observed, key=lambda d: (d.namespace, d.name)):
        if ds.labels.get(MANAGED_BY_LABEL) != MANAGED_BY_VALUE:
            continue
        if (ds.namespace, ds.name) in desired:
            continue
        owner = f"workload {ds.labels.get(WORKLOAD_LABEL, '?')}"
        if GROUP_LABEL in ds.labels:
            owner += f" group {ds.labels[GROUP_LABEL]}"
        out.append(
            PruneDaemonSet(
                namespace=ds.namespace,
                name=ds.name,
                reason=f"prune DaemonSet {ds.namespace}/{ds.name}: created by gitops-edge for "
                f"{owner}, no longer in the repository",
            )
        )
    return tuple(out)
