"""The loop's Prometheus metrics: recorded from a real pass on the simulated cluster, served
over HTTP on loopback."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from prometheus_client import generate_latest

from gitops_edge.cluster.sim import SimCluster
from gitops_edge.metrics import LoopMetrics
from gitops_edge.planner import plan
from gitops_edge.reconcile import load_desired, reconcile_once

EXAMPLE = Path(__file__).resolve().parent.parent / "example-repo"


def test_metrics_after_a_pass_and_over_http() -> None:
    cluster = SimCluster.create(
        groups=[("hangzhou", 3), ("shanghai", 2)], group_label_keys=("apps.openyurt.io/nodepool",)
    )
    cluster.set_node_ready("shanghai-02", False)
    desired = load_desired(EXAMPLE, revision="abc123")
    outcome = reconcile_once(desired, cluster)
    cluster.tick(30)
    observed = cluster.observe()
    metrics = LoopMetrics()
    metrics.record_pass(
        desired=desired, observed=observed, plan=plan(desired, observed), seconds=0.25
    )
    metrics.record_error("GitSourceError")
    text = generate_latest(metrics.registry).decode()
    assert "gitops_edge_passes_total 1.0" in text
    assert 'gitops_edge_nodes{group="shanghai",state="NotReady"} 1.0' in text
    assert 'gitops_edge_nodes{group="hangzhou",state="Ready"} 3.0' in text
    assert 'gitops_edge_pods{group="hangzhou",state="current",workload="log-agent"} 3.0' in text
    assert 'gitops_edge_last_applied_revision_info{revision="abc123"} 1.0' in text
    assert 'gitops_edge_errors_total{kind="GitSourceError"} 1.0' in text
    assert "gitops_edge_pass_duration_seconds_count 1.0" in text
    assert outcome.results
    server = metrics.serve("127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert b"gitops_edge_passes_total 1.0" in response.read()
    finally:
        server.shutdown()
        server.server_close()
