"""The Kubernetes adapter and KubeEdge node jobs, with the official client against the stand-in
API server: served versions from discovery, every job read in the version it was created in
(never mixed), create in an unserved version is a clear error, delete."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube_standin import StandIn, running
from standin_client import connected

from gitops_edge.cluster import kube
from gitops_edge.cluster.base import ClusterError, NotFoundError
from gitops_edge.cluster.k8s_objects import node_job_from
from gitops_edge.cluster.kube_cluster import KubeCluster
from gitops_edge.model import nodejobs as nj


@pytest.fixture
def api() -> Iterator[StandIn]:
    with running() as standin:
        yield standin


@pytest.fixture
def cluster(api: StandIn, tmp_path: Path) -> Iterator[KubeCluster]:
    with connected(api, tmp_path, base_delay=0.0) as c:
        yield c


def job(kind: str, name: str, version: str, *, ours: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ours:
        meta["labels"] = {"app.kubernetes.io/managed-by": "gitops-edge"}
        meta["annotations"] = {nj.API_VERSION_ANNOTATION: version}
    return {"apiVersion": nj.api_version(version), "kind": kind, "metadata": meta, "spec": {}}


def job_requests(api: StandIn) -> list[str]:
    return [p for _, p, _ in api.requests if "operations.kubeedge.io" in p]


def test_without_the_crds_no_job_is_listed_and_no_job_request_is_made(
    api: StandIn, cluster: KubeCluster
) -> None:
    observed = cluster.observe()
    assert observed.jobs == () and observed.job_versions == ()
    assert job_requests(api) == []
    with pytest.raises(ClusterError, match=r"v1alpha1 is not served"):
        cluster.create_node_job(job(nj.UPGRADE, "up", nj.V1ALPHA1))


def test_each_job_is_read_in_the_version_it_was_created_in(
    api: StandIn, cluster: KubeCluster
) -> None:
    api.job_versions = ["v1alpha1", "v1alpha2"]
    cluster.create_node_job(job(nj.UPGRADE, "old-style", nj.V1ALPHA1))
    cluster.create_node_job(job(nj.PREPULL, "new-style", nj.V1ALPHA2))
    api.jobs[("nodeupgradejobs", "foreign")] = job(nj.UPGRADE, "foreign", nj.V1ALPHA1, ours=False)
    api.set_job_status(
        "nodeupgradejobs",
        "old-style",
        {
            "state": "Upgrading",
            "nodeStatus": [
                {"nodeName": "a", "state": "Successful", "action": "Success"},
                {"nodeName": "b", "state": "Failed", "event": "TimeOut", "reason": "timeout"},
            ],
        },
    )
    api.set_job_status(
        "imageprepulljobs",
        "new-style",
        {
            "phase": "Completed",
            "nodeStatus": [
                {
                    "nodeName": "a",
                    "phase": "Successful",
                    "actionFlow": [{"action": "Pull", "status": "True"}],
                    "imageStatus": [{"image": "r.io/x:1", "status": "True"}],
                }
            ],
        },
    )
    observed = cluster.observe()
    assert observed.job_versions == ("v1alpha1", "v1alpha2")
    jobs = {j.name: j for j in observed.jobs}
    assert set(jobs) == {"old-style", "new-style", "foreign"}
    old, new, foreign = jobs["old-style"], jobs["new-style"], jobs["foreign"]
    assert old.api_version.endswith("v1alpha1") and old.phase == nj.JOB_IN_PROGRESS
    assert [(n.node, n.phase) for n in old.nodes] == [("a", "Successful"), ("b", "Failure")]
    assert new.api_version.endswith("v1alpha2") and new.phase == nj.JOB_COMPLETED
    assert new.nodes[0].step == "Pull" and new.nodes[0].images[0].ok
    assert foreign.api_version.endswith("v1alpha2") and not foreign.managed  # newest served
    lists = [p for m, p, _ in api.requests if m == "GET" and p.endswith("jobs") and "kubeedge" in p]
    assert len(lists) == 5  # one LIST per (version, kind): ConfigUpdateJob in v1alpha2 only


def test_delete_and_errors(api: StandIn, cluster: KubeCluster) -> None:
    api.job_versions = ["v1alpha1"]
    with pytest.raises(ClusterError, match=r"v1alpha2 is not served"):
        cluster.create_node_job(job(nj.UPGRADE, "up", nj.V1ALPHA2))
    cluster.create_node_job(job(nj.UPGRADE, "up", nj.V1ALPHA1))
    with pytest.raises(ClusterError, match="409"):
        cluster.create_node_job(job(nj.UPGRADE, "up", nj.V1ALPHA1))
    cluster.delete_node_job(nj.api_version(nj.V1ALPHA1), nj.UPGRADE, "up")
    assert cluster.observe().jobs == ()
    with pytest.raises(NotFoundError):
        cluster.delete_node_job(nj.api_version(nj.V1ALPHA1), nj.UPGRADE, "up")


def test_one_discovery_per_observe_and_paged_lists(
    api: StandIn, cluster: KubeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.job_versions = ["v1alpha1", "v1alpha2"]
    api.groups.append("apps.openyurt.io")
    for i in range(3):
        cluster.create_node_job(job(nj.UPGRADE, f"up-{i}", nj.V1ALPHA1))
        cluster.create_node_job(job(nj.PREPULL, f"pull-{i}", nj.V1ALPHA2))
    api.requests.clear()
    monkeypatch.setattr(kube, "PAGE_SIZE", 2)
    observed = cluster.observe()
    # Discovery answers both questions: OpenYurt installed, node job versions served.
    assert api.count("GET", "/apis/") == 1
    assert observed.openyurt_installed and observed.job_versions == ("v1alpha1", "v1alpha2")
    assert sorted(j.name for j in observed.jobs) == [
        *(f"pull-{i}" for i in range(3)),
        *(f"up-{i}" for i in range(3)),
    ]
    assert {j.api_version for j in observed.jobs if j.kind == nj.UPGRADE} == {
        nj.api_version(nj.V1ALPHA1)
    }
    assert {j.api_version for j in observed.jobs if j.kind == nj.PREPULL} == {
        nj.api_version(nj.V1ALPHA2)
    }
    for version in nj.VERSIONS:  # 3 objects, 2 a page: 2 requests per (version, kind)
        for kind in (nj.UPGRADE, nj.PREPULL):
            path = f"/apis/operations.kubeedge.io/{version}/{nj.PLURALS[kind]}"
            pages = [p for m, q, p in api.requests if m == "GET" and q == path]
            assert [(p["limit"], p.get("continue")) for p in pages] == [("2", None), ("2", "2")]
    # ConfigUpdateJob exists in v1alpha2 only: one (empty) page there, never asked in v1alpha1.
    pages = [(m, q) for m, q, _ in api.requests if q.endswith("/configupdatejobs")]
    assert pages == [("GET", "/apis/operations.kubeedge.io/v1alpha2/configupdatejobs")]


def test_node_upgrade_job_status_in_each_versions_shape(api: StandIn, cluster: KubeCluster) -> None:
    api.job_versions = ["v1alpha1", "v1alpha2"]
    cluster.create_node_job(job(nj.UPGRADE, "v1", nj.V1ALPHA1))
    cluster.create_node_job(job(nj.UPGRADE, "v2", nj.V1ALPHA2))
    api.set_job_status(
        "nodeupgradejobs",
        "v1",
        {
            "state": "Successful",
            "reason": "",
            "nodeStatus": [
                {
                    "nodeName": "edge-1",
                    "state": "Successful",
                    "event": "Upgrade",
                    "action": "Success",
                    "reason": "",
                    "time": "2026-01-01T00:01:00Z",
                },
                {
                    "nodeName": "edge-2",
                    "state": "Upgrading",
                    "event": "Upgrade",
                    "action": "",
                    "reason": "",
                    "time": "2026-01-01T00:01:30Z",
                },
            ],
        },
    )
    api.set_job_status(
        "nodeupgradejobs",
        "v2",
        {
            "phase": "Failure",
            "reason": "too many nodes failed",
            "nodeStatus": [
                {
                    "nodeName": "edge-1",
                    "phase": "Failure",
                    "reason": "disk check failed",
                    "actionFlow": [
                        {
                            "action": "Check",
                            "status": "False",
                            "reason": "disk check failed",
                            "time": "2026-01-01T00:02:00Z",
                        }
                    ],
                }
            ],
        },
    )
    jobs = {j.name: j for j in cluster.observe().jobs}
    v1, v2 = jobs["v1"], jobs["v2"]
    assert (v1.api_version, v1.state, v1.phase) == (
        nj.api_version(nj.V1ALPHA1),
        "Successful",
        nj.JOB_COMPLETED,
    )
    assert [(n.node, n.phase, n.step, n.time) for n in v1.nodes] == [
        ("edge-1", nj.NODE_SUCCESSFUL, "Successful", "2026-01-01T00:01:00Z"),
        ("edge-2", nj.NODE_IN_PROGRESS, "Upgrading", "2026-01-01T00:01:30Z"),
    ]
    assert (v2.api_version, v2.phase, v2.reason) == (
        nj.api_version(nj.V1ALPHA2),
        nj.JOB_FAILURE,
        "too many nodes failed",
    )
    (node,) = v2.nodes
    assert (node.node, node.phase, node.step, node.reason) == (
        "edge-1",
        nj.NODE_FAILURE,
        "Check",
        "disk check failed",
    )
    # Never mixed: the copy served at the other version carries the other version's name over
    # this status, and would be misread (job and node phases wrong).
    for kept, other in ((v1, nj.V1ALPHA2), (v2, nj.V1ALPHA1)):
        copy = cluster.get_node_job(nj.api_version(other), nj.UPGRADE, kept.name)
        assert copy is not None
        misread = node_job_from(copy)
        assert misread.phase != kept.phase
        assert [n.phase for n in misread.nodes] != [n.phase for n in kept.nodes]


def test_create_keeps_the_manifests_version_and_names_the_served_ones(
    api: StandIn, cluster: KubeCluster
) -> None:
    api.job_versions = ["v1alpha2"]
    with pytest.raises(ClusterError, match=r"v1alpha1 is not served .*it serves v1alpha2"):
        cluster.create_node_job(job(nj.UPGRADE, "up", nj.V1ALPHA1))
    assert api.jobs == {}
    api.job_versions = []
    with pytest.raises(ClusterError, match=r"CRDs \(operations.kubeedge.io\) are not installed"):
        cluster.create_node_job(job(nj.UPGRADE, "up", nj.V1ALPHA2))
    with pytest.raises(ClusterError, match="not a KubeEdge node job"):
        cluster.create_node_job(
            {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x"}}
        )
    api.job_versions = ["v1alpha1", "v1alpha2"]
    cluster.create_node_job(job(nj.PREPULL, "pull", nj.V1ALPHA1))
    posts = [p for m, p, _ in api.requests if m == "POST"]
    assert posts[-1] == "/apis/operations.kubeedge.io/v1alpha1/imageprepulljobs"
    assert api.jobs[("imageprepulljobs", "pull")]["apiVersion"] == nj.api_version(nj.V1ALPHA1)


def test_delete_is_retried_and_removes_the_job_from_every_version(
    api: StandIn, cluster: KubeCluster
) -> None:
    api.job_versions = ["v1alpha1", "v1alpha2"]
    cluster.create_node_job(job(nj.UPGRADE, "up", nj.V1ALPHA2))
    path = "/apis/operations.kubeedge.io/v1alpha2/nodeupgradejobs/up"
    api.fail_next("DELETE", path, 503)
    cluster.delete_node_job(nj.api_version(nj.V1ALPHA2), nj.UPGRADE, "up")
    assert api.count("DELETE", path) == 2
    for version in nj.VERSIONS:
        assert cluster.get_node_job(nj.api_version(version), nj.UPGRADE, "up") is None
    assert cluster.observe().jobs == ()
