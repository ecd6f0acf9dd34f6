"""Pruning (DESIGN §5, issue 14): DaemonSets this source created whose definition left the
repository. A DaemonSet is pruned only when it carries `app.kubernetes.io/managed-by=
gitops-edge` and this source's owner identity (`gitops-edge.io/owner`): another repository's,
or another folder's, objects are never touched. Managed DaemonSets without an identity (made
before identities existed) are never pruned and are reported as orphans. A revision that would
prune every workload the source owns (it defines none any more, and some exist) is refused
unless `spec.prune.allowEmpty` is true.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass

from gitops_edge.model.desired import (
    GROUP_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    OWNER_LABEL,
    WORKLOAD_LABEL,
)
from gitops_edge.model.observed import DaemonSetObs, PodObs
from gitops_edge.model.plan import Orphan, PruneDaemonSet

SHOWN = 5  # names listed in one message


@dataclass(frozen=True, slots=True)
class Pruning:
    prunes: tuple[PruneDaemonSet, ...]
    orphans: tuple[Orphan, ...]
    errors: tuple[str, ...]  # pruning refused: `prunes` is then empty


def _listed(names: list[str]) -> str:
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def plan_prunes(
    observed: Iterable[DaemonSetObs],
    *,
    desired: Set[tuple[str, str]],
    owner: str,
    pods_of: Mapping[str, tuple[PodObs, ...]],
    enabled: bool,
    allow_empty: bool,
) -> Pruning:
    """`desired`: (namespace, name) of every DaemonSet the revision defines; `pods_of`: pods by
    their DaemonSet's uid; `enabled`: spec.prune.workloads."""
    prunes: list[PruneDaemonSet] = []
    orphans: list[Orphan] = []
    for ds in sorted(observed, key=lambda d: (d.namespace, d.name)):
        if ds.labels.get(MANAGED_BY_LABEL) != MANAGED_BY_VALUE:
            continue
        ident = f"{ds.namespace}/{ds.name}"
        label = ds.labels.get(OWNER_LABEL, "")
        if label and label != owner:
            continue  # another source's
        if (ds.namespace, ds.name) in desired:
            continue
        if not label:
            orphans.append(
                Orphan(
                    namespace=ds.namespace,
                    name=ds.name,
                    reason=f"DaemonSet {ident} is managed by gitops-edge but carries no owner "
                    f"identity ({OWNER_LABEL}) and is not in this repository: never pruned; "
                    f"to let this source prune it, label it {OWNER_LABEL}={owner}, or delete "
                    "it by hand",
                )
            )
            continue
        pods = tuple(sorted(p.name for p in pods_of.get(ds.uid, ()) if not p.deleting))
        source = f"workload {ds.labels.get(WORKLOAD_LABEL, '?')}"
        if GROUP_LABEL in ds.labels:
            source += f" group {ds.labels[GROUP_LABEL]}"
        takes = f", and its {len(pods)} pods ({_listed(list(pods))})" if pods else ""
        prunes.append(
            PruneDaemonSet(
                namespace=ds.namespace,
                name=ds.name,
                reason=f"prune DaemonSet {ident}{takes}: created by owner {owner} for "
                f"{source}, no longer in the repository",
                pods=pods,
            )
        )
    errors: tuple[str, ...] = ()
    if prunes and not desired and not allow_empty:
        names = [f"{p.namespace}/{p.name}" for p in prunes]
        errors = (
            f"this revision would prune every workload owner {owner} has in the cluster "
            f"({len(prunes)} DaemonSets: {_listed(names)}); refused, nothing is pruned. If "
            "that is what you want, set spec.prune.allowEmpty: true in gitops-edge.yaml",
        )
    return Pruning(
        prunes=tuple(prunes) if enabled and not errors else (),
        orphans=tuple(orphans),
        errors=errors if enabled else (),
    )
