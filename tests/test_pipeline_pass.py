"""The reconcile pipeline's pass (`reconciler.pipeline.Pipeline.run_pass`): what it observes and
plans for the reports after the pass (status, metrics)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import generate_latest

from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model.observed import Observed
from gitops_edge.reconciler.event_recorder import EventRecorder
from gitops_edge.reconciler.metrics import LoopMetrics
from gitops_edge.reconciler.pipeline import FolderSource, Pipeline, this_cluster

EXAMPLE = Path(__file__).resolve().parent.parent / "example-repo"


def _pipeline(cluster: SimCluster) -> tuple[Pipeline, LoopMetrics]:
    metrics = LoopMetrics()
    pipeline = Pipeline(
        source=FolderSource(EXAMPLE),
        clusters=this_cluster(cluster),
        events=EventRecorder(enabled=True, log=lambda *a, **k: None),
        metrics=metrics,
    )
    return pipeline, metrics


def test_a_pass_that_sends_nothing_reports_from_its_own_observation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With nothing to do, the fleet after the pass is the fleet the pass observed: the
    metrics are recorded from that observation and its plan, not from a second observe and
    plan of the whole fleet (which took half of a steady pass). A pass that sent actions
    observes again."""
    cluster = SimCluster.create(
        groups=[("hangzhou", 3), ("shanghai", 2)], group_label_keys=("apps.openyurt.io/nodepool",)
    )
    pipeline, metrics = _pipeline(cluster)
    desired = pipeline.load().desired
    assert desired is not None
    observed: list[Observed] = []
    observe = cluster.observe

    def counting() -> Observed:
        observed.append(observe())
        return observed[-1]

    monkeypatch.setattr(cluster, "observe", counting)
    first = pipeline.run_pass(desired)
    assert first.results, "the first pass creates the DaemonSets"
    assert len(observed) > len(first.plans)  # observed again after sending
    for _ in range(10):
        cluster.tick(60)
        outcome = pipeline.run_pass(desired)
        if not outcome.results:
            break
    else:
        pytest.fail("the example fleet never settled")
    before = len(observed)
    cluster.tick(60)
    outcome = pipeline.run_pass(desired)
    assert not outcome.results
    assert len(observed) - before == len(outcome.plans) == 1
    text = generate_latest(metrics.registry).decode()
    assert 'gitops_edge_nodes{group="hangzhou",state="Ready"} 3.0' in text
    assert "gitops_edge_passes_total" in text
