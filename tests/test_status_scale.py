"""Status that scales (issue 17 item 5): per-node detail only for the exceptions (deferred
nodes, node-job tasks not successful), capped, with counts for the rest; a summary under 60,000
characters and bounded job files whatever the fleet size."""

from __future__ import annotations

import json
from dataclasses import replace

from planner_fixtures import desired_ds, state

from gitops_edge.model import nodejobs as nj
from gitops_edge.model.desired import DesiredState, UpdateModel
from gitops_edge.model.observed import NodeJobStatus
from gitops_edge.model.plan import DaemonSetPlan, Deferral, JobPlan, Plan, Progress
from gitops_edge.repository.diagnostics import Diagnostic
from gitops_edge.source.status import recorded_revision, status_files, summary_markdown

LIMIT = 60_000
REVISION = "a" * 40
MANIFEST = json.dumps(
    {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "reg/app:v2"}]}}}}
)


def group_plan(
    name: str, *, nodes: int, current: int, deferred: tuple[str, ...] = ()
) -> DaemonSetPlan:
    return DaemonSetPlan(
        namespace="edge",
        name=name,
        workload="app",
        group=name.removeprefix("app-"),
        model=UpdateModel.ADVANCED_ROLLING_UPDATE,
        revision="newhash",
        actions=(),
        deferred=tuple(Deferral(node=n, reason="NotReady") for n in deferred),
        progress=Progress(
            nodes=nodes,
            current=current,
            outdated=nodes - current,
            unavailable=0,
            deferred=len(deferred),
            not_ready=len(deferred),
        ),
        budget=None,
    )


def job(name: str, phases: dict[str, str], *, phase: str = nj.JOB_IN_PROGRESS) -> JobPlan:
    return JobPlan(
        kind="NodeUpgradeJob",
        name=name,
        api_version="operations.kubeedge.io/v1alpha1",
        source="jobs/upgrade.yaml:1",
        phase=phase,
        reason="",
        nodes=tuple(
            NodeJobStatus(node=node, phase=p, step="Upgrading", reason=f"{p} on {node}")
            for node, p in phases.items()
        ),
    )


def fleet_of(nodes: int, *, groups: int, jobs: int, job_nodes: int = 10_000) -> Plan:
    """`nodes` nodes in `groups` groups of one workload (1 in 10 NotReady, deferred), and `jobs`
    node jobs over every node (1 in 20 failed, 1 in 20 pending, the rest successful)."""
    per_group = nodes // groups
    daemonsets = []
    for g in range(groups):
        names = [f"node-{g:05d}-{i:05d}" for i in range(per_group)]
        deferred = tuple(names[::10])
        daemonsets.append(
            group_plan(
                f"app-g{g:05d}",
                nodes=per_group,
                current=per_group - len(deferred),
                deferred=deferred,
            )
        )
    everyone = [f"node-{i:05d}" for i in range(min(nodes, job_nodes))]
    phases = {
        n: nj.NODE_FAILURE
        if i % 20 == 0
        else nj.NODE_PENDING
        if i % 20 == 1
        else nj.NODE_SUCCESSFUL
        for i, n in enumerate(everyone)
    }
    return Plan(
        revision=REVISION,
        now=0.0,
        daemonsets=tuple(daemonsets),
        jobs=tuple(job(f"upgrade-{j:04d}", phases) for j in range(jobs)),
    )


def desired_for(plan: Plan) -> DesiredState:
    ds = [
        replace(desired_ds(d.name, workload=d.workload, group=d.group), manifest_json=MANIFEST)
        for d in plan.daemonsets
    ]
    return replace(state(*ds), revision=REVISION)


def test_the_summary_and_job_files_of_10000_nodes_stay_small() -> None:
    for groups, jobs, job_nodes in ((100, 3, 10_000), (10_000, 1, 10_000), (5, 400, 50)):
        plan = fleet_of(10_000, groups=groups, jobs=jobs, job_nodes=job_nodes)
        files = status_files(desired_for(plan), plan)
        summary = files["README.md"]
        assert len(summary) < LIMIT, (groups, jobs, len(summary))
        assert recorded_revision(summary) == REVISION  # the record survives any folding
        job_file = files["jobs/nodeupgradejob-upgrade-0000.json"]
        assert len(job_file) < 25_000, len(job_file)  # up to 10,000 nodes, 1 in 10 not successful


def test_a_summary_of_huge_errors_is_cut_and_keeps_its_revision_record() -> None:
    plan = fleet_of(100, groups=1, jobs=0)
    errors = tuple(f"error {i}: " + "x" * 5_000 for i in range(40))
    plan = replace(plan, daemonsets=(replace(plan.daemonsets[0], errors=errors),))
    summary = summary_markdown(desired_for(plan), plan)
    assert len(summary) < LIMIT
    assert "the summary is cut here" in summary
    assert recorded_revision(summary) == REVISION


def test_a_job_file_lists_only_the_nodes_not_successful_worst_first_with_counts() -> None:
    phases = {
        "n1": nj.NODE_SUCCESSFUL,
        "n2": nj.NODE_PENDING,
        "n3": nj.NODE_FAILURE,
        "n4": nj.NODE_SUCCESSFUL,
        "n5": nj.NODE_UNKNOWN,
        "n6": nj.NODE_IN_PROGRESS,
    }
    plan = Plan(revision=REVISION, now=0.0, daemonsets=(), jobs=(job("up", phases),))
    body = json.loads(status_files(desired_for(plan), plan)["jobs/nodeupgradejob-up.json"])
    assert [(n["node"], n["phase"]) for n in body["nodes"]] == [
        ("n3", "Failure"),
        ("n5", "Unknown"),
        ("n6", "InProgress"),
        ("n2", "Pending"),
    ]
    assert body["nodes"][0]["reason"] == "Failure on n3"
    assert body["counts"] == {
        "nodes": 6,
        "successful": 2,
        "failed": 1,
        "unknown": 1,
        "inProgress": 1,
        "pending": 1,
    }
    assert body["nodesNotListed"] == {"successful": 2, "more": 0}


def test_a_job_file_caps_the_nodes_it_lists_and_counts_the_rest() -> None:
    phases = {f"n{i:04d}": nj.NODE_PENDING for i in range(300)}
    phases |= {f"f{i:04d}": nj.NODE_FAILURE for i in range(150)}
    phases |= {f"s{i:04d}": nj.NODE_SUCCESSFUL for i in range(1_000)}
    plan = Plan(revision=REVISION, now=0.0, daemonsets=(), jobs=(job("up", phases),))
    body = json.loads(status_files(desired_for(plan), plan)["jobs/nodeupgradejob-up.json"])
    assert [n["node"] for n in body["nodes"]] == [f"f{i:04d}" for i in range(100)]
    assert body["nodesNotListed"] == {"successful": 1_000, "more": 350}
    assert body["counts"]["failed"] == 150 and body["counts"]["pending"] == 300


def test_a_workload_file_lists_deferred_nodes_up_to_a_cap_and_counts_them_all() -> None:
    names = tuple(f"node-{i:05d}" for i in range(10_000))
    plan = Plan(
        revision=REVISION,
        now=0.0,
        daemonsets=(group_plan("app-all", nodes=10_000, current=8_000, deferred=names[:2_000]),),
    )
    text = status_files(desired_for(plan), plan)["app.json"]
    assert len(text) < 10_000
    (group,) = json.loads(text)["groups"]
    assert group["deferred"] == list(names[:100])
    assert group["deferredNotListed"] == 1_900
    assert group["nodes"]["deferredNotReady"] == 2_000 and group["nodes"]["total"] == 10_000


def test_the_summary_folds_groups_beyond_the_cap_and_lists_those_not_done_first() -> None:
    done = [group_plan(f"app-d{i:03d}", nodes=10, current=10) for i in range(140)]
    behind = [
        group_plan(f"app-b{i:03d}", nodes=10, current=7, deferred=("x", "y")) for i in range(10)
    ]
    plan = Plan(revision=REVISION, now=0.0, daemonsets=(*done[:70], *behind, *done[70:]))
    summary = summary_markdown(desired_for(plan), plan)
    rows = [line for line in summary.splitlines() if line.startswith("| app |")]
    assert len(rows) == 100
    assert all(f"| app | b{i:03d} |" in summary for i in range(10))
    # 150 groups, 100 rows: the 50 folded are all current (10 nodes each)
    assert "… and 50 more groups: 500/500 nodes current, 0 deferred" in summary


def test_the_summary_lists_only_the_nodes_of_a_job_not_successful() -> None:
    phases = {f"ok{i:04d}": nj.NODE_SUCCESSFUL for i in range(500)}
    phases |= {f"bad{i:02d}": nj.NODE_FAILURE for i in range(12)}
    plan = Plan(revision=REVISION, now=0.0, daemonsets=(), jobs=(job("up", phases),))
    summary = summary_markdown(desired_for(plan), plan)
    assert "`ok0000`" not in summary
    assert [f"`bad{i:02d}`" in summary for i in range(12)] == [True] * 10 + [False] * 2
    assert "Not listed: 2 more not successful, 500 successful" in summary
    assert "| `up` | NodeUpgradeJob | v1alpha1 | InProgress | 500/512 | 12 | 0 | 0 | 0 |" in summary


def test_an_invalid_revision_with_many_problems_folds_them() -> None:
    plan = fleet_of(100, groups=1, jobs=0)
    problems = tuple(
        Diagnostic(file=f"f{i}.yaml", line=1, col=1, path="", message=f"problem {i}")
        for i in range(120)
    )
    summary = summary_markdown(desired_for(plan), plan, invalid=("b" * 40, problems))
    assert "problem 49" in summary and "problem 50" not in summary
    assert "… and 70 more problems" in summary
