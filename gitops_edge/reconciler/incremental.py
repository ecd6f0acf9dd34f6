"""Incremental passes: replan only the DaemonSets whose inputs changed since the previous plan,
and reuse the previous plan of the others (issue 20, item 1).

`IncrementalPlanner.plan(desired, observed)` gives the same `Plan` as `planner.plan` (the
property test in tests/test_incremental.py checks it after every pass of random event
sequences); it decides which DaemonSet plans can be reused and hands them to the pure
`planner.plan_reusing`. A DaemonSet is replanned when, since its plan was made:
- its desired value changed (a new spec, group, policy, window), or the repository config or
  node groups changed (everything is replanned);
- its observed DaemonSet changed (spec, annotations, newest ControllerRevision), one of its
  pods was created, updated or deleted;
- a node changed (readiness, labels, taints) that hosts one of its pods, that its template may
  run on (before or after), or that is (or was) a member of its node group (a group overlap
  error names only nodes of the DaemonSet's own group);
- its plan's `valid until` time passed: the first moment after planning at which a time-based
  rule could decide otherwise (a pod becoming available after minReadySeconds, a wave's bake
  ending, a progress deadline, a maintenance window opening or closing);
- its plan had actions: a plan that moves pods is always made from the newest observation, so
  a budget (per DaemonSet, DESIGN §2) is never spent from a reused plan;
- another DaemonSet of its workload is replanned and the workload has waves (a wave waits for
  the earlier ones);
- anything the plan of every DaemonSet may read changed: KubeEdge node jobs, pre-pull Jobs, the
  served job API versions, whether OpenYurt is installed; or the clock went backwards.
When unsure, it replans. Every `full_every` passes everything is replanned anyway (the safety
net, `--full-replan-every`). What changed is found by comparing the observation with the
previous one, object by object: objects the watch-fed cache did not replace are the same
Python objects, so an unchanged object costs an identity check. The planner's index of the pods
(by owning DaemonSet) and of the nodes (by name and label) is kept between passes too: the
pods' part (with the pods on each node) and the nodes' part are updated from what changed, and
both are rebuilt from scratch at every full replan.
Side effects: none beyond its own memory (the previous plan and observation).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from gitops_edge.model.desired import DesiredDaemonSet, DesiredState, NodeGroup
from gitops_edge.model.maintenance import next_start, open_at
from gitops_edge.model.observed import DaemonSetObs, Node, Observed, PodObs
from gitops_edge.model.plan import DaemonSetPlan, Plan
from gitops_edge.planner import plan_reusing
from gitops_edge.planner.index import NodeIndex, indexed_pod
from gitops_edge.reconciler.changes import Change, changed, node_key, pod_key
from gitops_edge.reconciler.fleet_counts import FleetCounts

Key = tuple[str, str]  # (namespace, name)
DEFAULT_FULL_EVERY = 10


@dataclass(frozen=True, slots=True)
class _Memo:
    """The previous plan and what it was made from."""

    desired: DesiredState
    observed: Observed
    plans: Mapping[Key, DaemonSetPlan]
    valid_until: Mapping[Key, float]


class IncrementalPlanner:
    """Plans pass after pass, reusing what did not change (module docstring). `full_every`:
    every this many passes (counted by `begin_pass`) everything is replanned; 1 replans
    everything every pass. `planned` and `reused` count DaemonSet plans made and reused."""

    def __init__(self, *, full_every: int = DEFAULT_FULL_EVERY) -> None:
        if full_every < 1:
            raise ValueError("full_every must be at least 1")
        self.full_every = full_every
        self.planned = 0
        self.reused = 0
        self._passes_since_full = 0
        self._memo: _Memo | None = None
        # The planner's index of the last observation's pods and nodes, kept between passes and
        # updated from what changed (the full replan rebuilds both from scratch).
        self._pods = _PodIndex()
        self._nodes: NodeIndex | None = None
        self._fleet = FleetCounts()  # the plan's distinct-node figures, counted incrementally

    def begin_pass(self) -> None:
        """A pass starts: counts towards the next full replan."""
        self._passes_since_full += 1

    def plan(self, desired: DesiredState, observed: Observed) -> Plan:
        memo = self._memo
        if memo is None or self._passes_since_full >= self.full_every:
            self._passes_since_full = 0
            reuse: dict[Key, DaemonSetPlan] = {}
            self._pods.rebuild(observed.pods)
            self._nodes = NodeIndex.of(observed.nodes)
            self._fleet.reset()
        else:
            pods = changed(memo.observed.pods, observed.pods, pod_key)
            nodes = changed(memo.observed.nodes, observed.nodes, node_key)
            self._pods.update(pods)
            if self._nodes is None:
                self._nodes = NodeIndex.of(observed.nodes)
            elif nodes:
                self._nodes = self._nodes.changed(nodes)
            reuse = _reusable(
                memo,
                desired=desired,
                observed=observed,
                pods=pods,
                nodes=nodes,
                pod_owners=self._pods.owners_on,
            )
        result = plan_reusing(
            desired,
            observed,
            reuse=reuse,
            pods_by_owner=self._pods.tuples,
            nodes=self._nodes,
            fleet_of=self._fleet.progress,
        )
        fresh = [p for p in result.daemonsets if (p.namespace, p.name) not in reuse]
        self.planned += len(fresh)
        self.reused += len(reuse)
        valid = {k: memo.valid_until[k] for k in reuse} if memo is not None else {}
        valid.update(
            _valid_until(fresh, desired=desired, observed=observed, pods_by_owner=self._pods.tuples)
        )
        self._memo = _Memo(
            desired=desired,
            observed=observed,
            plans={(p.namespace, p.name): p for p in result.daemonsets},
            valid_until=valid,
        )
        return result

    __call__ = plan


class _PodIndex:
    """The DaemonSet pods of an observation by owner uid (`FleetIndex.pods_by_owner`; a
    DaemonSet's pods are ordered by node and name wherever they are read, so the order here
    does not matter) and the owners of the pods on each node, kept current from the pods that
    changed between observations (so a pass after a node changed finds the DaemonSets with a
    pod on it without walking every pod)."""

    def __init__(self) -> None:
        self._by_owner: dict[str, dict[Key, PodObs]] = {}
        self._by_node: dict[str, dict[Key, str]] = {}  # node → {pod: owner uid}
        self.tuples: dict[str, tuple[PodObs, ...]] = {}

    def rebuild(self, pods: Iterable[PodObs]) -> None:
        self._by_owner, self._by_node, self.tuples = {}, {}, {}  # freed before the new is made
        by_owner: defaultdict[str, dict[Key, PodObs]] = defaultdict(dict)
        by_node: defaultdict[str, dict[Key, str]] = defaultdict(dict)
        for pod in filter(indexed_pod, pods):
            key, uid = (pod.namespace, pod.name), pod.owner_uid
            by_owner[uid][key] = pod
            by_node[pod.node][key] = uid
        self._by_owner, self._by_node = dict(by_owner), dict(by_node)
        self.tuples = {uid: tuple(p.values()) for uid, p in by_owner.items()}

    def update(self, changes: Iterable[Change[PodObs]]) -> None:
        touched: set[str] = set()
        for before, after in changes:
            if before is not None and indexed_pod(before):
                key = (before.namespace, before.name)
                self._by_owner.get(before.owner_uid, {}).pop(key, None)
                on_node = self._by_node.get(before.node)
                if on_node is not None:
                    on_node.pop(key, None)
                    if not on_node:
                        del self._by_node[before.node]
                touched.add(before.owner_uid)
            if after is not None and indexed_pod(after):
                key = (after.namespace, after.name)
                self._by_owner.setdefault(after.owner_uid, {})[key] = after
                self._by_node.setdefault(after.node, {})[key] = after.owner_uid
                touched.add(after.owner_uid)
        for uid in touched:
            pods = self._by_owner.get(uid)
            if pods:
                self.tuples[uid] = tuple(pods.values())
            else:
                self._by_owner.pop(uid, None)
                self.tuples.pop(uid, None)

    def owners_on(self, nodes: Iterable[str]) -> set[str]:
        """The owner uids of the pods on `nodes`."""
        return {uid for node in nodes for uid in self._by_node.get(node, {}).values()}


def _reusable(
    memo: _Memo,
    *,
    desired: DesiredState,
    observed: Observed,
    pods: Sequence[Change[PodObs]],
    nodes: Sequence[Change[Node]],
    pod_owners: Callable[[Iterable[str]], set[str]],
) -> dict[Key, DaemonSetPlan]:
    """The previous DaemonSet plans still valid for (`desired`, `observed`); `pods` and `nodes`:
    what changed between the previous observation and this one (`changes.changed`);
    `pod_owners`: the owner uids of this observation's pods on some nodes
    (`_PodIndex.owners_on`)."""
    before, now = memo.observed, observed.now
    if (
        now < before.now
        or desired.config != memo.desired.config
        or desired.groups != memo.desired.groups
        or observed.openyurt_installed != before.openyurt_installed
        or observed.job_versions != before.job_versions
        or observed.jobs != before.jobs
        or observed.pull_jobs != before.pull_jobs
    ):
        return {}
    wanted = {(d.namespace, d.name): d for d in desired.daemonsets}
    previous = {(d.namespace, d.name): d for d in memo.desired.daemonsets}
    dirty = {
        key
        for key, d in wanted.items()
        if key not in memo.plans
        or previous.get(key) != d
        or memo.valid_until.get(key, now) <= now  # a plan with actions is valid until its now
    }
    old_ds, new_ds = _by_key(before.daemonsets), _by_key(observed.daemonsets)
    dirty |= {k for k in wanted if not _same(old_ds.get(k), new_ds.get(k))}
    owners = {ds.uid: k for k, ds in (*old_ds.items(), *new_ds.items()) if ds.uid}
    dirty |= {owners[p.owner_uid] for pair in pods for p in pair if p and p.owner_uid in owners}
    if nodes:
        dirty |= _touched_by_nodes(
            nodes,
            wanted=wanted,
            groups=desired.groups,
            daemonsets=(old_ds, new_ds),
            owners=owners,
            pod_owners=pod_owners,
        )
    # A wave waits for the earlier waves of its workload.
    workloads = {
        (d.namespace, d.workload)
        for d in wanted.values()
        if d.rollout is not None and d.rollout.waves > 1 and (d.namespace, d.name) in dirty
    }
    return {
        key: memo.plans[key]
        for key, d in wanted.items()
        if key not in dirty and (d.namespace, d.workload) not in workloads
    }


def _same(a: object, b: object) -> bool:
    return a is b or a == b


def _by_key(daemonsets: Iterable[DaemonSetObs]) -> dict[Key, DaemonSetObs]:
    return {(d.namespace, d.name): d for d in daemonsets}


def _touched_by_nodes(
    changed: Sequence[Change[Node]],
    *,
    wanted: Mapping[Key, DesiredDaemonSet],
    groups: Sequence[NodeGroup],
    daemonsets: tuple[Mapping[Key, DaemonSetObs], Mapping[Key, DaemonSetObs]],
    owners: Mapping[str, Key],
    pod_owners: Callable[[Iterable[str]], set[str]],
) -> set[Key]:
    """The DaemonSets a changed node may matter to: those with a pod on it (`pod_owners`: the
    owner uids of the pods on some nodes), those whose template may run on it (before or
    after) and those whose group holds (held) it. Each group is asked once about the changed
    nodes, however many DaemonSets it has."""
    names = {n.name for pair in changed for n in pair if n is not None}
    dirty = {owners[uid] for uid in pod_owners(names) if uid in owners}
    versions = [n for pair in changed for n in pair if n is not None]
    holding = {g.name for g in groups if any(g.contains(n.name, n.labels) for n in versions)}
    for key, d in wanted.items():
        if d.group is not None and d.group in holding:
            dirty.add(key)
            continue
        old, new = daemonsets[0].get(key), daemonsets[1].get(key)
        placements = (
            old.placement if old else None,
            new.placement if new and new is not old else None,
        )
        if any(p is not None and p.fits(n.name, n.labels) for p in placements for n in versions):
            dirty.add(key)
    return dirty


def _valid_until(
    plans: Sequence[DaemonSetPlan],
    *,
    desired: DesiredState,
    observed: Observed,
    pods_by_owner: Mapping[str, tuple[PodObs, ...]],
) -> dict[Key, float]:
    """For each fresh plan: the first time after `observed.now` at which a time-based rule could
    plan it otherwise (`now` itself for a plan with actions: never reused). `pods_by_owner`: the
    observation's DaemonSet pods by owner uid (`_PodIndex.tuples`), the pods a plan reads."""
    now = observed.now
    wanted = {(d.namespace, d.name): d for d in desired.daemonsets}
    observed_by_key = _by_key(observed.daemonsets)
    out: dict[Key, float] = {}
    for p in plans:
        key = (p.namespace, p.name)
        if p.actions:
            out[key] = now
            continue
        d, ds = wanted[key], observed_by_key.get(key)
        pods = pods_by_owner.get(ds.uid, ()) if ds is not None and ds.uid else ()
        times = _moments(d, ds, pods, now=now)
        out[key] = min((t for t in times if t > now), default=float("inf"))
    return out


def _moments(
    d: DesiredDaemonSet, ds: DaemonSetObs | None, pods: Sequence[PodObs], *, now: float
) -> list[float]:
    """Times at which a time-based rule about `d` may change its verdict (some may be past)."""
    times: list[float] = []
    if d.window is not None:
        start = open_at(d.window, now)
        upcoming = start + d.window.duration_seconds if start is not None else None
        times.append(upcoming if upcoming is not None else next_start(d.window, now) or 0.0)
    if ds is None:
        return times
    min_ready = ds.min_ready_seconds
    bake = d.rollout.bake_seconds if d.rollout is not None else 0
    deadline = d.rollout.progress_deadline_seconds if d.rollout is not None else None
    for pod in pods:
        since = pod.ready_since or 0.0
        times += (since + min_ready, since + min_ready + bake)
        if deadline is not None and pod.created:
            times.append(pod.created + deadline)
    return times
