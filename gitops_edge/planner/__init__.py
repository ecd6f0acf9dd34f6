"""The planner: `plan(desired, observed)` → `Plan`, pure and deterministic (DESIGN §2, §3, §5).

First the Namespaces the repository declares. Per desired DaemonSet: create or update it;
AdvancedRollingUpdate pod deletions; OTA `PodNeedUpgrade` marks, after an optional image
pre-pull job; RollingUpdate left to the DaemonSet controller (with a note when it stalls). Then
pruning of DaemonSets this tool created that left the repository, the KubeEdge node jobs
written in the repository, and (opt-in) Namespaces this source created. The time of the pass
is `observed.now`. No I/O, no clock, no randomness: the same inputs give the same Plan,
so a pull-request preview and the real pass agree.

`plan_reusing` is the same plan with some DaemonSets' plans given (the incremental pass,
`reconciler.incremental`, reuses those whose inputs did not change): the pods of their
DaemonSets are not even indexed. Everything else is planned as `plan` does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from gitops_edge.model import nodejobs as nj
from gitops_edge.model.desired import DesiredState
from gitops_edge.model.observed import Observed, PodObs
from gitops_edge.model.plan import DaemonSetPlan, FleetProgress, Plan
from gitops_edge.planner.classify import NodeView, daemonset_views
from gitops_edge.planner.daemonset import plan_daemonset
from gitops_edge.planner.fleet import empty_groups, fleet_nodes, fleet_progress
from gitops_edge.planner.groups import overlap_errors
from gitops_edge.planner.index import NodeIndex, group_members, index_observed
from gitops_edge.planner.jobs import plan_repository_jobs
from gitops_edge.planner.namespaces import plan_namespaces
from gitops_edge.planner.policy import holds_for_groups, job_window_holds
from gitops_edge.planner.prune import plan_prunes

__all__ = ["plan", "plan_reusing"]

Key = tuple[str, str]  # (namespace, name)


def plan(desired: DesiredState, observed: Observed) -> Plan:
    return plan_reusing(desired, observed, reuse={})


def plan_reusing(
    desired: DesiredState,
    observed: Observed,
    *,
    reuse: Mapping[Key, DaemonSetPlan],
    pods_by_owner: Mapping[str, tuple[PodObs, ...]] | None = None,
    nodes: NodeIndex | None = None,
    fleet_of: Callable[[tuple[DaemonSetPlan, ...]], FleetProgress] = fleet_progress,
) -> Plan:
    """The plan of `desired` against `observed`, taking the DaemonSet plans in `reuse` (by
        (namespace, name)) as they are. The caller vouches that each equals what `plan` would give
        (and reuses every DaemonSet of a workload with waves, or none: a wave's hold is decided
        from the earlier waves' DaemonSets, planned here). A reused plan carries its own share of
        the fleet's distinct-node figures (`DaemonSetPlan.fleet`), so `Plan.fleet` is the same;
    `fleet_of` makes those figures from the plans (the caller may count them incrementally: it
    vouches for the same result as `fleet_progress`).
        `pods_by_owner` (the DaemonSet pods by owner uid, as `index.indexed_pod` selects them) and
        `nodes` (`NodeIndex.of(observed.nodes)`), when given, are taken as the caller's index of
        `observed` instead of walking its pods and nodes again."""
    reused_uids = frozenset(
        ds.uid for ds in observed.daemonsets if (ds.namespace, ds.name) in reuse and ds.uid
    )
    index = index_observed(
        observed, skip_owners=reused_uids, pods_by_owner=pods_by_owner, nodes=nodes
    )
    members = group_members(desired.groups, index.labels)
    errors = overlap_errors(desired.daemonsets, members=members)
    # No double driving: where yurt-manager runs, it moves the pods of DaemonSets annotated
    # for it, unless the repository says gitops-edge drives them.
    delegate = observed.openyurt_installed and not desired.config.drive_openyurt_annotated
    views_of: dict[tuple[str, str], list[NodeView]] = {}
    fresh = [d for d in desired.daemonsets if (d.namespace, d.name) not in reuse]
    holds = holds_for_groups(fresh, index=index, now=observed.now, views_of=views_of)
    planned = []
    for ds in sorted(desired.daemonsets, key=lambda d: (d.namespace, d.name)):
        key = (ds.namespace, ds.name)
        if key in reuse:
            planned.append(reuse[key])
            continue
        views = views_of.pop(key, None)
        seen = index.daemonsets.get(key)
        if views is None and seen is not None:
            views = daemonset_views(seen, index=index, now=observed.now)
        one = plan_daemonset(
            ds,
            index=index,
            now=observed.now,
            errors=errors.get(key, ()),
            delegated=delegate and ds.openyurt_annotated,
            jobs_api_version=desired.config.jobs_api_version,
            hold=holds.get(key, ""),
            views=views,
        )
        planned.append(replace(one, fleet=fleet_nodes(views or ())))
    daemonsets = tuple(planned)
    pruning = plan_prunes(
        observed.daemonsets,
        desired={(d.namespace, d.name) for d in daemonsets},
        owner=desired.config.owner,
        pods_of=index.pods_by_owner,
        enabled=desired.config.prune_workloads,
        allow_empty=desired.config.prune_allow_empty,
    )
    namespaces = plan_namespaces(
        desired.namespaces,
        observed.namespaces,
        owner=desired.config.owner,
        enabled=desired.config.prune_namespaces,
        daemonsets=observed.daemonsets,
        pods=observed.pods,
        pruned={(p.namespace, p.name) for p in pruning.prunes},
        workloads_refused=bool(pruning.errors),
    )
    prepulls = frozenset((j.kind, j.name) for ds in daemonsets for j in ds.prepull)
    jobs = plan_repository_jobs(
        desired.jobs,
        {k: j for k, j in index.node_jobs.items() if nj.PREPULL_FOR_LABEL not in j.labels},
        served=observed.job_versions,
        prune=desired.config.prune_jobs,
        owner=desired.config.owner,
        keep=prepulls,
        holds=job_window_holds(desired.jobs, desired.groups, observed.nodes, now=observed.now),
        nodes=len(observed.nodes),
    )
    return Plan(
        revision=desired.revision,
        now=observed.now,
        daemonsets=daemonsets,
        prunes=pruning.prunes,
        jobs=jobs,
        orphans=pruning.orphans,
        owner=desired.config.owner,
        prune_errors=pruning.errors,
        namespaces=namespaces.applies,
        namespace_prunes=namespaces.prunes,
        namespace_notes=namespaces.notes,
        fleet=fleet_of(daemonsets),
        empty_groups=empty_groups(desired.groups, members=members, daemonsets=desired.daemonsets),
    )
