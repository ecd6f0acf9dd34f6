"""A crash mid-pass never loses or exceeds the budget on restart: the planner keeps no state of
its own, so the next pass recounts what the interrupted one already took down."""

from __future__ import annotations

from pathlib import Path

from test_rollout_properties import desired_state

from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model.plan import DeletePod
from gitops_edge.planner import plan
from gitops_edge.reconciler.apply import apply_actions
from gitops_edge.reconciler.reconcile import reconcile_once


def test_pass_interrupted_after_some_deletions_resumes_within_budget(tmp_path: Path) -> None:
    state_file = tmp_path / "fleet.json"
    groups = ["g0"]
    v1 = desired_state(tmp_path, groups=groups, budget="30%", min_ready=0, version="1.0.0")
    v2 = desired_state(tmp_path, groups=groups, budget="30%", min_ready=0, version="2.0.0")
    SimCluster.init_file(state_file, SimCluster.create(namespaces=("edge",), groups=[("g0", 10)]))
    with SimCluster.open(state_file) as cluster:
        reconcile_once(v1, cluster)
        cluster.tick(30)
        reconcile_once(v2, cluster)  # the DaemonSet update and the first 3 deletions
        cluster.tick(30)
    # The next pass plans 3 deletions; the process dies after carrying out the first one.
    with SimCluster.open(state_file) as cluster:
        first = plan(v2, cluster.observe())
        deletes = [a for a in first.actions if isinstance(a, DeletePod)]
        assert len(deletes) == 3
        apply_actions(deletes[:1], cluster)
    # Restart: a new process, a fresh plan from what the cluster looks like now.
    with SimCluster.open(state_file) as cluster:
        again = plan(v2, cluster.observe())
        ds = again.daemonsets[0]
        assert ds.budget is not None
        assert ds.budget.unavailable == 1  # the pod the crashed pass deleted is still starting
        assert ds.budget.deletions == 2  # 3 − 1: the budget is neither lost nor exceeded
        assert deletes[0].name not in {a.name for a in ds.actions}
