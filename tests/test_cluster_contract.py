"""The contract both `Cluster` backends honour, run against the simulated cluster and against
the Kubernetes adapter (official client, stand-in API server), listing on every observe and
with the loop's watch-fed cache. Only behaviour that does not depend on controllers is shared:
the stand-in runs none."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kube_standin import running

from gitops_edge.cluster import kube
from gitops_edge.cluster.base import Cluster, NotFoundError
from gitops_edge.cluster.kube import Retrier
from gitops_edge.cluster.kube_cluster import KubeCluster
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model.desired import SPEC_HASH_ANNOTATION
from gitops_edge.model.observed import Condition, PodObs


def manifest(image: str = "registry.example.com/web:1") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": "web",
            "namespace": "edge",
            "labels": {"app.kubernetes.io/managed-by": "gitops-edge"},
            "annotations": {SPEC_HASH_ANNOTATION: image[-1]},
        },
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "updateStrategy": {"type": "OnDelete"},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "main", "image": image}]},
            },
        },
    }


@dataclass
class Backend:
    cluster: Cluster
    pod: PodObs  # a pod owned by DaemonSet edge/web


@pytest.fixture(params=["sim", "kube", "kube-cached"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sim":
        sim = SimCluster.create(namespaces=("edge",), groups=[("a", 2)])
        sim.apply_daemonset(manifest())
        yield Backend(sim, next(p for p in sim.observe().pods if p.owner_name == "web"))
        return
    with running() as api:
        api.job_versions = ["v1alpha1", "v1alpha2"]  # KubeEdge >= 1.21, as the sim's default
        api.add_namespace("edge")
        for name in ("a-01", "a-02"):
            api.put(
                "nodes",
                {
                    "metadata": {"name": name, "labels": {"apps.openyurt.io/nodepool": "a"}},
                    "status": {"conditions": [{"type": "Ready", "status": "True"}]},
                },
            )
        client = kube.api_client_for(str(api.kubeconfig(tmp_path / "kubeconfig")), None)
        with KubeCluster(client, retrier=Retrier(sleep=lambda _: None)) as cluster:
            cluster.apply_daemonset(manifest())
            ds_uid = api.store["daemonsets"][("edge", "web")]["metadata"]["uid"]
            api.put(  # what the DaemonSet controller would have created
                "pods",
                {
                    "metadata": {
                        "name": "web-x1",
                        "namespace": "edge",
                        "labels": {"app": "web", "controller-revision-hash": "h1"},
                        "ownerReferences": [
                            {"kind": "DaemonSet", "name": "web", "uid": ds_uid, "controller": True}
                        ],
                    },
                    "spec": {"nodeName": "a-01"},
                    "status": {"conditions": [{"type": "Ready", "status": "False"}]},
                },
            )
            if request.param == "kube-cached":  # as the loop runs it: a watch-fed cache
                cluster.start_cache(idle_delay=0.02)
            yield Backend(cluster, next(p for p in cluster.observe().pods))


def test_observe_nodes_and_daemonset(backend: Backend) -> None:
    observed = backend.cluster.observe()
    assert sorted(n.name for n in observed.nodes) == ["a-01", "a-02"]
    assert all(n.ready and n.labels["apps.openyurt.io/nodepool"] == "a" for n in observed.nodes)
    (ds,) = observed.daemonsets
    assert (ds.namespace, ds.name, ds.update_strategy) == ("edge", "web", "OnDelete")
    assert ds.annotations[SPEC_HASH_ANNOTATION] == "1"
    assert ds.labels["app.kubernetes.io/managed-by"] == "gitops-edge"


def test_apply_updates_in_place_and_counts_generations(backend: Backend) -> None:
    before = backend.cluster.observe().daemonsets[0]
    backend.cluster.apply_daemonset(manifest())  # unchanged
    same = backend.cluster.observe().daemonsets[0]
    assert (same.uid, same.template_generation) == (before.uid, before.template_generation)
    backend.cluster.apply_daemonset(manifest("registry.example.com/web:2"))
    after = backend.cluster.observe().daemonsets[0]
    assert after.uid == before.uid
    assert after.template_generation == before.template_generation + 1
    assert after.annotations[SPEC_HASH_ANNOTATION] == "2"


def test_delete_pod_needs_the_current_uid(backend: Backend) -> None:
    pod = backend.pod
    with pytest.raises(NotFoundError):
        backend.cluster.delete_pod(pod.namespace, pod.name, "not-its-uid")
    assert pod.uid in {p.uid for p in backend.cluster.observe().pods}
    backend.cluster.delete_pod(pod.namespace, pod.name, pod.uid)
    assert pod.uid not in {p.uid for p in backend.cluster.observe().pods if not p.deleting}
    with pytest.raises(NotFoundError):
        backend.cluster.delete_pod(pod.namespace, "no-such-pod", pod.uid)


def test_set_pod_condition_adds_replaces_and_keeps_others(backend: Backend) -> None:
    pod = backend.pod
    mark = Condition(
        "PodNeedUpgrade", "True", message="controllerrevision: x", last_transition_time=1.7e9
    )
    backend.cluster.set_pod_condition(pod.namespace, pod.name, pod.uid, mark)
    flipped = Condition(
        "PodNeedUpgrade", "False", message="controllerrevision: y", last_transition_time=1.8e9
    )
    backend.cluster.set_pod_condition(pod.namespace, pod.name, pod.uid, flipped)
    seen = next(p for p in backend.cluster.observe().pods if p.uid == pod.uid)
    kept = [c.type for c in pod.conditions]  # Ready (and PodScheduled where the backend sets it)
    assert "Ready" in kept
    assert [c.type for c in seen.conditions] == [*kept, "PodNeedUpgrade"]
    assert seen.condition("PodNeedUpgrade") == flipped
    with pytest.raises(NotFoundError):
        backend.cluster.set_pod_condition(pod.namespace, pod.name, "not-its-uid", mark)


def test_delete_daemonset_takes_its_pods_and_is_not_found_twice(backend: Backend) -> None:
    backend.cluster.delete_daemonset("edge", "web")
    observed = backend.cluster.observe()
    assert observed.daemonsets == ()
    deadline = time.monotonic() + 5  # a garbage collector deletes the pods after the DaemonSet
    while [p for p in observed.pods if not p.deleting]:
        assert time.monotonic() < deadline, "the DaemonSet's pods were not deleted"
        time.sleep(0.02)
        observed = backend.cluster.observe()
    with pytest.raises(NotFoundError):
        backend.cluster.delete_daemonset("edge", "web")


def test_node_jobs_are_created_observed_in_their_version_and_deleted(backend: Backend) -> None:
    cluster = backend.cluster
    api_versions = ["v1alpha1", "v1alpha2"]
    assert cluster.observe().job_versions == tuple(api_versions)
    for version in api_versions:
        cluster.create_node_job(
            {
                "apiVersion": f"operations.kubeedge.io/{version}",
                "kind": "NodeUpgradeJob",
                "metadata": {
                    "name": f"up-{version}",
                    "labels": {"app.kubernetes.io/managed-by": "gitops-edge"},
                    "annotations": {"gitops-edge.io/job-api-version": version},
                },
                "spec": {"version": "v1.17.0", "nodeNames": ["a-01"]},
            }
        )
    jobs = {j.name: j for j in cluster.observe().jobs}
    assert {n: j.api_version.rpartition("/")[2] for n, j in jobs.items()} == {
        "up-v1alpha1": "v1alpha1",
        "up-v1alpha2": "v1alpha2",
    }
    assert all(j.managed for j in jobs.values())
    cluster.delete_node_job("operations.kubeedge.io/v1alpha1", "NodeUpgradeJob", "up-v1alpha1")
    assert [j.name for j in cluster.observe().jobs] == ["up-v1alpha2"]
    with pytest.raises(NotFoundError):
        cluster.delete_node_job("operations.kubeedge.io/v1alpha1", "NodeUpgradeJob", "up-v1alpha1")
