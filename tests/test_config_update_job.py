"""KubeEdge's ConfigUpdateJob (operations.kubeedge.io/v1alpha2; issue 19 item 9): the upstream
facts it rests on (tests/fixtures/kubeedge-configupdatejob-v1alpha2.yaml) against our schema,
the simulated cluster running it with the v1alpha2 node-task rules (each test named after the
upstream rule), the Kubernetes adapter against the stand-in API server, and plan/status
reporting it per node like the other node jobs. Validation errors: tests/golden/*/config-update-*.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube_standin import StandIn, running
from standin_client import connected

from gitops_edge.cli.main import main
from gitops_edge.cluster import sim_config_update
from gitops_edge.cluster.base import ClusterError
from gitops_edge.cluster.kube_cluster import KubeCluster
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model import nodejobs as nj
from gitops_edge.model.kinds import KINDS
from gitops_edge.model.observed import JobObs
from gitops_edge.reconciler.reconcile import load_desired
from gitops_edge.reports.diff import compare

HERE = Path(__file__).resolve().parent
FACTS: dict[str, Any] = yaml.safe_load(
    (HERE / "fixtures" / "kubeedge-configupdatejob-v1alpha2.yaml").read_text()
)
SCHEMA: dict[str, Any] = json.loads(
    (
        HERE.parent / "schemas" / "configupdatejob.operations.kubeedge.io.v1alpha2.schema.json"
    ).read_text()
)
STEP = 5.0  # the sim's ready_delay: one action
FIELDS = {"modules.edged.tailoredKubeletConfig.maxPods": "200"}


def config_update(name: str = "cfg", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": nj.api_version(nj.V1ALPHA2),
        "kind": nj.CONFIG_UPDATE,
        "metadata": {"name": name},
        "spec": {"updateFields": dict(FIELDS), **spec},
    }


def fleet(nodes: int) -> SimCluster:
    return SimCluster.create(namespaces=("edge",), groups=[("edge", nodes)], ready_delay=STEP)


def observed_job(cluster: SimCluster, name: str = "cfg") -> JobObs:
    return next(j for j in cluster.observe().jobs if (j.kind, j.name) == (nj.CONFIG_UPDATE, name))


def phases(job: JobObs) -> dict[str, str]:
    return {n.node: n.phase for n in job.nodes}


def raw_status(cluster: SimCluster, name: str = "cfg") -> dict[str, Any]:
    status: dict[str, Any] = cluster._state.node_jobs[(nj.CONFIG_UPDATE, name)]["status"]
    return status


def names(count: int) -> list[str]:
    return [f"edge-{i:02d}" for i in range(1, count + 1)]


# ── the upstream facts ────────────────────────────────────────────────────────────────────────


def test_upstream_crd_facts_match_our_kind_table_schema_and_plural() -> None:
    kind = KINDS[(f"{FACTS['group']}/v1alpha2", FACTS["kind"])]
    assert not kind.namespaced and FACTS["scope"] == "Cluster"
    assert nj.PLURALS[nj.CONFIG_UPDATE] == FACTS["plural"]
    assert nj.KIND_VERSIONS[nj.CONFIG_UPDATE] == tuple(FACTS["versions"])
    assert [v for v, k in KINDS if k == FACTS["kind"]] == [f"{FACTS['group']}/v1alpha2"]
    spec = SCHEMA["properties"]["spec"]
    assert set(spec["properties"]) == set(FACTS["spec"])  # every upstream field, nothing more
    assert spec["required"] == ["updateFields"]
    assert spec["properties"]["updateFields"]["additionalProperties"]["type"] == "string"


def test_upstream_action_flow_is_check_backup_update_then_rollback_after_a_failed_update() -> None:
    assert [*sim_config_update.STEPS, sim_config_update.ROLLBACK] == FACTS["actions"]


# ── the simulated cluster, one test per upstream rule ─────────────────────────────────────────


def test_node_task_action_flow_is_check_backup_update_and_status_has_the_v1alpha2_shape() -> None:
    cluster = fleet(2)
    cluster.create_node_job(config_update(nodeNames=names(2), concurrency=2))
    cluster.tick(3 * STEP)
    status = raw_status(cluster)
    assert status["phase"] == nj.JOB_COMPLETED
    for node in status["nodeStatus"]:
        assert set(node) <= set(FACTS["status"]["nodeStatus"])
        assert node["phase"] == nj.NODE_SUCCESSFUL
        assert [(a["action"], a["status"]) for a in node["actionFlow"]] == [
            ("Check", "True"),
            ("BackUp", "True"),
            ("Update", "True"),
        ]
        assert all(
            set(a) <= set(FACTS["status"]["nodeStatus"]["actionFlow"]) for a in node["actionFlow"]
        )


def test_successful_update_sets_the_fields_in_the_nodes_edgecore_config() -> None:
    cluster = fleet(2)
    cluster.create_node_job(config_update(nodeNames=["edge-01"]))
    cluster.tick(3 * STEP)
    config = {
        name: json.loads(
            node["metadata"]
            .get("annotations", {})
            .get(sim_config_update.EDGECORE_CONFIG_ANNOTATION, "{}")
        )
        for name, node in cluster._state.nodes.items()
    }
    assert config == {"edge-01": FIELDS, "edge-02": {}}


def test_failed_update_is_rolled_back_and_the_node_task_fails() -> None:
    cluster = fleet(2)
    cluster.set_failing_config_fields("edge-02", list(FIELDS))
    cluster.create_node_job(config_update(nodeNames=names(2), concurrency=2, failureTolerate="0.5"))
    cluster.tick(4 * STEP)
    job = observed_job(cluster)
    assert phases(job) == {"edge-01": nj.NODE_SUCCESSFUL, "edge-02": nj.NODE_FAILURE}
    assert "rolled back" in next(n.reason for n in job.nodes if n.node == "edge-02")
    failed = raw_status(cluster)["nodeStatus"][1]["actionFlow"]
    assert [(a["action"], a["status"]) for a in failed] == [
        ("Check", "True"),
        ("BackUp", "True"),
        ("Update", "False"),
        ("RollBack", "True"),
    ]
    node = cluster._state.nodes["edge-02"]
    assert sim_config_update.EDGECORE_CONFIG_ANNOTATION not in node["metadata"]["annotations"]
    assert job.phase == nj.JOB_COMPLETED  # 1/2 = 0.5, not greater than failureTolerate 0.5


def test_concurrency_limits_the_node_tasks_in_progress_at_once() -> None:
    cluster = fleet(5)
    cluster.create_node_job(config_update(nodeNames=names(5), concurrency=2))
    for _ in range(50):
        tasks = cluster._state.node_jobs[(nj.CONFIG_UPDATE, "cfg")]["_sim"]["tasks"].values()
        assert sum(t["phase"] == nj.NODE_IN_PROGRESS for t in tasks) <= 2
        cluster.tick(1)
    job = observed_job(cluster)
    # 5 nodes, 2 at a time, 3 actions of 5 s each: 3 rounds, done at 45 s.
    assert job.phase == nj.JOB_COMPLETED
    assert max(n.time for n in job.nodes) == "2026-01-01T00:00:45Z"


def test_calculate_phase_with_counts_failure_when_failed_ratio_exceeds_failure_tolerate() -> None:
    cluster = fleet(3)
    cluster.set_failing_config_fields("edge-03", list(FIELDS))
    cluster.create_node_job(config_update(nodeNames=names(3), concurrency=3, failureTolerate="0.3"))
    cluster.tick(600)
    job = observed_job(cluster)
    assert job.phase == nj.JOB_FAILURE and "1/3" in job.reason  # 0.33 > 0.3
    assert phases(job)["edge-01"] == nj.NODE_SUCCESSFUL  # v1alpha2 still runs every node


def test_empty_failure_tolerate_means_zero_one_failed_node_fails_the_job() -> None:
    cluster = fleet(3)
    cluster.set_failing_config_fields("edge-02", list(FIELDS))
    cluster.create_node_job(
        config_update(labelSelector={"matchLabels": {"apps.openyurt.io/nodepool": "edge"}})
    )
    cluster.tick(600)
    assert observed_job(cluster).phase == nj.JOB_FAILURE


def test_notready_and_missing_nodes_are_failed_node_tasks() -> None:
    cluster = fleet(3)
    cluster.set_node_ready("edge-02", False)
    cluster.create_node_job(
        config_update(nodeNames=["edge-01", "edge-02", "ghost"], failureTolerate="1")
    )
    cluster.tick(600)
    job = observed_job(cluster)
    assert phases(job) == {
        "edge-01": nj.NODE_SUCCESSFUL,
        "edge-02": nj.NODE_FAILURE,
        "ghost": nj.NODE_FAILURE,
    }
    assert job.phase == nj.JOB_COMPLETED


def test_node_task_timeout_an_offline_node_becomes_unknown_with_reason_timeout() -> None:
    cluster = fleet(2)
    cluster.create_node_job(config_update(nodeNames=names(2), concurrency=2, timeoutSeconds=60))
    cluster.tick(1)
    cluster.set_node_ready("edge-02", False)  # goes offline mid-task
    cluster.tick(600)
    job = observed_job(cluster)
    node = next(n for n in job.nodes if n.node == "edge-02")
    assert (node.phase, node.reason) == (nj.NODE_UNKNOWN, "timeout")
    assert job.phase == nj.JOB_FAILURE  # Unknown counts as failed, tolerance 0


# ── the Kubernetes adapter against the stand-in ───────────────────────────────────────────────


@pytest.fixture
def api() -> Iterator[StandIn]:
    with running() as standin:
        yield standin


@pytest.fixture
def cluster(api: StandIn, tmp_path: Path) -> Iterator[KubeCluster]:
    with connected(api, tmp_path, base_delay=0.0) as c:
        yield c


def test_kube_creates_lists_and_deletes_config_update_jobs_in_v1alpha2_only(
    api: StandIn, cluster: KubeCluster
) -> None:
    api.job_versions = ["v1alpha1", "v1alpha2"]
    manifest = config_update(nodeNames=["n1"])
    manifest["metadata"]["annotations"] = {nj.API_VERSION_ANNOTATION: nj.V1ALPHA2}
    cluster.create_node_job(manifest)
    assert api.jobs[("configupdatejobs", "cfg")]["spec"]["updateFields"] == FIELDS
    api.jobs[("configupdatejobs", "cfg")]["status"] = {
        "phase": "InProgress",
        "nodeStatus": [
            {
                "nodeName": "n1",
                "phase": "InProgress",
                "actionFlow": [{"action": "Check", "status": "True", "time": "t1"}],
            }
        ],
    }
    api.requests.clear()
    (job,) = cluster.observe().jobs
    assert (job.kind, job.api_version, job.phase) == (
        nj.CONFIG_UPDATE,
        nj.api_version(nj.V1ALPHA2),
        nj.JOB_IN_PROGRESS,
    )
    assert [(n.node, n.phase, n.step) for n in job.nodes] == [("n1", "InProgress", "Check")]
    paths = {p for _, p, _ in api.requests if "configupdatejobs" in p}
    assert paths == {"/apis/operations.kubeedge.io/v1alpha2/configupdatejobs"}
    cluster.delete_node_job(nj.api_version(nj.V1ALPHA2), nj.CONFIG_UPDATE, "cfg")
    assert api.jobs == {}


def test_kube_without_the_config_update_crd_observes_the_other_jobs(
    api: StandIn, cluster: KubeCluster
) -> None:
    api.job_versions = ["v1alpha1", "v1alpha2"]
    api.config_update_crd = False  # a KubeEdge that serves v1alpha2 but has no ConfigUpdateJob
    up = config_update("up")
    up.update(kind=nj.UPGRADE, spec={"version": "v1.21.0"})
    cluster.create_node_job(up)
    assert [j.name for j in cluster.observe().jobs] == ["up"]
    with pytest.raises(ClusterError, match=r"configupdatejobs\.operations\.kubeedge\.io"):
        cluster.create_node_job(config_update())


# ── plan, reconcile and status ────────────────────────────────────────────────────────────────

CONFIG = """\
apiVersion: gitops-edge.io/v1alpha1
kind: RepositoryConfig
metadata:
  name: fleet
spec: {}
"""


def test_plan_reconcile_and_status_report_it_per_node(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "gitops-edge.yaml").write_text(CONFIG)
    job = config_update("max-pods", nodeNames=names(3), concurrency=3, failureTolerate="0.5")
    (repo / "max-pods.yaml").write_text(yaml.safe_dump(job))
    sim = tmp_path / "sim.json"
    cluster = fleet(3)
    cluster.set_failing_config_fields("edge-03", list(FIELDS))
    SimCluster.init_file(sim, cluster)
    assert main(["plan", str(repo), "--cluster", f"sim:{sim}", "--format", "json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert planned["summary"]["jobCreations"] == 1
    assert main(["reconcile", str(repo), "--cluster", f"sim:{sim}", "--once"]) == 0
    assert "create ConfigUpdateJob max-pods" in capsys.readouterr().out
    with SimCluster.open(sim) as opened:
        opened.tick(600)
    assert main(["status", str(repo), "--cluster", f"sim:{sim}"]) == 0
    row = next(r for r in capsys.readouterr().out.splitlines() if "ConfigUpdateJob" in r)
    assert row.split()[:3] == ["ConfigUpdateJob/max-pods", "v1alpha2", "Completed"]
    assert row.endswith("2/3 successful, 1 failed")
    assert main(["plan", str(repo), "--cluster", f"sim:{sim}"]) == 0
    out = capsys.readouterr().out
    assert "ConfigUpdateJob max-pods (v1alpha2): Completed, 2/3 nodes successful, 1 failed" in out
    assert "edge-03 Failure: edgecore did not start with the new" in out


def test_sim_config_fails_command_makes_an_update_fail_on_a_node(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = tmp_path / "sim.json"
    SimCluster.init_file(sim, fleet(2))
    key = next(iter(FIELDS))
    assert main(["sim", "config-fails", str(sim), "edge-02", "--fields", f"{key},other"]) == 0
    assert f"edge-02 fails an update of {key}, other" in capsys.readouterr().out
    with SimCluster.open(sim) as cluster:
        cluster.create_node_job(config_update(nodeNames=names(2), concurrency=2))
        cluster.tick(600)
        assert phases(observed_job(cluster)) == {
            "edge-01": nj.NODE_SUCCESSFUL,
            "edge-02": nj.NODE_FAILURE,
        }
    assert main(["sim", "config-fails", str(sim), "edge-02", "--pass"]) == 0
    with SimCluster.open(sim) as cluster:
        node = cluster._state.nodes["edge-02"]
        assert sim_config_update.FAILING_FIELDS_ANNOTATION not in node["metadata"]["annotations"]
    assert main(["sim", "config-fails", str(sim), "ghost", "--pass"]) != 0


def test_diff_previews_an_added_config_update_job(tmp_path: Path) -> None:
    base, head = tmp_path / "base", tmp_path / "head"
    for folder in (base, head):
        folder.mkdir()
        (folder / "gitops-edge.yaml").write_text(CONFIG)
    (head / "max-pods.yaml").write_text(yaml.safe_dump(config_update("max-pods", nodeNames=["a"])))
    report = compare(load_desired(base, revision="b"), load_desired(head, revision="h"), {})
    assert report.jobs == ("ConfigUpdateJob max-pods added: created on the next pass",)


def test_plan_on_a_cluster_serving_only_v1alpha1_says_to_upgrade_kubeedge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "gitops-edge.yaml").write_text(CONFIG)
    (repo / "max-pods.yaml").write_text(yaml.safe_dump(config_update("max-pods", nodeNames=["a"])))
    sim = tmp_path / "sim.json"
    cluster = fleet(1)
    cluster.set_job_versions([nj.V1ALPHA1])
    SimCluster.init_file(sim, cluster)
    assert main(["plan", str(repo), "--cluster", f"sim:{sim}", "--format", "json"]) == 1
    (job,) = json.loads(capsys.readouterr().out)["jobs"]
    (error,) = job["errors"]
    assert "ConfigUpdateJob exists in operations.kubeedge.io/v1alpha2 only" in error
    assert "write the job as" not in error  # there is no v1alpha1 ConfigUpdateJob to write
