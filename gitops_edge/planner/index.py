"""Lookups over one observation, built once per `plan()` call: nodes by name, DaemonSets by
identity, pods by owning DaemonSet, node-group membership, and the Ready nodes each DaemonSet
should run a pod on.

Pure: no I/O. Everything here is linear in the size of the observation, so planning stays fast
at fleet scale (10,000 nodes, 200,000 pods).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from gitops_edge.model.desired import LabelSelector, NodeGroup
from gitops_edge.model.observed import DaemonSetObs, JobObs, Node, Observed, PodObs, PullJobObs
from gitops_edge.model.placement import NODE_NAME_FIELD, REPELLING_EFFECTS, Placement, Requirement

DAEMONSET_KIND = "DaemonSet"
Key = tuple[str, str]  # (namespace, name)
NodeChange = tuple[Node | None, Node | None]  # (before, after); None: absent
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LabelIndex:
    """Node names: all, by (label key, value), by label key; built once per plan."""

    everyone: frozenset[str]
    by_label: Mapping[tuple[str, str], set[str]]
    by_key: Mapping[str, set[str]]

    @classmethod
    def of(cls, nodes: Iterable[Node]) -> LabelIndex:
        everyone: set[str] = set()
        by_label: dict[tuple[str, str], set[str]] = defaultdict(set)
        by_key: dict[str, set[str]] = defaultdict(set)
        for node in nodes:
            everyone.add(node.name)
            for key, value in node.labels.items():
                by_label[(key, value)].add(node.name)
                by_key[key].add(node.name)
        return cls(everyone=frozenset(everyone), by_label=by_label, by_key=by_key)

    def changed(self, changes: Iterable[NodeChange]) -> LabelIndex:
        """The index after `changes` ((before, after) of each node added, removed or changed;
        None: absent), equal to `LabelIndex.of` the nodes after them. This index is left as it
        is: only the sets of the labels the changed nodes carry (carried) are copied."""
        changes = list(changes)
        by_label, by_key = _CopyOnWrite(self.by_label), _CopyOnWrite(self.by_key)
        gone = [b for b, _ in changes if b is not None]
        came = [a for _, a in changes if a is not None]
        for node in gone:
            for key, value in node.labels.items():
                by_label.own((key, value)).discard(node.name)
                by_key.own(key).discard(node.name)
        for node in came:
            for key, value in node.labels.items():
                by_label.own((key, value)).add(node.name)
                by_key.own(key).add(node.name)
        gone_names, came_names = {n.name for n in gone}, {n.name for n in came}
        everyone = self.everyone
        if gone_names != came_names:  # some node added or removed (not only changed)
            everyone = frozenset((everyone - gone_names) | came_names)
        return LabelIndex(everyone=everyone, by_label=by_label.done(), by_key=by_key.done())


class _CopyOnWrite(Generic[T]):
    """A copy of an index of name sets whose sets are copied before their first edit (the
    original and its sets are left as they are); `done()` drops the sets left empty."""

    def __init__(self, index: Mapping[T, set[str]]) -> None:
        self.index = dict(index)
        self.owned: set[T] = set()

    def own(self, item: T) -> set[str]:
        if item not in self.owned:
            self.owned.add(item)
            self.index[item] = set(self.index.get(item, ()))
        return self.index[item]

    def done(self) -> dict[T, set[str]]:
        for item in self.owned:
            if not self.index[item]:
                del self.index[item]
        return self.index


@dataclass(frozen=True, slots=True)
class FleetIndex:
    nodes: Mapping[str, Node]
    daemonsets: Mapping[Key, DaemonSetObs]
    pods_by_owner: Mapping[str, tuple[PodObs, ...]]  # by the controller ownerReference's uid
    pull_jobs: Mapping[Key, PullJobObs]  # (namespace, Job name)
    node_jobs: Mapping[Key, JobObs]  # KubeEdge jobs by (kind, name)
    job_versions: tuple[str, ...]  # operations.kubeedge.io versions served
    labels: LabelIndex
    ready_tainted: frozenset[str]  # Ready nodes with a NoSchedule/NoExecute taint
    ready_nodes: frozenset[str]
    # Ready eligible nodes per placement, filled as DaemonSets are planned (same answer for
    # every DaemonSet rendered for one group).
    _eligible: dict[Placement, frozenset[str]] = field(default_factory=dict)

    def pods_of(self, ds: DaemonSetObs) -> tuple[PodObs, ...]:
        """The pods `ds` controls (matched by uid, never by name: a DaemonSet deleted and
        created again under the same name does not own its predecessor's pods)."""
        return self.pods_by_owner.get(ds.uid, ()) if ds.uid else ()

    def ready_eligible(self, ds: DaemonSetObs) -> frozenset[str]:
        """The Ready nodes the DaemonSet controller should run a pod of `ds` on: its template's
        nodeSelector and required node affinity match, and every NoSchedule/NoExecute taint is
        tolerated (DESIGN §2, issue 14: such a node without a live pod counts unavailable)."""
        placement = ds.placement
        found = self._eligible.get(placement)
        if found is None:
            fits = _fitting(placement, self.labels) & self.ready_nodes
            untolerated = {
                n
                for n in fits & self.ready_tainted
                if not placement.tolerates(self.nodes[n].taints)
            }
            found = self._eligible[placement] = frozenset(fits - untolerated)
        return found


@dataclass(frozen=True, slots=True)
class NodeIndex:
    """The lookups over the nodes alone (what a pass whose nodes did not change may reuse)."""

    nodes: Mapping[str, Node]
    labels: LabelIndex
    ready_tainted: frozenset[str]
    ready_nodes: frozenset[str]

    @classmethod
    def of(cls, nodes: Iterable[Node]) -> NodeIndex:
        nodes = tuple(nodes)
        return cls(
            nodes={n.name: n for n in nodes},
            labels=LabelIndex.of(nodes),
            ready_nodes=frozenset(n.name for n in nodes if n.ready),
            ready_tainted=frozenset(n.name for n in nodes if _ready_tainted(n)),
        )

    def changed(self, changes: Iterable[NodeChange]) -> NodeIndex:
        """The index after `changes` ((before, after) of each node added, removed or changed),
        equal to `NodeIndex.of` the nodes after them, made from this one (left as it is) at the
        cost of the nodes that changed and a copy of the name lookups, not of every label."""
        changes = list(changes)
        nodes, ready, tainted = dict(self.nodes), set(self.ready_nodes), set(self.ready_tainted)
        for before, _ in changes:
            if before is not None:
                nodes.pop(before.name, None)
                ready.discard(before.name)
                tainted.discard(before.name)
        for _, after in changes:
            if after is not None:
                nodes[after.name] = after
                if after.ready:
                    ready.add(after.name)
                if _ready_tainted(after):
                    tainted.add(after.name)
        return NodeIndex(
            nodes=nodes,
            labels=self.labels.changed(changes),
            ready_nodes=frozenset(ready),
            ready_tainted=frozenset(tainted),
        )


def _ready_tainted(node: Node) -> bool:
    return node.ready and any(t.effect in REPELLING_EFFECTS for t in node.taints)


def indexed_pod(pod: PodObs) -> bool:
    """Whether `pod` belongs in `FleetIndex.pods_by_owner`: a DaemonSet's pod with a node (a pod
    whose node cannot be determined, unbound and not pinned, belongs to no node and must not
    count in any budget)."""
    return pod.owner_kind == DAEMONSET_KIND and bool(pod.owner_uid) and bool(pod.node)


def index_observed(
    observed: Observed,
    *,
    skip_owners: AbstractSet[str] = frozenset(),
    pods_by_owner: Mapping[str, tuple[PodObs, ...]] | None = None,
    nodes: NodeIndex | None = None,
) -> FleetIndex:
    """The lookups over `observed`; the pods of the DaemonSets whose uid is in `skip_owners`
    (those whose plans are reused, not planned) are left out. `pods_by_owner` and `nodes`, when
    given, are the caller's (equal to what would be computed from `observed`, kept between
    passes by the incremental planner): the pods and nodes are then not walked."""
    if pods_by_owner is None:
        pods: dict[str, list[PodObs]] = defaultdict(list)
        for pod in observed.pods:
            if (
                pod.owner_kind == DAEMONSET_KIND
                and pod.owner_uid
                and pod.node
                and pod.owner_uid not in skip_owners
            ):
                pods[pod.owner_uid].append(pod)
        pods_by_owner = {key: tuple(value) for key, value in pods.items()}
    if nodes is None:
        nodes = NodeIndex.of(observed.nodes)
    return FleetIndex(
        nodes=nodes.nodes,
        daemonsets={(d.namespace, d.name): d for d in observed.daemonsets},
        pods_by_owner=pods_by_owner,
        pull_jobs={(j.namespace, j.name): j for j in observed.pull_jobs},
        node_jobs={(j.kind, j.name): j for j in observed.jobs},
        job_versions=observed.job_versions,
        labels=nodes.labels,
        ready_nodes=nodes.ready_nodes,
        ready_tainted=nodes.ready_tainted,
    )


def _fitting(placement: Placement, labels: LabelIndex) -> frozenset[str]:
    """Nodes matching the placement's nodeSelector and required node affinity, from the label
    index (the same answer as `Placement.fits`). Sets are intersected smallest first, so a
    DaemonSet pinned to a 10-node group costs about 10 operations, not a fleet-sized copy."""
    sets: list[AbstractSet[str]] = [
        labels.by_label.get(item, frozenset()) for item in placement.node_selector
    ]
    if placement.terms is not None:
        matched: set[str] = set()
        for term in placement.terms:
            if not term.expressions and not term.fields:
                continue  # an empty term matches nothing
            parts: list[AbstractSet[str]] = [
                _requirement_nodes(req, labels) for req in term.expressions
            ]
            names = [r for r in term.fields if r.key == NODE_NAME_FIELD and r.operator == "In"]
            parts += [frozenset(r.values) & labels.everyone for r in names]
            in_term = _intersect(parts, labels.everyone)
            others = [r for r in term.fields if r not in names]
            matched |= {n for n in in_term if all(r.holds(_field(n, r)) for r in others)}
        sets.append(matched)
    return frozenset(_intersect(sets, labels.everyone))


def _field(name: str, req: Requirement) -> str | None:
    return name if req.key == NODE_NAME_FIELD else None


def _intersect(sets: list[AbstractSet[str]], everyone: frozenset[str]) -> AbstractSet[str]:
    if not sets:
        return everyone
    sets.sort(key=len)
    out = set(sets[0])
    for other in sets[1:]:
        out &= other
    return out


class _Requirement(Protocol):
    """A label requirement: `placement.Requirement` or `desired.LabelRequirement`."""

    @property
    def key(self) -> str: ...
    @property
    def operator(self) -> str: ...
    @property
    def values(self) -> tuple[str, ...]: ...


def _requirement_nodes(req: _Requirement, labels: LabelIndex) -> set[str]:
    if req.operator in ("In", "NotIn"):
        with_value: set[str] = set().union(
            *(labels.by_label.get((req.key, v), ()) for v in req.values)
        )
        return with_value if req.operator == "In" else set(labels.everyone - with_value)
    if req.operator == "Exists":
        return set(labels.by_key.get(req.key, set()))
    if req.operator == "DoesNotExist":
        return set(labels.everyone - labels.by_key.get(req.key, set()))
    if req.operator in ("Gt", "Lt") and isinstance(req, Requirement):
        return {  # compare each value held under the key
            n
            for (key, value), names in labels.by_label.items()
            if key == req.key and req.holds(value)
            for n in names
        }
    return set()  # an unknown operator matches nothing (as LabelRequirement.matches)


def group_members(groups: Iterable[NodeGroup], labels: LabelIndex) -> dict[str, frozenset[str]]:
    """Node names in each group, computed once per plan from the plan's label index
    (`FleetIndex.labels`). Each matchLabels entry and each expression (In, NotIn, Exists,
    DoesNotExist) is an exact set of nodes, and a selector is their intersection, so 100 groups
    over 10,000 nodes cost set operations, not 100 scans."""
    out: dict[str, frozenset[str]] = {}
    for group in groups:
        members = {n for n in group.nodes if n in labels.everyone}
        if group.selector is not None:
            members |= _selected(group.selector, labels)
        out[group.name] = frozenset(members)
    return out


def _selected(selector: LabelSelector, labels: LabelIndex) -> set[str]:
    """The nodes a selector matches (the same answer as `LabelSelector.matches`)."""
    sets = [labels.by_label.get(item, set()) for item in selector.match_labels]
    sets.extend(_requirement_nodes(req, labels) for req in selector.match_expressions)
    if not sets:
        return set(labels.everyone)  # the empty selector matches every node
    sets.sort(key=len)
    return set.intersection(*sets)
