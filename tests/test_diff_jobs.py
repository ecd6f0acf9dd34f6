"""`diff` previews rollout policy (waves, windows, halts) and node-job changes: added (created
next pass), changed (immutable: reported, not applied), removed (kept, or deleted when
spec.prune.jobs)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from planner_fixtures import state
from test_planner_jobs import desired_job

from gitops_edge.model.desired import RepoConfig
from gitops_edge.reconciler.reconcile import load_desired
from gitops_edge.reports.diff import compare


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


def test_the_preview_shows_waves_windows_prepull_and_halts(tmp_path: Path) -> None:
    from test_rollout_policy import WAVES, WINDOW, write

    base, head = tmp_path / "base", tmp_path / "head"
    policy = WAVES.format(bake=600, rollback="true", wait="false")
    write(base, image="1", rollout=policy, windows={"north": WINDOW})
    write(head, image="2", rollout=policy, windows={"north": WINDOW})
    report = compare(load_desired(base, revision="b"), load_desired(head, revision="h"), {})
    details = {c.group: c.details for c in report.changes}
    assert "wave 1/2, bakes 600 s before the next" in details["canary"]
    assert "wave 2/2, starts after the earlier waves settle" in details["north"]
    assert "pods move only in its maintenance window 0 2 * * * (UTC) for 1h" in details["north"]
    assert (
        "halts when more than 0 new pods are not available 60 s after they start, then rolled "
        "back automatically" in details["south"]
    )
