"""Pre-pull Jobs go with the pod they serve (issue 19 item 11): the Job carries an
ownerReference to the pod (as OpenYurt's image-preheat controller's does), and the garbage
collector deletes it once the pod is gone — in the simulated cluster, and in the stand-in API
server (its garbage collector, instantly) through the Kubernetes adapter. A pod left Terminating
on a NotReady node still exists: its Job stays until the pod is really gone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kube_standin import StandIn, running
from test_kube_adapter import pod as kube_pod
from test_sim import manifest, pods_of

from gitops_edge.cluster import kube
from gitops_edge.cluster.kube import Retrier
from gitops_edge.cluster.kube_cluster import KubeCluster
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model.observed import PodObs
from gitops_edge.model.prepull import pull_job


def job_for(pod: PodObs) -> dict[str, object]:
    return pull_job(
        namespace=pod.namespace,
        pod=pod.name,
        uid=pod.uid,
        node=pod.node,
        revision="h2",
        pod_spec={"containers": [{"name": "main", "image": "registry.example.com/web:2"}]},
    )


def sim_jobs(fleet: SimCluster) -> set[str]:
    return {j.pod for j in fleet.observe().pull_jobs}


def test_upstream_garbage_collector_deletes_a_pull_job_with_its_pod_in_the_simulation() -> None:
    fleet = SimCluster.create(namespaces=("edge",), groups=[("a", 3)])
    fleet.apply_daemonset(manifest())
    fleet.tick(10)
    victim, other = pods_of(fleet.observe())[:2]
    fleet.create_pull_job(job_for(victim))
    fleet.create_pull_job(job_for(other))
    fleet.delete_pod(victim.namespace, victim.name, victim.uid)
    assert sim_jobs(fleet) == {other.name}


def test_upstream_garbage_collector_keeps_the_job_of_a_terminating_pod_until_it_is_gone() -> None:
    fleet = SimCluster.create(namespaces=("edge",), groups=[("a", 2)])
    fleet.apply_daemonset(manifest())
    fleet.tick(10)
    victim = pods_of(fleet.observe())[0]
    fleet.create_pull_job(job_for(victim))
    fleet.set_node_ready(victim.node, False)
    fleet.delete_pod(victim.namespace, victim.name, victim.uid)  # Terminating: the pod remains
    assert sim_jobs(fleet) == {victim.name}
    fleet.set_node_ready(victim.node, True)  # its kubelet confirms: the pod is gone
    assert sim_jobs(fleet) == set()


@pytest.fixture
def api() -> Iterator[StandIn]:
    with running() as standin:
        standin.add_namespace("edge")
        yield standin


def test_upstream_garbage_collector_deletes_a_pull_job_with_its_pod_through_the_kube_adapter(
    api: StandIn, tmp_path: Path
) -> None:
    client = kube.api_client_for(str(api.kubeconfig(tmp_path / "kubeconfig")), None)
    with KubeCluster(client, retrier=Retrier(sleep=lambda _: None, base_delay=0.0)) as cluster:
        for name in ("p1", "p2"):
            api.put("pods", kube_pod(name, "n1"))
        pods = {p.name: p for p in cluster.observe().pods}
        for name in ("p1", "p2"):
            cluster.create_pull_job(job_for(pods[name]))
        owners = [job["metadata"].get("ownerReferences") for job in api.store["jobs"].values()]
        assert [[ref["uid"] for ref in refs or ()] for refs in owners] == [
            [pods["p1"].uid],
            [pods["p2"].uid],
        ]
        cluster.delete_pod("edge", "p1", pods["p1"].uid)
        assert {j.pod for j in cluster.observe().pull_jobs} == {"p2"}
