"""Namespaces against the stand-in API server (issue 15 item 1, DESIGN §8): a create or
server-side apply into a namespace that does not exist answers 404 `namespaces "NAME" not
found` (details.kind: namespaces), which the adapter reads as NamespaceMissingError, not "gone";
namespaces are served and applied; `reconcile example-repo --cluster kube --once` works on an
empty cluster, and without the namespaces declared it fails naming them."""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.error import HTTPError

import pytest
from kube_standin import StandIn, running

from gitops_edge.cli.main import main
from gitops_edge.cluster import kube
from gitops_edge.cluster.base import NamespaceMissingError, NotFoundError
from gitops_edge.cluster.kube import Retrier
from gitops_edge.cluster.kube_cluster import KubeCluster

EXAMPLE = Path(__file__).resolve().parent.parent / "example-repo"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[StandIn, KubeCluster]]:
    with running() as standin:
        client = kube.api_client_for(str(standin.kubeconfig(tmp_path / "kubeconfig")), None)
        with KubeCluster(client, retrier=Retrier(sleep=lambda _: None)) as cluster:
            yield standin, cluster


def request(
    standin: StandIn, method: str, path: str, body: object = None, **headers: str
) -> tuple[int, dict[str, object]]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(standin.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req) as response:
            return response.status, json.loads(response.read())
    except HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_standin_answers_an_object_in_a_missing_namespace_as_the_api_server(
    api: tuple[StandIn, KubeCluster],
) -> None:
    standin, _ = api
    missing = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": 'namespaces "edge-apps" not found',
        "reason": "NotFound",
        "details": {"name": "edge-apps", "kind": "namespaces"},
        "code": 404,
    }
    apply = request(
        standin,
        "PATCH",
        "/apis/apps/v1/namespaces/edge-apps/daemonsets/d?fieldManager=gitops-edge",
        {"metadata": {"name": "d"}, "spec": {}},
        **{"Content-Type": "application/apply-patch+yaml"},
    )
    assert apply == (404, missing)
    create = request(
        standin,
        "POST",
        "/apis/batch/v1/namespaces/edge-apps/jobs",
        {"metadata": {"name": "j"}},
        **{"Content-Type": "application/json"},
    )
    assert create == (404, missing)
    assert standin.store["daemonsets"] == {} and standin.store["jobs"] == {}


def test_standin_serves_namespaces(api: tuple[StandIn, KubeCluster]) -> None:
    standin, _ = api
    status, listed = request(standin, "GET", "/api/v1/namespaces")
    assert status == 200 and [n["metadata"]["name"] for n in listed["items"]] == [  # type: ignore[index, union-attr]
        "default",
        "kube-node-lease",
        "kube-public",
        "kube-system",
    ]
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "edge"}}
    apply = {"Content-Type": "application/apply-patch+yaml"}
    assert (
        request(standin, "PATCH", "/api/v1/namespaces/edge?fieldManager=m", body, **apply)[0] == 200
    )
    assert request(standin, "GET", "/api/v1/namespaces/edge")[0] == 200
    standin.put("pods", {"metadata": {"name": "p", "namespace": "edge"}, "spec": {}})
    assert request(standin, "DELETE", "/api/v1/namespaces/edge")[0] == 200
    assert standin.store["pods"] == {}  # what was in it went with it
    assert request(standin, "GET", "/api/v1/namespaces/edge")[0] == 404


def test_adapter_reads_the_missing_namespace_404_as_namespace_missing(
    api: tuple[StandIn, KubeCluster],
) -> None:
    standin, cluster = api
    manifest = {"metadata": {"name": "d", "namespace": "edge-apps"}, "spec": {}}
    with pytest.raises(NamespaceMissingError) as caught:
        cluster.apply_daemonset(manifest)
    assert caught.value.namespace == "edge-apps"
    assert str(caught.value) == (
        'apply DaemonSet edge-apps/d: namespace "edge-apps" does not exist: declare it in the '
        "repository (a v1 Namespace) or create it (kubectl create namespace edge-apps)"
    )
    cluster.apply_namespace(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "edge-apps", "labels": {"a": "b"}},
        }
    )
    (seen,) = [n for n in cluster.observe().namespaces or () if n.name == "edge-apps"]
    assert seen.labels == {"a": "b", "kubernetes.io/metadata.name": "edge-apps"}
    cluster.apply_daemonset(manifest)
    assert ("edge-apps", "d") in standin.store["daemonsets"]
    cluster.delete_namespace("edge-apps")
    assert standin.store["daemonsets"] == {}
    with pytest.raises(NotFoundError):
        cluster.delete_namespace("edge-apps")


def test_reconcile_example_repo_on_an_empty_cluster_creates_its_namespaces_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: `0 done, 22 skipped` (every apply "already gone") and exit 0."""
    repo = tmp_path / "repo"  # a copy, outside any git repository
    shutil.copytree(EXAMPLE, repo)
    with running() as standin:
        standin.job_versions = ["v1alpha1", "v1alpha2"]  # KubeEdge's node job CRDs
        monkeypatch.setenv("KUBECONFIG", str(standin.kubeconfig(tmp_path / "kubeconfig")))
        code = main(["reconcile", str(repo), "--cluster", "kube", "--once"])
        out = capsys.readouterr().out
        assert code == 0, out
        lines = out.splitlines()
        namespaces = [i for i, line in enumerate(lines) if "Namespace" in line]
        daemonsets = [i for i, line in enumerate(lines) if "DaemonSet" in line]
        assert len(namespaces) == 4 and max(namespaces) < min(daemonsets)
        assert not any(line.startswith(("skip", "FAIL")) for line in lines), out
        assert {"edge-apps", "edge-system", "monitoring", "ota-demo"} <= set(standin.namespaces)
        assert {ns for ns, _ in standin.store["daemonsets"]} == {
            "edge-apps",
            "edge-system",
            "monitoring",
            "ota-demo",
        }


def test_reconcile_without_the_namespaces_declared_fails_naming_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo)
    (repo / "namespaces.yaml").unlink()
    with running() as standin:
        standin.job_versions = ["v1alpha1", "v1alpha2"]
        monkeypatch.setenv("KUBECONFIG", str(standin.kubeconfig(tmp_path / "kubeconfig")))
        code = main(["reconcile", str(repo), "--cluster", "kube", "--once"])
    out = capsys.readouterr().out
    assert code == 1
    lines = [
        line for line in out.splitlines() if "DaemonSet edge-system/log-agent-hangzhou" in line
    ]
    assert lines and all(line.startswith("FAIL create ") for line in lines)
    assert (
        'namespace "edge-system" does not exist: declare it in the repository (a v1 Namespace) '
        "or create it (kubectl create namespace edge-system)"
    ) in lines[0]
    assert not any(line.startswith("skip") for line in out.splitlines())
