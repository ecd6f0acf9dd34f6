"""KubeEdge's own rules for node jobs (issue 19 items 4-8), each test named after the upstream
rule it holds the simulated cluster and the reports to: the v1alpha2 controller-manager's
CheckTimeout and IsFinalPhase, the v1alpha2 NodeUpgradeJob action flow, and the v1alpha1
NodeUpgradeJob controller's node filter (needUpgrade, FilterVersion)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitops_edge.cli.main import main
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model import nodejobs as nj
from gitops_edge.model.observed import JobObs
from gitops_edge.model.plan import JobPlan, NodeJobStatus, Plan
from gitops_edge.reports.job_format import job_headline, job_to_dict
from gitops_edge.source.status import headline

STEP = 5.0
IMAGE = "kubeedge/installation-package"


def fleet(nodes: int) -> SimCluster:
    return SimCluster.create(namespaces=("edge",), groups=[("edge", nodes)], ready_delay=STEP)


def upgrade(version: str = nj.V1ALPHA2, **spec: Any) -> dict[str, Any]:
    extra = {"image": IMAGE} if version == nj.V1ALPHA2 else {}
    return {
        "apiVersion": nj.api_version(version),
        "kind": nj.UPGRADE,
        "metadata": {"name": "up"},
        "spec": {"version": "v1.17.0", **extra, **spec},
    }


def job(cluster: SimCluster, kind: str = nj.UPGRADE, name: str = "up") -> JobObs:
    return next(j for j in cluster.observe().jobs if (j.kind, j.name) == (kind, name))


def phases(obs: JobObs) -> dict[str, str]:
    return {n.node: n.phase for n in obs.nodes}


def flow(cluster: SimCluster, node: str) -> list[tuple[str, str]]:
    status = cluster._state.node_jobs[(nj.UPGRADE, "up")]["status"]
    entry = next(n for n in status["nodeStatus"] if n["nodeName"] == node)
    return [(f["action"], f["status"]) for f in entry.get("actionFlow", ())]


# ── item 4: timeoutSeconds ────────────────────────────────────────────────────────────────────


def test_upstream_v1alpha2_job_without_timeout_never_times_out() -> None:
    assert nj.job_spec(upgrade(nj.V1ALPHA2)).timeout_seconds is None
    assert nj.job_spec(upgrade(nj.V1ALPHA1)).timeout_seconds == 300  # webhook/controller default
    cluster = fleet(2)
    cluster.create_node_job(upgrade(nodeNames=["edge-01", "edge-02"], concurrency=2))
    cluster.tick(2)
    cluster.set_node_ready("edge-02", False)  # offline mid-step: the step never finishes
    cluster.tick(100_000)
    obs = job(cluster)
    assert phases(obs) == {"edge-01": nj.NODE_SUCCESSFUL, "edge-02": nj.NODE_IN_PROGRESS}
    assert obs.phase == nj.JOB_IN_PROGRESS


def test_upstream_v1alpha1_job_without_timeout_keeps_the_defaulted_300_seconds() -> None:
    cluster = fleet(2)
    cluster.create_node_job(upgrade(nj.V1ALPHA1, nodeNames=["edge-01", "edge-02"], concurrency=2))
    cluster.tick(2)
    cluster.set_node_ready("edge-02", False)
    cluster.tick(297)
    assert phases(job(cluster))["edge-02"] == nj.NODE_IN_PROGRESS
    cluster.tick(2)
    assert phases(job(cluster))["edge-02"] == nj.NODE_FAILURE


# ── item 5: a Pending task times out too ──────────────────────────────────────────────────────


def test_upstream_v1alpha2_pending_task_times_out_when_the_job_timeout_passes() -> None:
    cluster = fleet(2)
    cluster.create_node_job(
        upgrade(nodeNames=["edge-01", "edge-02"], concurrency=1, timeoutSeconds=60)
    )
    cluster.tick(1)
    cluster.set_node_ready("edge-02", False)  # waiting for the slot edge-01 holds
    cluster.tick(58)
    assert phases(job(cluster))["edge-02"] == nj.NODE_PENDING
    cluster.tick(2)  # no action yet: the deadline counts from the job's start
    obs = job(cluster)
    edge02 = next(n for n in obs.nodes if n.node == "edge-02")
    assert edge02.phase == nj.NODE_UNKNOWN and "timeout" in edge02.reason
    assert obs.phase == nj.JOB_FAILURE  # failureTolerate unset: 0


# ── item 6: the v1alpha2 NodeUpgradeJob action flow ───────────────────────────────────────────


def test_upstream_v1alpha2_upgrade_flow_is_check_backup_upgrade_without_confirmation() -> None:
    cluster = fleet(1)
    cluster.create_node_job(upgrade(nodeNames=["edge-01"]))
    cluster.tick(100)
    assert flow(cluster, "edge-01") == [("Check", "True"), ("BackUp", "True"), ("Upgrade", "True")]


def test_upstream_v1alpha2_confirmation_waits_at_waiting_confirmation_until_confirmed() -> None:
    cluster = fleet(1)
    cluster.create_node_job(upgrade(nodeNames=["edge-01"], requireConfirmation=True))
    cluster.tick(10_000)  # no timeoutSeconds: it waits for good
    obs = job(cluster)
    assert obs.nodes[0].phase == nj.NODE_IN_PROGRESS and obs.nodes[0].step == "WaitingConfirmation"
    assert flow(cluster, "edge-01") == [("Check", "True"), ("WaitingConfirmation", "True")]
    assert cluster.confirm_node_job("up") == ["edge-01"]
    cluster.tick(2 * STEP)
    assert job(cluster).phase == nj.JOB_COMPLETED
    assert [a for a, _ in flow(cluster, "edge-01")] == [
        "Check",
        "WaitingConfirmation",
        "BackUp",
        "Upgrade",
    ]


def test_upstream_v1alpha2_waiting_confirmation_times_out_from_its_own_action_time() -> None:
    cluster = fleet(1)
    cluster.create_node_job(
        upgrade(nodeNames=["edge-01"], requireConfirmation=True, timeoutSeconds=100)
    )
    cluster.tick(STEP + 99)  # WaitingConfirmation reported at 5 s: its deadline is 105
    assert job(cluster).nodes[0].phase == nj.NODE_IN_PROGRESS
    cluster.tick(2)
    assert job(cluster).nodes[0].phase == nj.NODE_UNKNOWN


def test_upstream_v1alpha2_failed_upgrade_is_followed_by_rollback() -> None:
    cluster = fleet(2)
    cluster.set_failing_upgrade("edge-01", True)
    cluster.create_node_job(upgrade(nodeNames=["edge-01", "edge-02"], failureTolerate="1"))
    cluster.tick(100)
    assert flow(cluster, "edge-01") == [
        ("Check", "True"),
        ("BackUp", "True"),
        ("Upgrade", "False"),
        ("RollBack", "True"),
    ]
    versions = {n.name: n.edge_version for n in cluster.observe().nodes}
    assert versions == {
        "edge-01": "v1.29.5-kubeedge-v1.15.1",
        "edge-02": "v1.29.5-kubeedge-v1.17.0",
    }
    edge01 = next(n for n in job(cluster).nodes if n.node == "edge-01")
    # upstream: RollBack is the flow's last action, its success ends the task Successful
    assert edge01.phase == nj.NODE_SUCCESSFUL and "rolled back" in edge01.reason


# ── item 7: the v1alpha1 NodeUpgradeJob node filter ───────────────────────────────────────────


def _set_version(cluster: SimCluster, node: str, kubelet_version: str) -> None:
    cluster._state.nodes[node]["status"]["nodeInfo"]["kubeletVersion"] = kubelet_version


def test_upstream_v1alpha1_skips_nodes_at_or_past_the_target_unparseable_or_upgrading() -> None:
    cluster = fleet(5)
    _set_version(cluster, "edge-01", "v1.29.5-kubeedge-v1.17.0")  # at the target
    _set_version(cluster, "edge-02", "v1.29.5-kubeedge-v1.18.2")  # past it
    _set_version(cluster, "edge-03", "v1.29.5")  # not {k8s}-kubeedge-{edgecore}
    labels = cluster._state.nodes["edge-04"]["metadata"]["labels"]
    labels["nodeupgradejob.operations.kubeedge.io/status"] = ""  # an upgrade in progress
    cluster.create_node_job(upgrade(nj.V1ALPHA1, labelSelector={"matchLabels": {}}))
    assert set(phases(job(cluster))) == {"edge-05"}
    # v1alpha2 has no such filter: every selected node gets a task
    cluster.create_node_job({**upgrade(nodeNames=["edge-01"]), "metadata": {"name": "up2"}})
    assert set(phases(job(cluster, name="up2"))) == {"edge-01"}


def test_upstream_v1alpha1_node_without_ready_condition_is_ready() -> None:
    cluster = fleet(2)
    conditions = cluster._state.nodes["edge-01"]["status"]["conditions"]
    conditions[:] = [c for c in conditions if c["type"] != "Ready"]
    cluster.create_node_job(upgrade(nj.V1ALPHA1, nodeNames=["edge-01", "edge-02"]))
    cluster.tick(100)
    assert phases(job(cluster)) == {"edge-01": nj.NODE_SUCCESSFUL, "edge-02": nj.NODE_SUCCESSFUL}
    # v1alpha2 (nodes.IsReadyNode) wants a Ready condition that is True: a failed node task
    cluster.create_node_job({**upgrade(nodeNames=["edge-01"]), "metadata": {"name": "up2"}})
    edge01 = job(cluster, name="up2").nodes[0]
    assert edge01.phase == nj.NODE_FAILURE and "not ready" in edge01.reason


# ── item 8: which Failure is final ────────────────────────────────────────────────────────────


def _job_plan(kind: str, version: str, phase: str) -> JobPlan:
    return JobPlan(
        kind=kind,
        name="j",
        api_version=nj.api_version(version),
        source="",
        phase=phase,
        reason="",
        nodes=(NodeJobStatus(node="edge-01", phase=nj.NODE_FAILURE),),
    )


def test_upstream_node_upgrade_job_in_failure_is_not_final_image_prepull_job_is() -> None:
    assert not nj.job_final(kind=nj.UPGRADE, version=nj.V1ALPHA2, phase=nj.JOB_FAILURE)
    assert nj.job_final(kind=nj.PREPULL, version=nj.V1ALPHA2, phase=nj.JOB_FAILURE)
    assert nj.job_final(kind=nj.UPGRADE, version=nj.V1ALPHA2, phase=nj.JOB_COMPLETED)
    assert not nj.job_final(kind=nj.PREPULL, version=nj.V1ALPHA2, phase=nj.JOB_IN_PROGRESS)
    upgrade_job = _job_plan(nj.UPGRADE, nj.V1ALPHA2, nj.JOB_FAILURE)
    prepull_job = _job_plan(nj.PREPULL, nj.V1ALPHA2, nj.JOB_FAILURE)
    plan = Plan(revision="r", now=0.0, daemonsets=(), jobs=(upgrade_job, prepull_job))
    assert headline(plan).endswith("node jobs 1/2 finished (2 failed)")
    assert "Failure (not final" in job_headline(upgrade_job)
    assert "not final" not in job_headline(prepull_job)
    assert (job_to_dict(upgrade_job)["final"], job_to_dict(prepull_job)["final"]) == (False, True)


def test_upstream_v1alpha2_confirmation_and_failing_upgrade_from_the_sim_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "f.json"
    assert main(["sim", "init", str(state), "--groups", "hz=2"]) == 0
    assert main(["sim", "upgrade-fails", str(state), "hz-02", "--fail"]) == 0
    assert "hz-02: Upgrade fails" in capsys.readouterr().out
    with SimCluster.open(state) as cluster:
        cluster.create_node_job(
            upgrade(nodeNames=["hz-01", "hz-02"], requireConfirmation=True, concurrency=2)
        )
    assert main(["sim", "confirm", str(state), "up"]) == 2  # nothing waiting yet (Check runs)
    assert "no node is waiting at WaitingConfirmation" in capsys.readouterr().err
    assert main(["sim", "tick", str(state), "--seconds", "10"]) == 0
    assert main(["sim", "confirm", str(state), "up", "--node", "hz-02"]) == 0
    assert "NodeUpgradeJob up confirmed on hz-02" in capsys.readouterr().out
    assert main(["sim", "tick", str(state), "--seconds", "60"]) == 0
    with SimCluster.open(state) as cluster:
        obs = job(cluster)
        assert phases(obs) == {"hz-01": nj.NODE_IN_PROGRESS, "hz-02": nj.NODE_SUCCESSFUL}
        assert [a for a, _ in flow(cluster, "hz-02")][-2:] == ["Upgrade", "RollBack"]
    assert main(["sim", "confirm", str(state), "nope"]) == 2
    assert "no NodeUpgradeJob 'nope'" in capsys.readouterr().err
