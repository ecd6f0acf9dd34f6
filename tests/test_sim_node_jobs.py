"""The simulated cluster executes KubeEdge node jobs with KubeEdge's semantics (DESIGN §4):
node selection, checkItems, concurrency, failureTolerate, per-node timeout, retryTimes; the
node's edge version or image cache is updated, and pods on nodes holding the image start
sooner. Both API versions, each with its own defaults and status shape."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_edge.cluster.base import ClusterError, NotFoundError
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model import nodejobs as nj
from gitops_edge.model.observed import JobObs

EXAMPLE = Path(__file__).resolve().parent.parent / "example-repo"
STEP = 5.0  # the sim's ready_delay: one job step


def seed(name: str) -> dict[str, Any]:
    """A job file of example-repo, as the reconciler sends it."""
    data: dict[str, Any] = yaml.safe_load((EXAMPLE / "jobs" / name).read_text())
    return data


def fleet(nodes: int = 6, *, ready_delay: float = STEP) -> SimCluster:
    return SimCluster.create(
        namespaces=("edge",), groups=[("edge", nodes)], ready_delay=ready_delay
    )


def observed_job(cluster: SimCluster, kind: str, name: str) -> JobObs:
    return next(j for j in cluster.observe().jobs if (j.kind, j.name) == (kind, name))


def phases(job: JobObs) -> dict[str, str]:
    return {n.node: n.phase for n in job.nodes}


def upgrade(version: str = nj.V1ALPHA1, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": nj.api_version(version),
        "kind": nj.UPGRADE,
        "metadata": {"name": "up"},
        "spec": {"version": "v1.17.0", **spec},
    }


def prepull(version: str = nj.V1ALPHA1, **template: Any) -> dict[str, Any]:
    return {
        "apiVersion": nj.api_version(version),
        "kind": nj.PREPULL,
        "metadata": {"name": "pull"},
        "spec": {"imagePrePullTemplate": template},
    }


def edge_version(cluster: SimCluster, node: str) -> str:
    return next(n.edge_version for n in cluster.observe().nodes if n.name == node)


def test_seed_node_upgrade_job_with_a_notready_node_and_a_failing_check() -> None:
    cluster = fleet(6)
    cluster.set_node_ready("edge-02", False)
    cluster.set_failing_checks("edge-05", ["disk"])
    cluster.create_node_job(seed("upgrade-example.yaml"))
    job = observed_job(cluster, nj.UPGRADE, "upgrade-example")
    assert job.phase == nj.JOB_IN_PROGRESS and job.state == "Checking"
    assert "edge-02" not in phases(job)  # v1alpha1 skips NotReady nodes
    cluster.tick(600)
    job = observed_job(cluster, nj.UPGRADE, "upgrade-example")
    assert job.phase == nj.JOB_COMPLETED  # 1 failed of 5 < 5 x 0.3
    assert phases(job) == {
        "edge-01": "Successful",
        "edge-03": "Successful",
        "edge-04": "Successful",
        "edge-05": "Failure",
        "edge-06": "Successful",
    }
    failed = next(n for n in job.nodes if n.node == "edge-05")
    assert "disk" in failed.reason and failed.step == "Failed"
    assert edge_version(cluster, "edge-01").endswith("kubeedge-v1.16.0")
    assert edge_version(cluster, "edge-05") == "v1.29.5-kubeedge-v1.15.1"  # unchanged
    raw = cluster._state.node_jobs[(nj.UPGRADE, "upgrade-example")]["status"]
    assert raw["state"] == "Successful" and {n["nodeName"] for n in raw["nodeStatus"]} == set(
        phases(job)
    )


def test_seed_image_prepull_job_fills_the_image_cache() -> None:
    cluster = fleet(2)
    cluster.add_node("edgenode1", {})
    cluster.add_node("edgenode2", {})
    cluster.create_node_job(seed("imageprepull-example.yaml"))
    cluster.tick(600)
    job = observed_job(cluster, nj.PREPULL, "imageprepull-example")
    assert job.phase == nj.JOB_COMPLETED
    assert phases(job) == {"edgenode1": "Successful", "edgenode2": "Successful"}
    assert all(i.ok for n in job.nodes for i in n.images) and len(job.nodes[0].images) == 2
    snapshot = cluster.snapshot()
    node = next(n for n in snapshot["nodes"] if n["name"] == "edgenode1")
    assert node["images"] == ["docker.io/library/nginx:1.20.0", "docker.io/library/redis:6.2.14"]
    other = next(n for n in snapshot["nodes"] if n["name"] == "edge-01")
    assert other["images"] == []


def test_concurrency_is_never_exceeded_and_v1alpha1_runs_stage_by_stage() -> None:
    cluster = fleet(6)
    names = [f"edge-{i:02d}" for i in range(1, 7)]
    cluster.create_node_job(upgrade(nodeNames=names, concurrency=2))
    for _ in range(40):
        tasks = cluster._state.node_jobs[(nj.UPGRADE, "up")]["_sim"]["tasks"].values()
        running = [t["step"] for t in tasks if t["phase"] == nj.NODE_IN_PROGRESS]
        assert len(running) <= 2
        assert len(set(running)) <= 1  # Upgrading waits for the last Checking
        cluster.tick(1)
    job = observed_job(cluster, nj.UPGRADE, "up")
    assert job.phase == nj.JOB_COMPLETED and set(phases(job).values()) == {"Successful"}
    # 6 nodes, 2 at a time, 2 stages of 5 s each: 3 rounds per stage, done at 30 s.
    assert job.nodes and max(n.time for n in job.nodes) == "2026-01-01T00:00:30Z"


def test_v1alpha1_stops_dispatching_once_the_tolerance_is_reached() -> None:
    cluster = fleet(4)
    for node in ("edge-01", "edge-02"):
        cluster.set_failing_checks(node, ["cpu"])
    names = ["edge-01", "edge-02", "edge-03", "edge-04"]
    cluster.create_node_job(upgrade(nodeNames=names, checkItems=["cpu"], failureTolerate="0.25"))
    cluster.tick(600)
    job = observed_job(cluster, nj.UPGRADE, "up")
    assert job.phase == nj.JOB_FAILURE and "1/4" in job.reason  # 1 >= 4 x 0.25: stop
    assert phases(job)["edge-01"] == nj.NODE_FAILURE
    assert [phases(job)[n] for n in names[1:]] == [nj.NODE_PENDING] * 3  # never dispatched
    assert edge_version(cluster, "edge-03").endswith("v1.15.1")  # unchanged


def test_v1alpha2_counts_notready_and_missing_nodes_as_failures() -> None:
    cluster = fleet(4)
    cluster.set_node_ready("edge-02", False)
    names = ["edge-01", "edge-02", "edge-03", "ghost"]
    cluster.create_node_job(
        upgrade(
            nj.V1ALPHA2,
            nodeNames=names,
            image="kubeedge/installation-package",
            failureTolerate="0.5",
            concurrency=4,
        )
    )
    cluster.tick(600)
    job = observed_job(cluster, nj.UPGRADE, "up")
    assert phases(job) == {
        "edge-01": "Successful",
        "edge-02": "Failure",
        "edge-03": "Successful",
        "ghost": "Failure",
    }
    reasons = {n.node: n.reason for n in job.nodes}
    assert "not ready" in reasons["edge-02"] and "does not exist" in reasons["ghost"]
    assert job.phase == nj.JOB_COMPLETED  # 2/4 = 0.5, not greater than 0.5
    flow = cluster._state.node_jobs[(nj.UPGRADE, "up")]["status"]["nodeStatus"][0]["actionFlow"]
    assert [a["action"] for a in flow] == ["Check", "BackUp", "Upgrade"]


def test_v1alpha2_empty_failure_tolerate_fails_on_one_failure() -> None:
    cluster = fleet(3)
    cluster.set_failing_checks("edge-03", ["mem"])
    cluster.create_node_job(
        upgrade(
            nj.V1ALPHA2,
            labelSelector={"matchLabels": {"apps.openyurt.io/nodepool": "edge"}},
            checkItems=["mem"],
            concurrency=3,
        )
    )
    cluster.tick(600)
    job = observed_job(cluster, nj.UPGRADE, "up")
    assert job.phase == nj.JOB_FAILURE and "1/3" in job.reason
    assert phases(job)["edge-01"] == nj.NODE_SUCCESSFUL  # v1alpha2 still runs every node


@pytest.mark.parametrize(
    ("version", "phase", "reason"),
    [
        (nj.V1ALPHA1, nj.NODE_FAILURE, "timeout"),
        (nj.V1ALPHA2, nj.NODE_UNKNOWN, "timeout"),
    ],
)
def test_a_node_that_goes_offline_mid_task_times_out(version: str, phase: str, reason: str) -> None:
    cluster = fleet(2)
    extra = {"image": "kubeedge/installation-package"} if version == nj.V1ALPHA2 else {}
    cluster.create_node_job(
        upgrade(
            version,
            nodeNames=["edge-01", "edge-02"],
            concurrency=2,
            timeoutSeconds=60,
            failureTolerate="1",
            **extra,
        )
    )
    cluster.tick(2)
    cluster.set_node_ready("edge-02", False)
    cluster.tick(57)  # the step started at 0: its deadline is 60
    assert phases(observed_job(cluster, nj.UPGRADE, "up"))["edge-02"] == nj.NODE_IN_PROGRESS
    cluster.tick(600)
    job = observed_job(cluster, nj.UPGRADE, "up")
    assert phases(job) == {"edge-01": nj.NODE_SUCCESSFUL, "edge-02": phase}
    assert reason in next(n.reason for n in job.nodes if n.node == "edge-02")
    assert job.phase == nj.JOB_COMPLETED  # failureTolerate 1


def test_v1alpha2_waits_for_a_disconnected_node_and_runs_it_when_it_returns() -> None:
    cluster = fleet(2)
    cluster.create_node_job(
        upgrade(
            nj.V1ALPHA2, nodeNames=["edge-01", "edge-02"], image="kubeedge/installation-package"
        )
    )
    cluster.set_node_ready("edge-02", False)  # after the job listed it: pending, not failed
    cluster.tick(100)
    job = observed_job(cluster, nj.UPGRADE, "up")
    assert phases(job)["edge-02"] == nj.NODE_PENDING and job.phase == nj.JOB_IN_PROGRESS
    cluster.set_node_ready("edge-02", True)
    cluster.tick(100)
    job = observed_job(cluster, nj.UPGRADE, "up")
    assert job.phase == nj.JOB_COMPLETED and phases(job)["edge-02"] == nj.NODE_SUCCESSFUL


def test_a_broken_image_is_retried_then_fails_and_good_images_are_kept() -> None:
    cluster = fleet(1)
    good, bad = "registry.example.com/a:1", "registry.example.com/b:1"
    cluster.set_image_broken(bad, True)
    cluster.create_node_job(
        prepull(images=[good, bad], nodeNames=["edge-01"], retryTimes=2, failureTolerate="1")
    )
    # Check (5 s), then pull: 1 attempt for the good image + 3 for the broken one (20 s).
    cluster.tick(STEP + 4 * STEP - 1)
    assert phases(observed_job(cluster, nj.PREPULL, "pull"))["edge-01"] == nj.NODE_IN_PROGRESS
    cluster.tick(1)
    job = observed_job(cluster, nj.PREPULL, "pull")
    node = job.nodes[0]
    assert node.phase == nj.NODE_FAILURE and "3 attempts" in node.reason
    assert [(i.image, i.ok) for i in node.images] == [(good, True), (bad, False)]
    assert cluster.snapshot()["nodes"][0]["images"] == [good]


def test_pods_on_nodes_holding_the_image_become_ready_sooner() -> None:
    cluster = fleet(2, ready_delay=10)
    image = "registry.example.com/web:2"
    cluster.create_node_job(prepull(images=[image], nodeNames=["edge-01"]))
    cluster.tick(60)
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "web", "namespace": "edge"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "updateStrategy": {"type": "OnDelete"},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }
    cluster.apply_daemonset(ds)
    cluster.tick(2)  # 0.2 x 10 s on edge-01, 10 s elsewhere
    ready = {p.node: p.ready for p in cluster.observe().pods}
    assert ready == {"edge-01": True, "edge-02": False}


def test_require_confirmation_waits_then_times_out() -> None:
    cluster = fleet(1)
    cluster.create_node_job(
        upgrade(
            nj.V1ALPHA2,
            nodeNames=["edge-01"],
            requireConfirmation=True,
            image="kubeedge/installation-package",
            timeoutSeconds=100,
        )
    )
    cluster.tick(50)
    job = observed_job(cluster, nj.UPGRADE, "up")
    assert job.nodes[0].phase == nj.NODE_IN_PROGRESS and job.nodes[0].step == "WaitingConfirmation"
    cluster.tick(100)
    assert observed_job(cluster, nj.UPGRADE, "up").nodes[0].phase == nj.NODE_UNKNOWN


def test_versions_not_served_duplicates_and_deletes_are_errors() -> None:
    cluster = fleet(1)
    cluster.set_job_versions(["v1alpha1"])
    with pytest.raises(ClusterError, match="v1alpha2 is not served"):
        cluster.create_node_job(upgrade(nj.V1ALPHA2, nodeNames=["edge-01"]))
    cluster.create_node_job(upgrade(nodeNames=["edge-01"]))
    with pytest.raises(ClusterError, match="already exists"):
        cluster.create_node_job(upgrade(nodeNames=["edge-01"]))
    assert cluster.observe().job_versions == ("v1alpha1",)
    cluster.delete_node_job(nj.api_version(nj.V1ALPHA1), nj.UPGRADE, "up")
    assert cluster.observe().jobs == ()
    with pytest.raises(NotFoundError):
        cluster.delete_node_job(nj.api_version(nj.V1ALPHA1), nj.UPGRADE, "up")
    with pytest.raises(ValueError, match="unknown check"):
        cluster.set_failing_checks("edge-01", ["gpu"])


def test_a_saved_and_reloaded_cluster_runs_jobs_exactly_as_one_that_never_stopped(
    tmp_path: Path,
) -> None:
    def build() -> SimCluster:
        cluster = fleet(5)
        cluster.set_failing_checks("edge-03", ["disk"])
        cluster.create_node_job(
            upgrade(labelSelector={}, checkItems=["disk"], concurrency=2, failureTolerate="0.5")
        )
        return cluster

    steady = build()
    path = tmp_path / "sim.json"
    SimCluster.init_file(path, build())
    for _ in range(12):
        steady.tick(3)
        with SimCluster.open(path) as reopened:
            reopened.tick(3)
    with SimCluster.open(path, read_only=True) as reopened:
        assert reopened.observe().jobs == steady.observe().jobs
        assert copy.deepcopy(reopened._state.node_jobs) == steady._state.node_jobs


def test_a_v1alpha2_job_with_no_node_to_run_on_ends_in_failure() -> None:
    cluster = fleet(2)
    cluster.set_node_ready("edge-01", False)
    cluster.create_node_job(
        upgrade(nj.V1ALPHA2, nodeNames=["edge-01"], image="kubeedge/installation-package")
    )
    job = observed_job(cluster, nj.UPGRADE, "up")
    assert job.phase == nj.JOB_FAILURE and "1/1" in job.reason  # its only node was NotReady
    assert phases(job) == {"edge-01": nj.NODE_FAILURE}
    empty = prepull(nj.V1ALPHA2, images=["r.io/a:1"], labelSelector={"matchLabels": {"x": "y"}})
    cluster.create_node_job(empty)
    job = observed_job(cluster, nj.PREPULL, "pull")
    assert job.phase == nj.JOB_FAILURE and job.nodes == () and "no node to run on" in job.reason
