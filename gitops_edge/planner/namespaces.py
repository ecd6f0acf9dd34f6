"""Namespaces (issue 15): the v1 Namespaces a repository declares are applied before anything
in them, and, only with `spec.prune.namespaces: true`, a namespace this source created (managed
by gitops-edge, carrying this source's owner label) whose declaration left the repository is
deleted, after the DaemonSets in it. Deleting a namespace deletes everything in it, so a prune is
refused (and the plan says why) for Kubernetes' own namespaces, for one that still holds a
DaemonSet or pod this pass does not prune (another source's, one the revision still defines, an
orphan), and whenever pruning of workloads is refused or off.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass

from gitops_edge.model.desired import (
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    OWNER_LABEL,
    SPEC_HASH_ANNOTATION,
    DesiredNamespace,
)
from gitops_edge.model.observed import DaemonSetObs, NamespaceObs, PodObs
from gitops_edge.model.plan import ApplyNamespace, PruneNamespace
from gitops_edge.planner.prune import SHOWN

# Never deleted, whatever their labels say.
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})


@dataclass(frozen=True, slots=True)
class NamespacePlan:
    applies: tuple[ApplyNamespace, ...]
    prunes: tuple[PruneNamespace, ...]
    notes: tuple[str, ...]


def _listed(names: list[str]) -> str:
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def _applies(
    desired: Iterable[DesiredNamespace], observed: dict[str, NamespaceObs] | None, owner: str
) -> tuple[ApplyNamespace, ...]:
    out = []
    for ns in sorted(desired, key=lambda n: n.name):
        seen = None if observed is None else observed.get(ns.name)
        where = f"{ns.source.file}:{ns.source.line}"
        if seen is None:
            create = observed is not None
            verb = "create" if create else "apply"
        elif (
            seen.annotations.get(SPEC_HASH_ANNOTATION) == ns.spec_hash
            and seen.labels.get(OWNER_LABEL, "") == owner
        ):
            continue  # as declared
        else:
            create, verb = False, "update"
        out.append(
            ApplyNamespace(
                name=ns.name,
                manifest_json=ns.manifest_json,
                create=create,
                reason=f"{verb} Namespace {ns.name} (declared at {where})",
            )
        )
    return tuple(out)


def plan_namespaces(
    desired: Iterable[DesiredNamespace],
    observed: Iterable[NamespaceObs] | None,
    *,
    owner: str,
    enabled: bool,
    daemonsets: Iterable[DaemonSetObs],
    pods: Iterable[PodObs],
    pruned: Set[tuple[str, str]],
    workloads_refused: bool,
) -> NamespacePlan:
    """`enabled`: spec.prune.namespaces; `daemonsets`, `pods`: what the cluster holds; `pruned`:
    (namespace, name) of the DaemonSets this pass prunes; `workloads_refused`: pruning of
    workloads is refused this pass (spec.prune.allowEmpty)."""
    wanted = tuple(desired)
    by_name = None if observed is None else {n.name: n for n in observed}
    applies = _applies(wanted, by_name, owner)
    if by_name is None:
        return NamespacePlan(applies=applies, prunes=(), notes=())
    declared = {n.name for n in wanted}
    daemonsets = tuple(daemonsets)
    pruned_uids = {d.uid for d in daemonsets if (d.namespace, d.name) in pruned}
    prunes: list[PruneNamespace] = []
    notes: list[str] = []
    for ns in sorted(by_name.values(), key=lambda n: n.name):
        if ns.name in declared or ns.labels.get(MANAGED_BY_LABEL) != MANAGED_BY_VALUE:
            continue
        if ns.labels.get(OWNER_LABEL, "") != owner or not owner:
            continue  # another source's, or one without an owner identity
        head = f"Namespace {ns.name} (owner {owner}) is no longer in the repository"
        if not enabled:
            notes.append(f"{head}; not pruned (spec.prune.namespaces is false)")
            continue
        if ns.name in SYSTEM_NAMESPACES:
            notes.append(f"{head}; never pruned: it is one of Kubernetes' own namespaces")
            continue
        kept = sorted(
            d.name for d in daemonsets if d.namespace == ns.name and (ns.name, d.name) not in pruned
        )
        foreign = sorted(
            p.name for p in pods if p.namespace == ns.name and p.owner_uid not in pruned_uids
        )
        refusal = ""
        if workloads_refused:
            refusal = "pruning of workloads is refused this pass"
        elif kept:
            refusal = (
                f"it still holds DaemonSets this pass does not prune ({_listed(kept)}), and "
                "deleting a namespace deletes everything in it; declare the namespace again, "
                "or move or delete them first"
            )
        elif foreign:
            refusal = (
                f"it still holds pods of other owners ({_listed(foreign)}), and deleting a "
                "namespace deletes everything in it; move or delete them first"
            )
        if refusal:
            notes.append(f"{head}; pruning it is refused: {refusal}")
            continue
        gone = sorted(d.name for d in daemonsets if d.namespace == ns.name)
        takes = f", with its DaemonSets {_listed(gone)}" if gone else ""
        prunes.append(
            PruneNamespace(
                name=ns.name,
                reason=f"prune Namespace {ns.name}{takes}: created by owner {owner}, no longer "
                "in the repository (everything in it is deleted with it)",
            )
        )
    return NamespacePlan(applies=applies, prunes=tuple(prunes), notes=tuple(notes))
