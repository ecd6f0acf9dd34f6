"""The edge agent is confined by the API server, not only by its own code (issue 15, item 3):
it runs with its node's identity (`system:node:NAME`, group `system:nodes`), which the stand-in
confines as the Node authorizer and NodeRestriction do (tests/kube_identity.py); it checks at
start-up that the identity is its node's and refuses to start otherwise."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube_identity import NODE_NAME_CLAIM, Identities, User, node_user
from kube_standin import StandIn, running, write_kubeconfig
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from gitops_edge.agent.cache import PodCache
from gitops_edge.agent.handlers import Agent
from gitops_edge.agent.identity import Identity, identity_from_certificate, verify
from gitops_edge.agent.server import make_server
from gitops_edge.cli.main import main
from gitops_edge.cluster import kube
from gitops_edge.cluster.base import CloudUnreachableError, ClusterError, NotFoundError
from gitops_edge.cluster.kube import Retrier
from gitops_edge.cluster.kube_cluster import KubeCluster
from gitops_edge.cluster.kube_node import KubeNodeClient
from gitops_edge.model.observed import Condition

TOKENS = {
    "token-edge-a": node_user("edge-a"),
    "token-edge-b": node_user("edge-b"),
    "token-admin": User("kubernetes-admin", ("system:masters",), grants=None),
    "token-agent-sa": User(
        "system:serviceaccount:gitops-edge:gitops-edge-agent",
        ("system:serviceaccounts", "system:serviceaccounts:gitops-edge"),
        grants=frozenset({("", "pods", "delete"), ("", "pods/status", "patch")}),
    ),
}
# A kubelet's client certificate (CN system:node:edge-a, O system:nodes, issued by CA
# "kubernetes"): an X.509 v1 certificate, then a v3 self-signed one; public parts only.
NODE_CERT_V1 = """-----BEGIN CERTIFICATE-----
MIIBRTCB7AIUcvtzQbY0ZIlHmKNVp0x2ZvvnTcMwCgYIKoZIzj0EAwIwFTETMBEG
A1UEAwwKa3ViZXJuZXRlczAgFw0yNjExMzAwMDExMTdaGA8yMTI2MTEwNjAwMTEx
N1owNDEVMBMGA1UECgwMc3lzdGVtOm5vZGVzMRswGQYDVQQDDBJzeXN0ZW06bm9k
ZTplZGdlLWEwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARx94cjxZvfQtHt6UZq
KpZO36/sNrZ7ed/lbSrGdijbKI9HzAE06xTy3cuo/5IR7pRHDOzhCukvnFg0+17Q
QkF7MAoGCCqGSM49BAMCA0gAMEUCIDANaAVhVVI4Td/leCvsrAkzxTfj5n1l74OF
NWxXAvT3AiEAtRB0C1SkQsPlWSr+XWce6gjMHHhjLpmwiTNFpFYxTZs=
-----END CERTIFICATE-----
"""
NODE_CERT_V3 = """-----BEGIN CERTIFICATE-----
MIIBvDCCAWKgAwIBAgIUdEO0bh5ZD7kKBzomQRvioRdkNi8wCgYIKoZIzj0EAwIw
NDEVMBMGA1UECgwMc3lzdGVtOm5vZGVzMRswGQYDVQQDDBJzeXN0ZW06bm9kZTpl
ZGdlLWEwIBcNMjYxMTMwMDAxMTEzWhgPMjEyNjExMDYwMDExMTNaMDQxFTATBgNV
BAoMDHN5c3RlbTpub2RlczEbMBkGA1UEAwwSc3lzdGVtOm5vZGU6ZWRnZS1hMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEf+4ndRmSDuKCfNRmWk1lOlD+xwXjwH5m
oGkT9uai95Swo+SqA+5buy4Cfdcsg/b9YNCU4ozaGCRWGECWiHH5zqNQME4wHQYD
VR0OBBYEFHrVMf9kzs2KtfIRuuth+lM81FvOMB8GA1UdIwQYMBaAFHrVMf9kzs2K
tfIRuuth+lM81FvOMAwGA1UdEwEB/wQCMAAwCgYIKoZIzj0EAwIDSAAwRQIhAOvt
aPt1t1DnC1pyIUPgVJYqd6CxXKNszwWbboABwQTjAiB2HvfCj2AAO6jKl3X3xZcl
41L4LYXXVVgNnV48VPWVFA==
-----END CERTIFICATE-----
"""


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with running() as api:
        api.gate = Identities(tokens=dict(TOKENS))
        yield api


def node_client(api: StandIn, tmp_path: Path, *, token: str, node: str) -> KubeNodeClient:
    path = api.kubeconfig(tmp_path / f"kubeconfig-{token}", token=token)
    cluster = KubeCluster(kube.api_client_for(str(path), None), retrier=Retrier(sleep=lambda _: 0))
    return KubeNodeClient(cluster, node)


def add_pod(api: StandIn, *, name: str, node: str, namespace: str = "edge") -> dict[str, Any]:
    return api.put(
        "pods",
        {
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"app": name.rpartition("-")[0]},
                "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "d", "controller": True}
                ],
            },
            "spec": {"nodeName": node},
            "status": {
                "conditions": [
                    {
                        "type": "PodNeedUpgrade",
                        "status": "True",
                        "message": "controllerrevision: h2",
                    }
                ]
            },
        },
    )


def conditions(api: StandIn, namespace: str, name: str) -> dict[str, str]:
    pod = api.store["pods"][(namespace, name)]
    return {c["type"]: c["status"] for c in pod["status"]["conditions"]}


# ── the API server confines the node identity ────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("namespace", "name", "node"),
    [("edge", "log-agent-b", "edge-b"), ("kube-system", "kube-proxy-b", "edge-b")],
)
def test_node_identity_cannot_delete_or_patch_another_nodes_pod(
    standin: StandIn, tmp_path: Path, namespace: str, name: str, node: str
) -> None:
    """The node client is called directly: the agent's own nodeName check is bypassed, and the
    API server still refuses (NodeRestriction's messages)."""
    pod = add_pod(standin, name=name, node=node, namespace=namespace)
    uid = pod["metadata"]["uid"]
    client = node_client(standin, tmp_path, token="token-edge-a", node="edge-a")
    forged = Condition("PodNeedUpgrade", "False", message="controllerrevision: h1")
    with pytest.raises(ClusterError, match="403") as patched:
        client.set_pod_condition(namespace, name, uid, forged)
    assert (
        f'pods "{name}" is forbidden: node "edge-a" can only update pod status for pods with '
        "spec.nodeName set to itself"
    ) in str(patched.value)
    with pytest.raises(ClusterError, match="403") as deleted:
        client.delete_pod(namespace, name, uid)
    assert 'node "edge-a" can only delete pods with spec.nodeName set to itself' in str(
        deleted.value
    )
    assert (namespace, name) in standin.store["pods"]  # still there
    assert conditions(standin, namespace, name) == {"PodNeedUpgrade": "True"}  # nothing forged
    assert [(user, a.verb, a.resource) for user, a, _ in standin.gate.refused] == [  # type: ignore[union-attr]
        ("system:node:edge-a", "patch", "pods/status"),
        ("system:node:edge-a", "delete", "pods"),
    ]


def test_a_refusal_is_a_kubernetes_status(standin: StandIn, tmp_path: Path) -> None:
    add_pod(standin, name="log-agent-b", node="edge-b")
    path = standin.kubeconfig(tmp_path / "kubeconfig", token="token-edge-a")
    api = kube.api_client_for(str(path), None)
    with pytest.raises(ApiException) as refused:
        k8s.CoreV1Api(api).delete_namespaced_pod("log-agent-b", "edge")
    assert refused.value.status == 403
    assert json.loads(refused.value.body) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods "log-agent-b" is forbidden: node "edge-a" can only delete pods with '
        "spec.nodeName set to itself",
        "reason": "Forbidden",
        "details": {"name": "log-agent-b", "group": "", "kind": "pods"},
        "code": 403,
    }


def test_node_identity_may_not_touch_workloads_or_relabel_its_pods(
    standin: StandIn, tmp_path: Path
) -> None:
    standin.put("daemonsets", {"metadata": {"name": "d", "namespace": "edge"}, "spec": {}})
    add_pod(standin, name="log-agent-a", node="edge-a")
    client = node_client(standin, tmp_path, token="token-edge-a", node="edge-a")
    with pytest.raises(ClusterError, match="403") as refused:
        client.cluster.delete_daemonset("edge", "d")
    assert (
        'User "system:node:edge-a" cannot delete resource "daemonsets" in API group "apps" in '
        'the namespace "edge"'
    ) in str(refused.value)
    status = k8s.CoreV1Api(client.cluster.api)
    with pytest.raises(ApiException, match="cannot update labels through pod status"):
        status.patch_namespaced_pod_status(
            "log-agent-a", "edge", {"metadata": {"labels": {"app": "other"}}}
        )


def test_other_identities_are_what_the_test_grants(standin: StandIn, tmp_path: Path) -> None:
    """Without a node identity, nothing ties the credentials to a node: the service account of
    today's deploy/agent.yaml deletes any node's pod (why the agent no longer uses one); a
    token the server does not know is 401."""
    pod = add_pod(standin, name="kube-proxy-b", node="edge-b", namespace="kube-system")
    client = node_client(standin, tmp_path, token="token-agent-sa", node="edge-a")
    client.delete_pod("kube-system", "kube-proxy-b", pod["metadata"]["uid"])
    assert ("kube-system", "kube-proxy-b") not in standin.store["pods"]
    stranger = node_client(standin, tmp_path, token="unknown", node="edge-a")
    with pytest.raises(ClusterError, match="401"):
        stranger.list_pods()


# ── the agent works with its node's identity ─────────────────────────────────────────────────


def test_agent_upgrade_flow_on_its_own_node_works_with_node_identity(
    standin: StandIn, tmp_path: Path
) -> None:
    for name, node in (("log-agent-a1", "edge-a"), ("log-agent-a2", "edge-a")):
        add_pod(standin, name=name, node=node)
    add_pod(standin, name="log-agent-b", node="edge-b")
    agent = Agent(
        node="edge-a",
        cloud=node_client(standin, tmp_path, token="token-edge-a", node="edge-a"),
        cache=PodCache(tmp_path / "cache" / "edge-a.json"),
    )
    server = make_server("127.0.0.1", 0, agent, timeout=1.0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()

    def call(method: str, path: str) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
        try:
            conn.request(method, path)
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()

    try:
        status, body = call("GET", "/pods")
        assert status == 200
        assert sorted(p["metadata"]["name"] for p in json.loads(body)["items"]) == [
            "log-agent-a1",
            "log-agent-a2",
        ]
        base = "/openyurt.io/v1/namespaces/edge/pods"
        assert call("POST", f"{base}/log-agent-a1/upgrade") == (
            200,
            "Start updating pod edge/log-agent-a1\n",
        )
        assert call("POST", f"{base}/log-agent-a2/imagepull") == (
            200,
            "Start pulling images for pod edge/log-agent-a2\n",
        )
        assert call("POST", f"{base}/log-agent-b/upgrade")[0] == 403  # the agent's own check
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert ("edge", "log-agent-a1") not in standin.store["pods"]
    assert conditions(standin, "edge", "log-agent-a2")["PodImageReady"] == "False"
    assert ("edge", "log-agent-b") in standin.store["pods"]
    assert standin.gate.refused == []  # type: ignore[union-attr]


# ── the start-up check ───────────────────────────────────────────────────────────────────────


def test_agent_refuses_to_start_with_another_nodes_identity(
    standin: StandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = standin.kubeconfig(tmp_path / "kubeconfig", token="token-edge-a")
    argv = ["agent", "--node", "edge-b", "--cluster", "kube", "--kubeconfig", str(path)]
    assert main([*argv, "--cache-dir", str(tmp_path / "cache")]) == 2
    err = capsys.readouterr().err
    assert "--node edge-b: the agent's credentials are node edge-a's" in err
    assert "system:node:edge-a" in err and "--node edge-a" in err
    assert standin.count("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews") == 1
    assert not (tmp_path / "cache").exists()  # refused before anything else


def test_agent_refuses_to_start_without_a_node_identity(
    standin: StandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = standin.kubeconfig(tmp_path / "kubeconfig", token="token-agent-sa")
    argv = ["agent", "--node", "edge-a", "--cluster", "kube", "--kubeconfig", str(path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "system:serviceaccount:gitops-edge:gitops-edge-agent" in err
    assert "not tied to any node" in err and "--kubeconfig /etc/kubernetes/kubelet.conf" in err


def test_kubeconfig_option_is_for_kubernetes_only_and_must_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = ["agent", "--node", "edge-a", "--cluster", f"sim:{tmp_path / 'f.json'}"]
    assert main([*sim, "--kubeconfig", str(tmp_path / "k")]) == 2
    assert "--kubeconfig applies to --cluster kube only" in capsys.readouterr().err
    kube_args = ["agent", "--node", "edge-a", "--cluster", "kube"]
    assert main([*kube_args, "--kubeconfig", str(tmp_path / "missing")]) == 2
    assert f"--kubeconfig {tmp_path / 'missing'}: not a usable kubeconfig" in (
        capsys.readouterr().err
    )


class FakeSource:
    """What `verify` asks of the node client."""

    def __init__(self, answer: dict[str, Any] | Exception, certificate: str | None = None):
        self.answer = answer
        self.certificate = certificate

    def who_am_i(self) -> dict[str, Any]:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def client_certificate(self) -> str | None:
        return self.certificate


def test_identity_of_a_node_and_of_a_node_bound_service_account() -> None:
    node = {"username": "system:node:edge-a", "groups": ["system:nodes", "system:authenticated"]}
    assert verify(FakeSource(node), "edge-a").error == ""
    not_a_node = {"username": "system:node:edge-a", "groups": ["system:authenticated"]}
    assert "not tied to any node" in verify(FakeSource(not_a_node), "edge-a").error
    bound = {
        "username": "system:serviceaccount:gitops-edge:gitops-edge-agent",
        "groups": ["system:serviceaccounts"],
        "extra": {NODE_NAME_CLAIM: ["edge-a"]},
    }
    assert verify(FakeSource(bound), "edge-a").error == ""  # the VAP alternative
    mismatch = verify(FakeSource(bound), "edge-b").error
    assert "bound to node edge-a" in mismatch and "--node edge-a" in mismatch


def test_client_certificate_names_the_node(tmp_path: Path) -> None:
    for pem in (NODE_CERT_V1, NODE_CERT_V3):
        other_block = (
            "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
        )
        assert identity_from_certificate((other_block + pem).encode()) == Identity(
            user="system:node:edge-a", groups=("system:nodes",)
        )
    with pytest.raises(ValueError, match="no certificate"):
        identity_from_certificate(b"not a certificate")


@pytest.mark.parametrize(
    "failure",
    [
        CloudUnreachableError("who am I: API server unreachable"),
        NotFoundError("create SelfSubjectReview: not found"),
    ],
)
def test_without_a_self_subject_review_the_client_certificate_decides(
    tmp_path: Path, failure: Exception
) -> None:
    cert = tmp_path / "kubelet-client-current.pem"
    cert.write_text(NODE_CERT_V1)
    assert verify(FakeSource(failure, str(cert)), "edge-a").error == ""
    refused = verify(FakeSource(failure, str(cert)), "edge-b").error
    assert "node edge-a's" in refused and str(cert) in refused


def test_offline_without_a_certificate_starts_unverified_but_unknown_servers_refuse() -> None:
    offline = verify(FakeSource(CloudUnreachableError("unreachable")), "edge-a")
    assert offline.error == "" and "not verified" in offline.warning
    old = verify(FakeSource(NotFoundError("not found")), "edge-a")
    assert "SelfSubjectReview" in old.error and "client certificate" in old.error


def test_node_client_asks_the_api_server_who_it_is(standin: StandIn, tmp_path: Path) -> None:
    client = node_client(standin, tmp_path, token="token-edge-a", node="edge-a")
    assert client.who_am_i()["username"] == "system:node:edge-a"
    assert client.client_certificate() is None
    standin.gate = None  # an API server without SelfSubjectReview (< 1.28)
    with pytest.raises(NotFoundError):
        client.who_am_i()


def test_node_client_reads_the_kubeconfigs_client_certificate(tmp_path: Path) -> None:
    cert = tmp_path / "kubelet-client-current.pem"
    cert.write_text(NODE_CERT_V1)
    path = write_kubeconfig(tmp_path / "kubelet.conf", "https://127.0.0.1:9")  # never called
    config = json.loads(path.read_text())
    config["users"][0]["user"] = {"client-certificate": str(cert), "client-key": str(cert)}
    path.write_text(json.dumps(config))
    cluster = KubeCluster(kube.api_client_for(str(path), None))
    assert KubeNodeClient(cluster, "edge-a").client_certificate() == str(cert)
