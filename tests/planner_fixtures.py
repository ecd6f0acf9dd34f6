"""Terse builders of desired and observed values for the pure planner tests."""

from __future__ import annotations

from gitops_edge.model.desired import (
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    OWNER_LABEL,
    SPEC_HASH_ANNOTATION,
    DesiredDaemonSet,
    DesiredState,
    LabelSelector,
    NodeGroup,
    RepoConfig,
    SourceRef,
    UpdateModel,
)
from gitops_edge.model.observed import Condition, DaemonSetObs, Node, Observed, PodObs

NOW = 10_000.0
NEW, OLD = "newhash", "oldhash"
NS = "edge"
SPEC = "spec-1"
OWNER = "test-repo"  # the owner identity of the repository in `state`
OURS = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, OWNER_LABEL: OWNER}


def desired_ds(
    name: str = "app",
    *,
    model: UpdateModel = UpdateModel.ADVANCED_ROLLING_UPDATE,
    max_unavailable: int | str = "10%",
    group: str | None = None,
    workload: str | None = None,
    spec_hash: str = SPEC,
) -> DesiredDaemonSet:
    return DesiredDaemonSet(
        namespace=NS,
        name=name,
        workload=workload or name,
        group=group,
        model=model,
        max_unavailable=max_unavailable,
        min_ready_seconds=0,
        manifest_json="{}",
        spec_hash=spec_hash,
        source=SourceRef(file="app.yaml", line=1),
        owner=OWNER,
    )


def state(
    *daemonsets: DesiredDaemonSet,
    groups: tuple[NodeGroup, ...] = (),
    prune: bool = True,
    allow_empty: bool = False,
) -> DesiredState:
    return DesiredState(
        revision="rev",
        config=RepoConfig(prune_workloads=prune, owner=OWNER, prune_allow_empty=allow_empty),
        groups=groups,
        daemonsets=daemonsets,
    )


def group(name: str, **labels: str) -> NodeGroup:
    return NodeGroup(
        name=name,
        selector=LabelSelector(match_labels=tuple(sorted(labels.items()))),
        nodes=(),
        source=SourceRef(file="groups.yaml", line=1),
    )


def observed_ds(
    name: str = "app",
    *,
    revision: str = NEW,
    generation: int = 2,
    min_ready: int = 0,
    spec_hash: str = SPEC,
    labels: dict[str, str] | None = None,
) -> DaemonSetObs:
    return DaemonSetObs(
        namespace=NS,
        name=name,
        uid=f"uid-{name}",
        labels=labels if labels is not None else dict(OURS),
        annotations={SPEC_HASH_ANNOTATION: spec_hash},
        update_strategy="OnDelete",
        rolling_max_unavailable=None,
        min_ready_seconds=min_ready,
        template_generation=generation,
        current_revision=revision,
    )


def node(name: str, *, ready: bool = True, **labels: str) -> Node:
    return Node(name=name, labels=labels, ready=ready, ready_since=NOW - 3600)


def pod(
    node_name: str,
    *,
    owner: str = "app",
    revision: str = OLD,
    generation: int | None = 1,
    ready: bool = True,
    ready_since: float = NOW - 600,
    deleting: bool = False,
    name: str | None = None,
    conditions: tuple[Condition, ...] = (),
) -> PodObs:
    pod_name = name or f"{owner}-{node_name}-{revision[:3]}"
    return PodObs(
        namespace=NS,
        name=pod_name,
        uid=f"uid-{pod_name}",
        node=node_name,
        owner_kind="DaemonSet",
        owner_name=owner,
        owner_uid=f"uid-{owner}",
        revision_hash=revision,
        template_generation=generation,
        ready=ready,
        ready_since=ready_since if ready else None,
        deleting=deleting,
        conditions=conditions,
    )


def fleet(
    count: int,
    *,
    not_ready: tuple[int, ...] = (),
    revision: str = OLD,
    prefix: str = "n",
) -> tuple[tuple[Node, ...], tuple[PodObs, ...]]:
    """`count` nodes n00…, each hosting one available pod of `app` at `revision`."""
    nodes = tuple(node(f"{prefix}{i:02d}", ready=i not in not_ready) for i in range(count))
    pods = tuple(
        pod(n.name, revision=revision, ready=n.ready, generation=2 if revision == NEW else 1)
        for n in nodes
    )
    return nodes, pods


def observed(
    nodes: tuple[Node, ...], pods: tuple[PodObs, ...], *daemonsets: DaemonSetObs
) -> Observed:
    return Observed(now=NOW, nodes=nodes, daemonsets=daemonsets or (observed_ds(),), pods=pods)
