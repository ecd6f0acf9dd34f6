"""`diff` previews node-job changes: added (created next pass), changed (immutable: reported,
not applied), removed (kept, or deleted when spec.prune.jobs)."""

from __future__ import annotations

from dataclasses import replace

from planner_fixtures import state
from test_planner_jobs import desired_job

from gitops_edge.desired import RepoConfig
from gitops_edge.diff import compare


def test_job_changes_are_previewed() -> None:
    base = replace(state(), jobs=(desired_job("kept"), desired_job("changed"), desired_job("gone")))
    head = replace(
        state(),
        jobs=(desired_job("kept"), desired_job("changed", spec_hash="h2"), desired_job("new")),
    )
    report = compare(base, head, {})
    assert report.jobs == (
        "NodeUpgradeJob changed changed: jobs are immutable, the change will be reported and not "
        "applied (use a new name)",
        "NodeUpgradeJob new added: created on the next pass",
        "NodeUpgradeJob gone removed: stays in the cluster (spec.prune.jobs is false)",
    )
    pruning = replace(head, config=RepoConfig(prune_jobs=True))
    assert (
        compare(base, pruning, {}).jobs[-1].endswith("deleted on the next pass (spec.prune.jobs)")
    )
