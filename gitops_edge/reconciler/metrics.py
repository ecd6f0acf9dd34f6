"""Prometheus metrics of the reconcile loop (opt-in, `--metrics-addr [HOST]:PORT`).

passes, pass duration (buckets up to 10 minutes), errors by kind (failed passes by the transient
error class they are one of; failed actions and plan errors by `reconciler.failures` kind;
every known kind has a series at 0 from the start), the time of the last successful pass,
whether the newest revision is invalid (and which), nodes by group and Ready state, NodeGroups
matching no node (a warning), per
DaemonSet (namespace, name, workload, group) its nodes by state, deferred nodes and whether it is
halted, node jobs and their node tasks by kind and state, drift found and restored, the last
applied spec revision, and the process (`process_*`, `python_*`). Own registry (no
process-wide globals). Label values that are not names (error kinds) are masked
(`redaction.redact`).
Side effects: `serve` listens on a socket in a background thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from gitops_edge.model.desired import DesiredState, NodeGroup
from gitops_edge.model.kinds import JOB_KINDS
from gitops_edge.model.nodejobs import (
    JOB_COMPLETED,
    JOB_FAILURE,
    JOB_IN_PROGRESS,
    JOB_INIT,
    NODE_FAILURE,
    NODE_IN_PROGRESS,
    NODE_PENDING,
    NODE_SUCCESSFUL,
    NODE_UNKNOWN,
)
from gitops_edge.model.observed import Node, Observed
from gitops_edge.model.plan import DaemonSetPlan, Plan
from gitops_edge.planner.index import LabelIndex, group_members
from gitops_edge.reconciler.changes import Change, changed, node_key
from gitops_edge.reconciler.failures import KINDS
from gitops_edge.reconciler.loop import Loaded
from gitops_edge.reports.plan_format import all_jobs
from gitops_edge.reports.redaction import redact

# A pass on a large fleet takes minutes: buckets reach 10 minutes.
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
NOT_CREATED = "NotCreated"  # a node job's state before it is created (or seen)
JOB_STATES = (NOT_CREATED, JOB_INIT, JOB_IN_PROGRESS, JOB_COMPLETED, JOB_FAILURE)
TASK_STATES = (NODE_PENDING, NODE_IN_PROGRESS, NODE_SUCCESSFUL, NODE_FAILURE, NODE_UNKNOWN)
FEW_NODES = 64  # more changed nodes than this: each group's nodes are counted afresh
NO_GROUP = "-"  # the group label of a DaemonSet that belongs to no node group
DAEMONSET_LABELS = ("namespace", "daemonset", "workload", "group")


class _Series:
    """The values last set on labelled gauges, so that a pass sets only the series whose value
    changed and removes those it no longer has (the same exposition as clearing and setting
    every series, without touching 10,000 DaemonSets' series at every pass)."""

    def __init__(self) -> None:
        self._last: dict[int, dict[tuple[str, ...], float]] = {}

    def update(self, gauge: Gauge, values: Mapping[tuple[str, ...], float]) -> None:
        """Make `gauge`'s series exactly `values` (label values in the gauge's label order)."""
        last = self._last.setdefault(id(gauge), {})
        for labels in [k for k in last if k not in values]:
            gauge.remove(*labels)
            del last[labels]
        for labels, value in values.items():
            if last.get(labels) != value:
                gauge.labels(*labels).set(value)
                last[labels] = value


def _counts_moved(
    counts: Mapping[tuple[str, ...], float],
    groups: Sequence[NodeGroup],
    diff: Sequence[Change[Node]],
) -> dict[tuple[str, ...], float]:
    """`counts` (each group's nodes by Ready state) after the nodes in `diff` changed."""
    out = dict(counts)
    for before, after in diff:
        for node, step in ((before, -1), (after, 1)):
            if node is None:
                continue
            state = "Ready" if node.ready else "NotReady"
            for group in groups:
                if group.contains(node.name, node.labels):
                    out[(group.name, state)] += step
    return out


class LoopMetrics:
    """`pass_errors`: the transient error classes a pass may fail with; a failed pass counts
    under the most specific of them it is an instance of (a `CloudUnreachableError` under
    `ClusterError`), so the `kind` label stays a small, known set."""

    def __init__(self, *, pass_errors: Sequence[type[BaseException]] = ()) -> None:
        self.registry = CollectorRegistry()
        self.pass_errors = tuple(pass_errors)
        r = self.registry
        ProcessCollector(registry=r)  # what the global default registry has, on ours
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.server: Any = None  # once served
        self._series = _Series()
        # (groups, nodes, counts) of the last pass's gitops_edge_nodes
        self._last_nodes: (
            tuple[Sequence[NodeGroup], Sequence[Node], dict[tuple[str, ...], float]] | None
        )
        self._last_nodes = None
        self.passes = Counter("gitops_edge_passes", "Reconcile passes run.", registry=r)
        self.duration = Histogram(
            "gitops_edge_pass_duration_seconds",
            "Duration of a reconcile pass.",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "gitops_edge_errors",
            "Failed passes, failed actions and plan errors, by kind.",
            ["kind"],
            registry=r,
        )
        for kind in (*KINDS, *(e.__name__ for e in self.pass_errors)):
            self.errors.labels(kind=kind)
        self.last_success = Gauge(
            "gitops_edge_last_successful_pass_timestamp_seconds",
            "When the last pass that reconciled a revision ended without error (Unix time; "
            "0 before the first).",
            registry=r,
        )
        self.invalid = Gauge(
            "gitops_edge_invalid_revision",
            "1 while the source's newest revision is invalid (the last good one is "
            "reconciled), else 0.",
            registry=r,
        )
        self.invalid_info = Gauge(
            "gitops_edge_invalid_revision_info",
            "The source's newest revision while it is invalid (value 1).",
            ["revision"],
            registry=r,
        )
        self.nodes = Gauge(
            "gitops_edge_nodes", "Nodes per group and Ready state.", ["group", "state"], registry=r
        )
        self.empty_groups = Gauge(
            "gitops_edge_nodegroup_empty",
            "1 while the NodeGroup matches no node of the cluster (a warning), else 0.",
            ["group"],
            registry=r,
        )
        self.daemonset_nodes = Gauge(
            "gitops_edge_daemonset_nodes",
            "Nodes hosting a pod of a DaemonSet, by state: current (only a new, available "
            "pod), outdated (an old pod), updating (the rest: a new pod not yet available, "
            "no live pod, several new pods).",
            [*DAEMONSET_LABELS, "state"],
            registry=r,
        )
        self.deferred = Gauge(
            "gitops_edge_daemonset_deferred_nodes",
            "NotReady nodes of a DaemonSet the last pass left alone (AdvancedRollingUpdate).",
            DAEMONSET_LABELS,
            registry=r,
        )
        self.halted = Gauge(
            "gitops_edge_daemonset_halted",
            "1 while a DaemonSet's group is halted (progress deadline), else 0.",
            DAEMONSET_LABELS,
            registry=r,
        )
        self.node_jobs = Gauge(
            "gitops_edge_node_jobs",
            "KubeEdge node jobs (the repository's and pre-pulls) by kind and state.",
            ["kind", "state"],
            registry=r,
        )
        self.node_job_nodes = Gauge(
            "gitops_edge_node_job_nodes",
            "Node tasks of KubeEdge node jobs by kind and state.",
            ["kind", "state"],
            registry=r,
        )
        self.drift = Counter(
            "gitops_edge_drift",
            "DaemonSets found drifted from the repository (changed in the cluster) and "
            "restored, per workload and group.",
            ["workload", "group"],
            registry=r,
        )
        self.drifted = Gauge(
            "gitops_edge_drifted_daemonsets",
            "DaemonSets the last pass found drifted from the repository.",
            registry=r,
        )
        self.revision = Gauge(
            "gitops_edge_last_applied_revision_info",
            "The spec revision the last pass reconciled (value 1).",
            ["revision"],
            registry=r,
        )

    def record_pass(
        self,
        *,
        desired: DesiredState,
        observed: Observed,
        plan: Plan,
        seconds: float,
        drifted: Sequence[DaemonSetPlan] = (),
    ) -> None:
        """`plan`: the cluster after the pass; `drifted`: the DaemonSets the pass found drifted."""
        self.passes.inc()
        for ds in drifted:
            self.drift.labels(workload=ds.workload, group=ds.group or NO_GROUP).inc()
        self.drifted.set(len(drifted))
        self.duration.observe(seconds)
        self._series.update(self.nodes, self._group_nodes(desired, observed))
        empty = {w.group for w in plan.empty_groups}
        self._series.update(
            self.empty_groups,
            {(g.name,): 1.0 if g.name in empty else 0.0 for g in desired.groups},
        )
        self._record_daemonsets(plan.daemonsets)
        self._record_jobs(plan)
        self.revision.clear()
        self.revision.labels(revision=desired.revision).set(1)

    def _group_nodes(
        self, desired: DesiredState, observed: Observed
    ) -> dict[tuple[str, ...], float]:
        """Each group's nodes by Ready state. While the groups are the same, the previous
        figures are updated from the few nodes that changed (a quiet watch-fed cache hands
        the same Node objects, and a node that turned Ready is one replaced object)."""
        last = self._last_nodes
        if last is not None and last[0] == desired.groups:
            diff = changed(last[1], observed.nodes, node_key)
            if len(diff) <= FEW_NODES:
                counts = _counts_moved(last[2], desired.groups, diff) if diff else last[2]
                self._last_nodes = (desired.groups, observed.nodes, counts)
                return counts
        # Members from a label index (set operations), not every group asked about every node.
        members = group_members(desired.groups, LabelIndex.of(observed.nodes))
        ready_nodes = {n.name for n in observed.nodes if n.ready}
        counts = {}
        for group in desired.groups:
            names = members[group.name]
            ready = len(names & ready_nodes)
            counts[(group.name, "Ready")] = ready
            counts[(group.name, "NotReady")] = len(names) - ready
        self._last_nodes = (desired.groups, observed.nodes, counts)
        return counts

    def _record_daemonsets(self, daemonsets: Iterable[DaemonSetPlan]) -> None:
        nodes: dict[tuple[str, ...], float] = {}
        deferred: dict[tuple[str, ...], float] = {}
        halted: dict[tuple[str, ...], float] = {}
        for ds in daemonsets:
            labels = (ds.namespace, ds.name, ds.workload, ds.group or NO_GROUP)
            p = ds.progress
            updating = max(0, p.nodes - p.current - p.outdated)
            nodes[(*labels, "current")] = p.current
            nodes[(*labels, "outdated")] = p.outdated
            nodes[(*labels, "updating")] = updating
            deferred[labels] = p.deferred
            halted[labels] = 1 if ds.halted else 0
        self._series.update(self.daemonset_nodes, nodes)
        self._series.update(self.deferred, deferred)
        self._series.update(self.halted, halted)

    def _record_jobs(self, plan: Plan) -> None:
        jobs = {(kind, state): 0 for kind in JOB_KINDS for state in JOB_STATES}
        tasks = {(kind, state): 0 for kind in JOB_KINDS for state in TASK_STATES}
        for job in all_jobs(plan):
            key = (job.kind, job.phase or NOT_CREATED)
            jobs[key] = jobs.get(key, 0) + 1
            for node in job.nodes:
                tasks[job.kind, node.phase] = tasks.get((job.kind, node.phase), 0) + 1
        self._series.update(self.node_jobs, {k: float(v) for k, v in jobs.items()})
        self._series.update(self.node_job_nodes, {k: float(v) for k, v in tasks.items()})

    def record_loaded(self, loaded: Loaded) -> None:
        """What the source yielded this pass: a valid revision, or an invalid one."""
        self.invalid_info.clear()
        if loaded.desired is None:
            self.invalid_info.labels(revision=redact(loaded.revision)).set(1)
        self.invalid.set(0 if loaded.desired is not None else 1)

    def record_success(self) -> None:
        """A pass reconciled a revision and ended without error."""
        self.last_success.set_to_current_time()

    def record_failed_pass(self, error: BaseException) -> None:
        """A pass failed with a transient error: counted under its class among `pass_errors`."""
        kind = next((e for e in type(error).__mro__ if e in self.pass_errors), type(error))
        self.record_error(kind.__name__)

    def record_error(self, kind: str) -> None:
        self.errors.labels(kind=redact(kind)).inc()

    def record_failures(self, counts: Mapping[str, int]) -> None:
        """Failed actions and plan errors of one pass, counted by kind."""
        for kind, count in counts.items():
            self.errors.labels(kind=redact(kind)).inc(count)

    def serve(self, host: str, port: int) -> Any:
        """Start the /metrics endpoint; returns the server (its port: server.server_port)."""
        self.server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return self.server
