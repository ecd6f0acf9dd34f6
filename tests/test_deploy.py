"""deploy/: the manifests parse, the RBAC grants exactly what the adapter and the agent use
(derived from what the requests they make against the stand-in API server are authorized as),
the agent stays on loopback, and the Dockerfile builds the console script."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube_standin import StandIn, running

from gitops_edge.cluster import kube
from gitops_edge.cluster.base import NotFoundError
from gitops_edge.cluster.kube import KubeCluster, KubeNodeClient, Retrier
from gitops_edge.observed import Condition
from gitops_edge.prepull import pull_job
from gitops_edge.yamldoc import load_documents

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
Grant = tuple[str, str, str]  # (apiGroup, resource, verb)


def manifests(name: str) -> list[dict[str, Any]]:
    documents, problems = load_documents(name, (DEPLOY / name).read_text())
    assert problems == []
    return [d.data for d in documents]


def granted(name: str, role: str) -> set[Grant]:
    (cluster_role,) = [
        d for d in manifests(name) if d["kind"] == "ClusterRole" and d["metadata"]["name"] == role
    ]
    return {
        (group, resource, verb)
        for rule in cluster_role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def used(api: StandIn) -> set[Grant]:
    """What the requests made were authorized as, the way the API server maps them
    (`standin_rbac.request_attributes`: an apply that creates its object is `create` too, list
    and watch differ, subresources count apart); discovery needs no grant."""
    return {(a.group, a.combined, a.verb) for a in api.authorizations}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[StandIn, KubeCluster]]:
    with running() as standin:
        client = kube.api_client_for(str(standin.kubeconfig(tmp_path / "kubeconfig")), None)
        with KubeCluster(client, retrier=Retrier(sleep=lambda _: None)) as cluster:
            yield standin, cluster


def add_pod(api: StandIn, name: str) -> str:
    pod = api.put(
        "pods",
        {
            "metadata": {
                "name": name,
                "namespace": "edge",
                "ownerReferences": [{"kind": "DaemonSet", "name": "d", "controller": True}],
            },
            "spec": {"nodeName": "n1"},
            "status": {"conditions": []},
        },
    )
    return str(pod["metadata"]["uid"])


def test_reconciler_rbac_is_exactly_what_the_adapter_uses(
    api: tuple[StandIn, KubeCluster],
) -> None:
    standin, cluster = api
    standin.job_versions = ["v1alpha1", "v1alpha2"]
    cluster.observe()
    cluster.start_cache(idle_delay=0.02)  # the loop's watches
    deadline = time.monotonic() + 10
    while len({p for _, p, params in standin.requests if params.get("watch")}) < 4:
        assert time.monotonic() < deadline, "the cache did not start its four watches"
        time.sleep(0.02)
    cluster.observe()
    for kind in ("NodeUpgradeJob", "ImagePrePullJob"):
        manifest = {"apiVersion": "operations.kubeedge.io/v1alpha2", "kind": kind}
        cluster.create_node_job({**manifest, "metadata": {"name": "j"}, "spec": {}})
        cluster.delete_node_job(manifest["apiVersion"], kind, "j")
    cluster.apply_daemonset({"metadata": {"name": "d", "namespace": "edge"}, "spec": {}})
    cluster.annotate_daemonset("edge", "d", {"gitops-edge.io/halted": None})
    with pytest.raises(NotFoundError):  # lists the revisions, finds none: no patch
        cluster.rollback_daemonset("edge", "d", "uid-x", "h1")
    uid = add_pod(standin, "p1")
    cluster.set_pod_condition("edge", "p1", uid, Condition("PodNeedUpgrade", "True"))
    cluster.delete_pod("edge", "p1", uid)
    cluster.delete_daemonset("edge", "d")
    job = pull_job(namespace="edge", pod="p1", node="n1", revision="h2", pod_spec={})
    cluster.create_pull_job(job)
    cluster.delete_job("edge", job["metadata"]["name"])
    assert used(standin) == granted("reconciler-rbac.yaml", "gitops-edge-reconciler")


def test_agent_rbac_is_exactly_what_the_agent_uses(api: tuple[StandIn, KubeCluster]) -> None:
    standin, cluster = api
    uid = add_pod(standin, "p1")
    node = KubeNodeClient(cluster, "n1")
    node.list_pods()
    node.get_pod("edge", "p1")
    node.set_pod_condition("edge", "p1", uid, Condition("PodImageReady", "False"))
    node.delete_pod("edge", "p1", uid)
    assert used(standin) == granted("agent.yaml", "gitops-edge-agent")


def test_agent_daemonset_stays_on_loopback_and_knows_its_node() -> None:
    (daemonset,) = [d for d in manifests("agent.yaml") if d["kind"] == "DaemonSet"]
    (container,) = daemonset["spec"]["template"]["spec"]["containers"]
    assert "--allow-remote" not in container["args"] and "--listen" not in container["args"]
    assert container["args"][:3] == ["agent", "--node", "$(NODE_NAME)"]
    env = {e["name"]: e for e in container["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"


def test_cronjob_runs_one_pass_with_the_reconciler_account() -> None:
    (cron,) = [d for d in manifests("reconciler-cronjob.yaml") if d["kind"] == "CronJob"]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "gitops-edge-reconciler"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    (container,) = pod["containers"]
    assert container["args"][0] == "reconcile" and "--once" in container["args"]


def test_dockerfile_installs_the_console_script() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["gitops-edge"]' in text
    assert "USER 10001" in text


def test_deployment_runs_the_loop_on_a_git_source_one_replica() -> None:
    (deployment,) = [
        d for d in manifests("reconciler-deployment.yaml") if d["kind"] == "Deployment"
    ]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"  # never two reconcilers
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "gitops-edge-reconciler"
    (container,) = pod["containers"]
    assert container["args"][:2] == ["reconcile", "$(REPO_URL)"]
    assert "--interval=60" in container["args"] and "--cluster=kube" in container["args"]


def test_image_has_git_for_git_sources() -> None:
    assert "install -y --no-install-recommends git" in (ROOT / "Dockerfile").read_text()
