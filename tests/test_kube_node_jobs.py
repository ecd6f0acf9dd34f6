"""The Kubernetes adapter and KubeEdge node jobs, with the official client against the stand-in
API server: served versions from discovery, every job read in the version it was created in
(never mixed), create in an unserved version is a clear error, delete."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube_standin import StandIn, running

from gitops_edge import nodejobs as nj
from gitops_edge.cluster import kube
from gitops_edge.cluster.base import ClusterError, NotFoundError
from gitops_edge.cluster.kube import KubeCluster, Retrier


@pytest.fixture
def api() -> Iterator[StandIn]:
    with running() as standin:
        yield standin


@pytest.fixture
def cluster(api: StandIn, tmp_path: Path) -> Iterator[KubeCluster]:
    client = kube.api_client_for(str(api.kubeconfig(tmp_path / "kubeconfig")), None)
    with KubeCluster(client, retrier=Retrier(sleep=lambda _: None, base_delay=0.0)) as c:
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
    assert len(lists) == 4  # one LIST per (version, kind)


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
