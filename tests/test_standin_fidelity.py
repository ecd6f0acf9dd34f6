"""Issue 15, Done-when: the stand-in API server reproduces each behaviour of DESIGN §8's list
"Measured on a real control plane", one test per behaviour, named after it. Each talks to the
stand-in through the official `kubernetes` client as the adapter does (where the adapter has a
call for it, through the adapter), and stands on its own. The controllers the stand-in does not
run (DaemonSet controller, scheduler, kubelets) are played by `standin_controllers`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube_identity import Identities, User, node_user
from kube_standin import Obj, StandIn, running
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from standin_client import connected
from standin_controllers import (
    record_revision,
    run_daemonset_controller,
    run_kubelets,
    run_scheduler,
)
from standin_rbac import Attributes, Role, Rule

from gitops_edge.cluster import kube
from gitops_edge.cluster.kube_cluster import KubeCluster
from gitops_edge.model.plan import DeletePod
from gitops_edge.reconciler.reconcile import load_desired, plan_once, reconcile_once

APPLY = {
    "field_manager": "gitops-edge",
    "force": True,
    "_content_type": "application/apply-patch+yaml",
}
STATUS_PATCH = "application/strategic-merge-patch+json"
CONFIG = """apiVersion: gitops-edge.io/v1alpha1
kind: RepositoryConfig
metadata:
  name: fidelity
spec:
  defaultNamespace: edge
"""
DAEMONSET = """apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  namespace: edge
  annotations:
    apps.openyurt.io/update-strategy: AdvancedRollingUpdate
    apps.openyurt.io/max-unavailable: "1"
spec:
  selector:
    matchLabels: {{app: agent}}
  updateStrategy:
    type: OnDelete
  template:
    metadata:
      labels: {{app: agent}}
    spec:
      containers:
        - name: agent
          image: registry.example/agent:{tag}
"""


@pytest.fixture
def api() -> Iterator[StandIn]:
    with running() as standin:
        standin.add_namespace("edge")  # where these tests' objects live (it must exist)
        yield standin


@pytest.fixture
def cluster(api: StandIn, tmp_path: Path) -> Iterator[KubeCluster]:
    with connected(api, tmp_path) as c:
        yield c


def add_node(api: StandIn, name: str, *, ready: bool = True) -> None:
    condition = {"type": "Ready", "status": "True" if ready else "False"}
    api.put("nodes", {"metadata": {"name": name}, "status": {"conditions": [condition]}})


def add_pod(api: StandIn, name: str, *, node: str = "", namespace: str = "edge") -> Obj:
    return api.put(
        "pods",
        {
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"controller-revision-hash": "h1"},  # a daemon pod (observe's filter)
            },
            "spec": {
                "containers": [{"name": "c", "image": "registry.example/c:1"}],
                **({"nodeName": node} if node else {}),
            },
            "status": {"phase": "Running" if node else "Pending"},
        },
    )


def daemonset(name: str = "d", *, image: str = "registry.example/d:1") -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": "edge"},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "updateStrategy": {"type": "OnDelete"},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": image}]},
            },
        },
    }


def error_body(raised: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(raised.value.body)
    return body


def events(cluster: KubeCluster, *, since: str) -> list[tuple[str, str, bool]]:
    """The pod watch events after resourceVersion `since`: (type, name, has deletionTimestamp)."""
    response = cluster.core.list_pod_for_all_namespaces(
        watch=True, resource_version=since, _preload_content=False
    )
    lines = [json.loads(line) for line in response.data.splitlines() if line.strip()]
    return [
        (e["type"], e["object"]["metadata"]["name"], "deletionTimestamp" in e["object"]["metadata"])
        for e in lines
    ]


def list_version(cluster: KubeCluster) -> str:
    listed = json.loads(cluster.core.list_pod_for_all_namespaces(_preload_content=False).data)
    return str(listed["metadata"]["resourceVersion"])


# ── one test per behaviour of DESIGN §8 ──────────────────────────────────────────────────────


def test_apply_into_a_missing_namespace_answers_404_namespaces_not_found(
    cluster: KubeCluster,
) -> None:
    with pytest.raises(ApiException) as raised:
        cluster.apps.patch_namespaced_daemon_set(
            "d", "no-such-namespace", body=daemonset(), **APPLY
        )
    body = error_body(raised)
    assert raised.value.status == 404
    assert body["message"] == 'namespaces "no-such-namespace" not found'
    assert body["details"]["kind"] == "namespaces"


def test_apply_that_creates_is_authorized_as_create_one_that_changes_as_patch(
    api: StandIn, cluster: KubeCluster
) -> None:
    """See also tests/test_standin_rbac.py (the mapping of every request to its verb)."""
    api.authorizer = Role((Rule(("apps",), ("daemonsets",), ("patch",)),)).allows
    with pytest.raises(ApiException) as refused:
        cluster.apps.patch_namespaced_daemon_set("d", "edge", body=daemonset(), **APPLY)
    assert refused.value.status == 403
    assert (
        'cannot create resource "daemonsets" in API group "apps"' in error_body(refused)["message"]
    )
    assert ("edge", "d") not in api.store["daemonsets"]
    assert api.authorizations[-2:] == [
        Attributes("patch", "apps", "daemonsets", "", "edge", "d"),
        Attributes("create", "apps", "daemonsets", "", "edge", "d"),
    ]
    api.authorizer = Role((Rule(("apps",), ("daemonsets",), ("create", "patch")),)).allows
    cluster.apps.patch_namespaced_daemon_set("d", "edge", body=daemonset(), **APPLY)
    assert api.authorizations[-1].verb == "create"
    api.authorizations.clear()
    api.authorizer = Role((Rule(("apps",), ("daemonsets",), ("patch",)),)).allows
    changed = daemonset(image="registry.example/d:2")
    cluster.apps.patch_namespaced_daemon_set("d", "edge", body=changed, **APPLY)
    assert api.authorizations == [Attributes("patch", "apps", "daemonsets", "", "edge", "d")]
    stored = api.store["daemonsets"][("edge", "d")]
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/d:2"


def test_status_patch_with_the_uid_of_a_replaced_pod_answers_422_invalid_not_409(
    api: StandIn, cluster: KubeCluster
) -> None:
    """See also tests/test_kube_adapter.py (how the adapter reads that 422)."""
    add_node(api, "n1")
    old_uid = add_pod(api, "p", node="n1")["metadata"]["uid"]
    cluster.core.delete_namespaced_pod("p", "edge")
    new_uid = add_pod(api, "p", node="n1")["metadata"]["uid"]  # its controller recreated it
    assert new_uid != old_uid
    stale = {
        "metadata": {"uid": old_uid},
        "status": {"conditions": [{"type": "X", "status": "True"}]},
    }
    with pytest.raises(ApiException) as raised:
        cluster.core.patch_namespaced_pod_status(
            "p", "edge", body=stale, _content_type=STATUS_PATCH
        )
    body = error_body(raised)
    assert (raised.value.status, body["reason"]) == (422, "Invalid")
    assert body["message"] == (
        f'Pod "p" is invalid: metadata.uid: Invalid value: "{old_uid}": field is immutable'
    )
    assert body["details"]["causes"][0]["field"] == "metadata.uid"
    assert "status" not in api.store["pods"][("edge", "p")] or not api.store["pods"][("edge", "p")][
        "status"
    ].get("conditions")


def test_daemonset_controller_creates_pods_pending_unbound_pinned_and_tolerating_not_ready(
    api: StandIn, cluster: KubeCluster
) -> None:
    """... and kube-scheduler binds them a moment later, or never (PodScheduled=False,
    Unschedulable) when the template does not fit the node."""
    for name in ("n1", "n2"):
        add_node(api, name)
    cluster.apply_daemonset(daemonset())
    uid = api.store["daemonsets"][("edge", "d")]["metadata"]["uid"]
    run_daemonset_controller(api)
    listed = cluster.core.list_pod_for_all_namespaces(_preload_content=False)
    pods = sorted(json.loads(listed.data)["items"], key=lambda p: _pinned(p))
    assert [_pinned(p) for p in pods] == ["n1", "n2"]
    for pod in pods:
        assert pod["status"]["phase"] == "Pending"
        assert not pod["spec"].get("nodeName")
        terms = pod["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ]["nodeSelectorTerms"]
        assert terms == [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [_pinned(pod)]}]}
        ]
        tolerations = pod["spec"]["tolerations"]
        for taint in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
            assert {"key": taint, "operator": "Exists", "effect": "NoExecute"} in tolerations
        labels = pod["metadata"]["labels"]
        assert labels["app"] == "d" and labels["pod-template-generation"] == "1"
        assert labels["controller-revision-hash"]
        (owner,) = pod["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
            "DaemonSet",
            "d",
            uid,
            True,
        )
    run_scheduler(api, fits=lambda pod, node: node["metadata"]["name"] == "n1")
    by_node = {_pinned(p): p for p in api.store["pods"].values()}
    assert by_node["n1"]["spec"]["nodeName"] == "n1"
    assert not by_node["n2"]["spec"].get("nodeName")
    (scheduled,) = [c for c in by_node["n2"]["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
    assert by_node["n2"]["status"]["phase"] == "Pending"


def test_a_pod_waiting_for_the_scheduler_belongs_to_its_node_and_counts_unavailable(
    api: StandIn, cluster: KubeCluster, tmp_path: Path
) -> None:
    """What the previous test's pods mean to gitops-edge: observe attributes an unbound pod
    to the node its affinity names, and the plan counts it against the budget (issue 14 item
    2), through a whole rollout whose new template never fits."""
    for name in ("n1", "n2", "n3"):
        add_node(api, name)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "gitops-edge.yaml").write_text(CONFIG)
    (repo / "agent.yaml").write_text(DAEMONSET.format(tag="1"))
    reconcile_once(load_desired(repo, revision="v1"), cluster)
    run_daemonset_controller(api)
    run_scheduler(api)
    run_kubelets(api)
    (repo / "agent.yaml").write_text(DAEMONSET.format(tag="2"))
    desired = load_desired(repo, revision="v2")
    reconcile_once(desired, cluster)  # the DaemonSet is updated
    run_daemonset_controller(api)  # its new revision
    first = reconcile_once(desired, cluster)
    (deleted,) = [r.action for r in first.results if isinstance(r.action, DeletePod)]
    assert ("edge", deleted.name) not in api.store["pods"]  # a Ready node's kubelet confirmed
    (replacement,) = run_daemonset_controller(api)
    run_scheduler(api, fits=lambda pod, node: False)  # the new template never fits
    observed = cluster.observe()
    (waiting,) = [p for p in observed.pods if p.name == replacement["metadata"]["name"]]
    assert (waiting.node, waiting.bound, waiting.ready) == (deleted.node, False, False)
    (ds,) = plan_once(desired, cluster).daemonsets
    assert ds.budget is not None and (ds.budget.max_unavailable, ds.budget.unavailable) == (1, 1)
    assert not [a for a in ds.actions if isinstance(a, DeletePod)]
    again = reconcile_once(desired, cluster)
    assert not [r for r in again.results if isinstance(r.action, DeletePod)]
    assert len([p for p in api.store["pods"].values() if p["spec"].get("nodeName")]) == 2


def test_deleted_pod_keeps_its_deletion_timestamp_until_its_kubelet_confirms_never_while_not_ready(
    api: StandIn, cluster: KubeCluster
) -> None:
    add_node(api, "ready")
    add_node(api, "offline", ready=False)
    add_pod(api, "on-ready", node="ready")
    add_pod(api, "on-offline", node="offline")
    add_pod(api, "unbound")
    since = list_version(cluster)
    for name in ("on-ready", "on-offline", "unbound"):
        cluster.core.delete_namespaced_pod(name, "edge", _preload_content=False)
    assert events(cluster, since=since) == [
        ("MODIFIED", "on-ready", True),  # Terminating,
        ("DELETED", "on-ready", True),  # then gone once its kubelet confirms
        ("MODIFIED", "on-offline", True),  # Terminating, and its kubelet cannot confirm
        ("DELETED", "unbound", False),  # no kubelet to wait for: gone at once
    ]
    left = cluster.core.read_namespaced_pod("on-offline", "edge", _preload_content=False)
    assert json.loads(left.data)["metadata"]["deletionTimestamp"]
    (seen,) = cluster.observe().pods
    assert (seen.name, seen.deleting) == ("on-offline", True)
    since = list_version(cluster)
    # Asking again changes nothing.
    cluster.core.delete_namespaced_pod("on-offline", "edge", _preload_content=False)
    assert events(cluster, since=since) == []
    api.set_node_ready("offline", True)  # the node returns: its kubelet confirms
    assert events(cluster, since=since)[-1] == ("DELETED", "on-offline", True)
    with pytest.raises(ApiException) as gone:
        cluster.core.read_namespaced_pod("on-offline", "edge")
    assert gone.value.status == 404


def test_node_identities_read_pods_and_delete_or_patch_status_only_of_their_own_nodes_pods(
    api: StandIn, tmp_path: Path
) -> None:
    """See also tests/test_agent_identity.py (the agent confined this way)."""
    api.gate = Identities(
        tokens={
            "token-a": node_user("edge-a"),
            "token-not-a-node": User("system:node:edge-a"),  # no group system:nodes
        }
    )
    for name in ("edge-a", "edge-b"):
        add_node(api, name)
    own = add_pod(api, "own", node="edge-a")
    other = add_pod(api, "other", node="edge-b", namespace="kube-system")
    core = k8s.CoreV1Api(
        kube.api_client_for(str(api.kubeconfig(tmp_path / "a", token="token-a")), None)
    )
    listed = json.loads(core.list_pod_for_all_namespaces(_preload_content=False).data)
    assert {p["metadata"]["name"] for p in listed["items"]} == {"own", "other"}
    mark = {"status": {"conditions": [{"type": "PodNeedUpgrade", "status": "False"}]}}
    for call in (
        lambda: core.patch_namespaced_pod_status(
            "other",
            "kube-system",
            body={"metadata": {"uid": other["metadata"]["uid"]}, **mark},
            _content_type=STATUS_PATCH,
        ),
        lambda: core.delete_namespaced_pod("other", "kube-system"),
    ):
        with pytest.raises(ApiException) as refused:
            call()
        assert refused.value.status == 403
        assert 'node "edge-a" can only' in error_body(refused)["message"]
    assert ("kube-system", "other") in api.store["pods"]
    assert not api.store["pods"][("kube-system", "other")]["status"].get("conditions")
    core.patch_namespaced_pod_status(
        "own",
        "edge",
        body={"metadata": {"uid": own["metadata"]["uid"]}, **mark},
        _content_type=STATUS_PATCH,
    )
    core.delete_namespaced_pod("own", "edge")
    assert ("edge", "own") not in api.store["pods"]
    impostor = k8s.CoreV1Api(
        kube.api_client_for(str(api.kubeconfig(tmp_path / "x", token="token-not-a-node")), None)
    )
    with pytest.raises(ApiException) as refused:
        impostor.list_pod_for_all_namespaces()
    assert refused.value.status == 403


def test_daemonset_with_a_new_template_gets_a_new_controller_revision_at_once(
    api: StandIn, cluster: KubeCluster
) -> None:
    """... and its pods carry `controller-revision-hash` and `pod-template-generation`."""
    add_node(api, "n1")
    cluster.apply_daemonset(daemonset())
    run_daemonset_controller(api)
    run_scheduler(api)
    run_kubelets(api)
    (before,) = cluster.observe().daemonsets
    (pod,) = cluster.observe().pods
    assert (pod.revision_hash, pod.template_generation) == (before.current_revision, 1)
    cluster.apply_daemonset(daemonset(image="registry.example/d:2"))
    record_revision(api, api.store["daemonsets"][("edge", "d")])  # the controller, at once
    observed = cluster.observe()
    (after,) = observed.daemonsets
    assert after.current_revision not in ("", before.current_revision)
    assert after.template_generation == 2
    revisions = json.loads(
        cluster.apps.list_controller_revision_for_all_namespaces(_preload_content=False).data
    )["items"]
    assert sorted(
        (r["revision"], r["metadata"]["labels"]["controller-revision-hash"]) for r in revisions
    ) == [
        (1, before.current_revision),
        (2, after.current_revision),
    ]
    (pod,) = observed.pods  # OnDelete: the old pod stays, with its labels
    assert (pod.revision_hash, pod.template_generation) == (before.current_revision, 1)


def _pinned(pod: Obj) -> str:
    terms = pod["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    return str(terms["nodeSelectorTerms"][0]["matchFields"][0]["values"][0])
