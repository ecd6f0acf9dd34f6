"""Prometheus metrics of the reconcile loop (opt-in, `--metrics-addr HOST:PORT`).

passes, pass duration, errors by kind (failed passes by exception type; failed actions and plan
errors by `gitops_edge.failures` kind), nodes by group and Ready state, pods current/outdated per
workload and group, drift found and restored, the last applied spec revision. Own registry (no
process-wide globals). Label values that are not names (error kinds) are masked
(`redaction.redact`).
Side effects: `serve` listens on a socket in a background thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from gitops_edge.desired import DesiredState
from gitops_edge.observed import Observed
from gitops_edge.plan import DaemonSetPlan, Plan
from gitops_edge.redaction import redact


class LoopMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.passes = Counter("gitops_edge_passes", "Reconcile passes run.", registry=r)
        self.duration = Histogram(
            "gitops_edge_pass_duration_seconds", "Duration of a reconcile pass.", registry=r
        )
        self.errors = Counter(
            "gitops_edge_errors",
            "Failed passes, failed actions and plan errors, by kind.",
            ["kind"],
            registry=r,
        )
        self.nodes = Gauge(
            "gitops_edge_nodes", "Nodes per group and Ready state.", ["group", "state"], registry=r
        )
        self.pods = Gauge(
            "gitops_edge_pods",
            "Nodes running a current / outdated pod, per workload and group.",
            ["workload", "group", "state"],
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
            self.drift.labels(workload=ds.workload, group=ds.group or "-").inc()
        self.drifted.set(len(drifted))
        self.duration.observe(seconds)
        self.nodes.clear()
        for group in desired.groups:
            members = [n for n in observed.nodes if group.contains(n.name, n.labels)]
            ready = sum(n.ready for n in members)
            self.nodes.labels(group=group.name, state="Ready").set(ready)
            self.nodes.labels(group=group.name, state="NotReady").set(len(members) - ready)
        self.pods.clear()
        for ds in plan.daemonsets:
            name = ds.group or "-"
            self.pods.labels(workload=ds.workload, group=name, state="current").set(
                ds.progress.current
            )
            self.pods.labels(workload=ds.workload, group=name, state="outdated").set(
                ds.progress.outdated
            )
        self.revision.clear()
        self.revision.labels(revision=desired.revision).set(1)

    def record_error(self, kind: str) -> None:
        self.errors.labels(kind=redact(kind)).inc()

    def record_failures(self, counts: Mapping[str, int]) -> None:
        """Failed actions and plan errors of one pass, counted by kind."""
        for kind, count in counts.items():
            self.errors.labels(kind=redact(kind)).inc(count)

    def serve(self, host: str, port: int) -> Any:
        """Start the /metrics endpoint; returns the server (its port: server.server_port)."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server
