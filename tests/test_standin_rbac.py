"""The stand-in API server authorizes requests as the real one does (DESIGN §8): the verb each
request needs, RBAC rule matching, and the 403 Status it answers when a ClusterRole does not
allow a request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kube_standin import StandIn, running
from standin_rbac import (
    RECONCILER_USER,
    Attributes,
    Role,
    Rule,
    cluster_role,
    forbidden,
    request_attributes,
)

from gitops_edge.cluster import kube
from gitops_edge.cluster.base import ClusterError
from gitops_edge.cluster.kube import Retrier
from gitops_edge.cluster.kube_cluster import KubeCluster

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


@pytest.mark.parametrize(
    ("method", "path", "params", "expected"),
    [
        ("GET", "/api/v1/nodes", {}, Attributes("list", "", "nodes")),
        ("GET", "/api/v1/nodes", {"watch": "true"}, Attributes("watch", "", "nodes")),
        ("GET", "/api/v1/nodes/n1", {}, Attributes("get", "", "nodes", name="n1")),
        (
            "GET",
            "/api/v1/pods",
            {"fieldSelector": "metadata.name=p1"},
            Attributes("list", "", "pods", name="p1"),
        ),
        (
            "GET",
            "/apis/apps/v1/namespaces/edge/daemonsets",
            {},
            Attributes("list", "apps", "daemonsets", namespace="edge"),
        ),
        (
            "PATCH",
            "/api/v1/namespaces/edge/pods/p1/status",
            {},
            Attributes("patch", "", "pods", "status", "edge", "p1"),
        ),
        (
            "DELETE",
            "/api/v1/namespaces/edge/pods/p1",
            {},
            Attributes("delete", "", "pods", namespace="edge", name="p1"),
        ),
        (
            "DELETE",
            "/api/v1/namespaces/edge/pods",
            {},
            Attributes("deletecollection", "", "pods", namespace="edge"),
        ),
        (
            "POST",
            "/apis/batch/v1/namespaces/edge/jobs",
            {},
            Attributes("create", "batch", "jobs", namespace="edge"),
        ),
        (
            "PUT",
            "/apis/apps/v1/namespaces/edge/daemonsets/d",
            {},
            Attributes("update", "apps", "daemonsets", namespace="edge", name="d"),
        ),
        (
            "PATCH",
            "/api/v1/namespaces/edge-apps",
            {},
            Attributes("patch", "", "namespaces", namespace="edge-apps", name="edge-apps"),
        ),
        (
            "GET",
            "/api/v1/namespaces/edge-apps/status",
            {},
            Attributes("get", "", "namespaces", "status", "edge-apps", "edge-apps"),
        ),
        ("GET", "/api/v1/namespaces", {}, Attributes("list", "", "namespaces")),
        (
            "DELETE",
            "/apis/operations.kubeedge.io/v1alpha2/nodeupgradejobs/j",
            {},
            Attributes("delete", "operations.kubeedge.io", "nodeupgradejobs", name="j"),
        ),
        ("GET", "/apis", {}, None),
        ("GET", "/apis/apps/v1", {}, None),
        ("GET", "/version", {}, None),
    ],
)
def test_requests_map_to_verbs_as_the_api_server_does(
    method: str, path: str, params: dict[str, str], expected: Attributes | None
) -> None:
    assert request_attributes(method, path, params) == expected


def test_rbac_rules_match_groups_resources_verbs_names_and_wildcards() -> None:
    status = Attributes("patch", "", "pods", "status", "edge", "p1")
    assert Rule(("",), ("pods/status",), ("patch",)).allows(status)
    assert not Rule(("",), ("pods",), ("patch",)).allows(status)  # a subresource is apart
    assert Rule(("",), ("*/status",), ("patch",)).allows(status)
    assert not Rule(("",), ("*/status",), ("patch",)).allows(Attributes("patch", "", "pods"))
    assert Rule(("*",), ("*",), ("*",)).allows(status)
    assert not Rule(("apps",), ("pods/status",), ("patch",)).allows(status)
    assert not Rule(("",), ("pods/status",), ("update",)).allows(status)
    assert Rule(("",), ("pods/status",), ("patch",), ("p1",)).allows(status)
    assert not Rule(("",), ("pods/status",), ("patch",), ("p2",)).allows(status)
    listing = Attributes("list", "", "pods", namespace="edge")
    assert not Rule(("",), ("pods",), ("list",), ("p1",)).allows(listing)  # no name to match
    role = Role((Rule(("",), ("pods",), ("list",)), Rule(("",), ("pods/status",), ("patch",))))
    assert role.allows(listing) and role.allows(status)
    assert not role.allows(Attributes("watch", "", "pods"))  # list does not grant watch


def test_forbidden_reads_like_the_api_server() -> None:
    create = Attributes("create", "apps", "daemonsets", namespace="edge-apps", name="x")
    body = forbidden(create, RECONCILER_USER)
    assert body["message"] == (
        'daemonsets.apps "x" is forbidden: User '
        '"system:serviceaccount:gitops-edge:gitops-edge-reconciler" cannot create resource '
        '"daemonsets" in API group "apps" in the namespace "edge-apps"'
    )
    assert (body["reason"], body["code"], body["status"]) == ("Forbidden", 403, "Failure")
    assert body["details"] == {"name": "x", "group": "apps", "kind": "daemonsets"}
    nodes = forbidden(Attributes("list", "", "nodes"), "u")["message"]
    assert nodes == (
        'nodes is forbidden: User "u" cannot list resource "nodes" in API group "" at the '
        "cluster scope"
    )


@pytest.fixture
def enforcing(tmp_path: Path) -> Iterator[tuple[StandIn, KubeCluster]]:
    with running() as standin:
        standin.authorizer = cluster_role(
            DEPLOY / "reconciler-rbac.yaml", "gitops-edge-reconciler"
        ).allows
        client = kube.api_client_for(str(standin.kubeconfig(tmp_path / "kubeconfig")), None)
        with KubeCluster(client, retrier=Retrier(sleep=lambda _: None)) as cluster:
            yield standin, cluster


def test_an_apply_that_creates_needs_create_one_that_updates_needs_patch(
    enforcing: tuple[StandIn, KubeCluster],
) -> None:
    standin, cluster = enforcing
    manifest = {"metadata": {"name": "d", "namespace": "edge"}, "spec": {}}
    patch_only = Role((Rule(("apps",), ("daemonsets",), ("patch",)),))
    standin.authorizer = patch_only.allows
    with pytest.raises(ClusterError) as refused:
        cluster.apply_daemonset(manifest)
    assert str(refused.value) == (
        'apply DaemonSet edge/d: 403 daemonsets.apps "d" is forbidden: User '
        '"system:serviceaccount:gitops-edge:gitops-edge-reconciler" cannot create resource '
        '"daemonsets" in API group "apps" in the namespace "edge" — grant that permission to the '
        "account gitops-edge runs as (deploy/ has the roles it needs)"
    )
    assert ("edge", "d") not in standin.store["daemonsets"]
    standin.put("daemonsets", {"metadata": {"name": "d", "namespace": "edge", "generation": 1}})
    cluster.apply_daemonset(manifest)  # it exists now: patch suffices
    assert standin.authorizations[-1] == Attributes("patch", "apps", "daemonsets", "", "edge", "d")
    create_only = Role((Rule(("apps",), ("daemonsets",), ("create",)),))
    standin.authorizer = create_only.allows
    with pytest.raises(ClusterError, match='cannot patch resource "daemonsets"'):
        cluster.apply_daemonset({**manifest, "metadata": {"name": "e", "namespace": "edge"}})
