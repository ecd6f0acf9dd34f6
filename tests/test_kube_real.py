"""Opt-in tier against a real cluster: `pytest -m kube` with KUBECONFIG set (skipped otherwise).

Runs the rollout scenario in a namespace of its own, under an owner identity of its own (the
namespace's name, in the test repository's gitops-edge.yaml), and deletes the namespace
afterwards (once listing on every observe, once through the loop's watch-fed cache); it checks
that no DaemonSet outside its namespace was created or deleted meanwhile: an
AdvancedRollingUpdate DaemonSet is created, its image changed, and passes are run until every
Ready node's pod is current, checking the budget among Ready nodes after every pass. Needs
permission to create namespaces, DaemonSets and to delete pods; runs on whatever nodes the
cluster has (NotReady ones must be deferred).
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops_edge.cluster.kube import KubeCluster
from gitops_edge.reconcile import load_desired, reconcile_once

pytestmark = [
    pytest.mark.kube,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG is not set"),
]

CONFIG = """apiVersion: gitops-edge.io/v1alpha1
kind: RepositoryConfig
metadata:
  name: {namespace}
spec:
  defaultNamespace: {namespace}
"""

DAEMONSET = """apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: gitops-edge-e2e
  namespace: {namespace}
  annotations:
    apps.openyurt.io/update-strategy: AdvancedRollingUpdate
    apps.openyurt.io/max-unavailable: 30%
spec:
  selector:
    matchLabels: {{app: gitops-edge-e2e}}
  updateStrategy:
    type: OnDelete
  template:
    metadata:
      labels: {{app: gitops-edge-e2e}}
    spec:
      tolerations: [{{operator: Exists}}]
      containers:
        - name: pause
          image: registry.k8s.io/pause:{tag}
"""


@pytest.fixture
def namespace() -> Iterator[str]:
    from kubernetes import client, config  # the test may import it; the product may not

    config.load_kube_config()
    core = client.CoreV1Api()
    name = f"gitops-edge-e2e-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    try:
        yield name
    finally:
        core.delete_namespace(name)


@pytest.mark.parametrize("cached", [False, True], ids=["listing", "watch-cache"])
def test_rollout_on_a_real_cluster(namespace: str, tmp_path: Path, cached: bool) -> None:
    """Listing on every observe (`plan`, `--once`) and from the loop's watch-fed cache, whose
    view must never let a pass exceed the budget."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "gitops-edge.yaml").write_text(CONFIG.format(namespace=namespace))
    ds_file = repo / "ds.yaml"
    with KubeCluster.connect(None) as cluster:
        others = _elsewhere(cluster, namespace)
        if cached:
            cluster.start_cache()
        ds_file.write_text(DAEMONSET.format(namespace=namespace, tag="3.9"))
        reconcile_once(load_desired(repo, revision="v1"), cluster)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # wait for the first pods
            pods = [p for p in cluster.observe().pods if p.namespace == namespace]
            if pods and all(p.ready for p in pods):
                break
            time.sleep(5)
        ds_file.write_text(DAEMONSET.format(namespace=namespace, tag="3.10"))
        desired = load_desired(repo, revision="v2")
        for _ in range(60):
            reconcile_once(desired, cluster)
            observed = cluster.observe()
            ready = {n.name for n in observed.nodes if n.ready}
            ds = next(d for d in observed.daemonsets if d.namespace == namespace)
            mine = [p for p in observed.pods if p.owner_name == ds.name]
            budget = math.ceil(0.3 * len({p.node for p in mine}))
            down = {p.node for p in mine if p.node in ready and (not p.ready or p.deleting)}
            assert len(down) <= max(budget, 1)
            assert _elsewhere(cluster, namespace) == others  # nothing outside was touched
            if all(
                p.revision_hash == ds.current_revision and p.ready for p in mine if p.node in ready
            ):
                return
            time.sleep(10)
        pytest.fail("the rollout did not complete on the Ready nodes in 10 minutes")


def _elsewhere(cluster: KubeCluster, namespace: str) -> set[tuple[str, str, str]]:
    """DaemonSets outside the test's namespace: (namespace, name, uid)."""
    return {
        (d.namespace, d.name, d.uid)
        for d in cluster.observe().daemonsets
        if d.namespace != namespace
    }


def test_node_job_round_trip_on_a_real_cluster() -> None:
    """Create, read back and delete a harmless ImagePrePullJob (its only node does not exist)
    in the newest served version; skipped where KubeEdge's node-job CRDs are absent."""
    with KubeCluster.connect(None) as cluster:
        versions = cluster.observe().job_versions
        if not versions:
            pytest.skip("operations.kubeedge.io is not served (KubeEdge CRDs absent)")
        version, name = versions[-1], f"gitops-edge-e2e-{uuid.uuid4().hex[:8]}"
        cluster.create_node_job(
            {
                "apiVersion": f"operations.kubeedge.io/{version}",
                "kind": "ImagePrePullJob",
                "metadata": {
                    "name": name,
                    "labels": {
                        "app.kubernetes.io/managed-by": "gitops-edge",
                        "gitops-edge.io/owner": name,  # an identity no repository has
                    },
                    "annotations": {"gitops-edge.io/job-api-version": version},
                },
                "spec": {
                    "imagePrePullTemplate": {
                        "images": ["registry.k8s.io/pause:3.10"],
                        "nodeNames": [f"{name}-no-such-node"],
                    }
                },
            }
        )
        try:
            (job,) = [j for j in cluster.observe().jobs if j.name == name]
            assert job.api_version.endswith(version) and job.managed
        finally:
            cluster.delete_node_job(f"operations.kubeedge.io/{version}", "ImagePrePullJob", name)
