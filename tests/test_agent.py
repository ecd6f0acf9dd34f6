"""The edge OTA agent (DESIGN §2) against the simulated cluster, over real HTTP on loopback:
every status code and body, the pre-pull, the disconnected case, the OTA story end to end, and
a fuzz of the HTTP surface."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from repo_config import write_config

from gitops_edge.agent.cache import PodCache
from gitops_edge.agent.handlers import Agent, handle
from gitops_edge.agent.routes import Op, Route
from gitops_edge.agent.server import MAX_BODY, AgentServer, make_server
from gitops_edge.cli.main import main
from gitops_edge.cluster.base import ClusterError, NotFoundError
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.cluster.sim_node import SimNodeClient
from gitops_edge.model.desired import UpdateModel
from gitops_edge.model.observed import Condition
from gitops_edge.planner import plan
from gitops_edge.reconciler.reconcile import load_desired, reconcile_once

NGINX = """apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: nginx-daemonset
  annotations:
    apps.openyurt.io/update-strategy: OTA
spec:
  selector:
    matchLabels:
      app: nginx
  updateStrategy:
    type: OnDelete
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: IMAGE
"""


@dataclass
class World:
    """A simulated fleet with the seed's OTA DaemonSet, and an agent for node edge-01."""

    state: Path
    repo: Path
    server: AgentServer

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def release(self, image: str) -> None:
        """Change the DaemonSet's image in the repository and reconcile one pass."""
        (self.repo / "ds.yaml").write_text(NGINX.replace("IMAGE", image))
        with SimCluster.open(self.state) as cluster:
            reconcile_once(load_desired(self.repo, revision=image), cluster)

    def cluster(self) -> Any:
        return SimCluster.open(self.state)

    def reconcile(self) -> None:
        """One reconcile pass of the current repository (the cloud side)."""
        with SimCluster.open(self.state) as cluster:
            reconcile_once(load_desired(self.repo, revision="pass"), cluster)

    def tick(self, seconds: float) -> None:
        with SimCluster.open(self.state) as cluster:
            cluster.tick(seconds)

    def pods(self, node: str = "edge-01") -> list[dict[str, Any]]:
        with SimCluster.open(self.state, read_only=True) as cluster:
            return cluster.node_pods(node)

    def pod(self, node: str = "edge-01") -> dict[str, Any]:
        (pod,) = [p for p in self.pods(node) if not p["metadata"].get("deletionTimestamp")]
        return pod

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str, dict[str, str]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read().decode(), dict(response.getheaders())
        finally:
            conn.close()

    def upgrade(
        self, pod: str, namespace: str = "default", action: str = "upgrade"
    ) -> tuple[int, str]:
        status, body, _ = self.request(
            "POST", f"/openyurt.io/v1/namespaces/{namespace}/pods/{pod}/{action}"
        )
        return status, body


def condition(pod: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in pod["status"]["conditions"] if c["type"] == type_), None)


@contextlib.contextmanager
def running_world(tmp_path: Path, **server_options: Any) -> Iterator[World]:
    """The `world` fixture's fleet and agent; `server_options` go to `make_server`."""
    state, repo = tmp_path / "fleet.json", tmp_path / "repo"
    write_config(repo)
    SimCluster.init_file(state, SimCluster.create(groups=[("edge", 3)]))
    server = make_server(
        "127.0.0.1",
        0,
        Agent(
            node="edge-01",
            cloud=SimNodeClient(state, "edge-01"),
            cache=PodCache(tmp_path / "cache" / "edge-01.json"),
        ),
        **{"timeout": 1.0, **server_options},
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    w = World(state=state, repo=repo, server=server)
    w.release("nginx:1.19.4")
    with w.cluster() as cluster:
        cluster.tick(10)
    w.release("nginx:1.20.0")  # every pod now PodNeedUpgrade=True
    try:
        yield w
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with running_world(tmp_path) as w:
        yield w


# ── GET /pods ─────────────────────────────────────────────────────────────────────────────────


def test_get_pods_is_a_v1_pod_list_of_this_node_only(world: World) -> None:
    status, body, headers = world.request("GET", "/pods")
    assert status == 200 and headers["Content-Type"] == "application/json"
    data = json.loads(body)
    assert data["kind"] == "PodList" and data["apiVersion"] == "v1"
    assert [p["spec"]["nodeName"] for p in data["items"]] == ["edge-01"]
    need = condition(data["items"][0], "PodNeedUpgrade")
    assert need is not None and need["status"] == "True"
    assert need["message"].startswith("controllerrevision: ")
    assert headers["X-Gitops-Edge-Source"] == "cloud"


def test_get_pods_answers_from_the_cache_while_offline_and_across_restarts(
    world: World, tmp_path: Path
) -> None:
    world.request("GET", "/pods")  # fills the cache
    with world.cluster() as cluster:
        cluster.set_node_ready("edge-01", False)  # the link drops
    status, body, headers = world.request("GET", "/pods")
    assert status == 200 and headers["X-Gitops-Edge-Source"] == "cache"
    assert json.loads(body)["items"][0]["spec"]["nodeName"] == "edge-01"
    # A restarted agent (new process, same cache directory) still answers.
    restarted = Agent(
        node="edge-01",
        cloud=SimNodeClient(world.state, "edge-01"),
        cache=PodCache(tmp_path / "cache" / "edge-01.json"),
    )
    answer = handle(restarted, Route(Op.LIST))
    assert answer.status == 200 and b"PodList" in answer.body
    empty = Agent(
        node="edge-01",
        cloud=SimNodeClient(world.state, "edge-01"),
        cache=PodCache(tmp_path / "other" / "edge-01.json"),
    )
    assert handle(empty, Route(Op.LIST)).status == 503


# ── POST …/upgrade ────────────────────────────────────────────────────────────────────────────


def test_upgrade_the_seed_way_then_the_pod_is_current(world: World) -> None:
    pod = world.pod()
    name = pod["metadata"]["name"]
    assert world.upgrade(name) == (200, f"Start updating pod default/{name}\n")
    with world.cluster() as cluster:
        cluster.tick(10)
        reconcile_once(load_desired(world.repo, revision="again"), cluster)
    fresh = world.pod()
    assert fresh["metadata"]["name"] != name
    need = condition(fresh, "PodNeedUpgrade")
    assert need is not None and need["status"] == "False"
    assert world.upgrade(fresh["metadata"]["name"])[0] == 403  # nothing to upgrade now


def test_upgrade_while_offline_is_503(world: World) -> None:
    name = world.pod()["metadata"]["name"]
    with world.cluster() as cluster:
        cluster.set_node_ready("edge-01", False)
    status, body = world.upgrade(name)
    assert status == 503 and "unreachable" in body
    assert world.upgrade(name, action="imagepull")[0] == 503


def test_unknown_pod_is_404(world: World) -> None:
    assert world.upgrade("no-such-pod") == (404, "pod default/no-such-pod not found\n")


def test_pod_on_another_node_is_403(world: World) -> None:
    other = world.pod("edge-02")["metadata"]["name"]
    status, body = world.upgrade(other)
    assert status == 403 and "not on this node (edge-01)" in body


def test_pod_not_needing_an_upgrade_is_403(world: World) -> None:
    with world.cluster() as cluster:
        reconcile_once(load_desired(world.repo, revision="x"), cluster)
    pod = world.pod()
    (world.repo / "ds.yaml").write_text(NGINX.replace("IMAGE", "nginx:1.19.4"))
    with world.cluster() as cluster:  # roll back: the old pods are current again
        reconcile_once(load_desired(world.repo, revision="rollback"), cluster)
    status, body = world.upgrade(pod["metadata"]["name"])
    assert status == 403 and "PodNeedUpgrade is not True" in body


@pytest.mark.parametrize(
    ("name", "namespace", "needle"),
    [("Bad_Pod", "default", "invalid pod name"), ("ok", "Bad_NS", "invalid namespace")],
)
def test_names_that_are_not_dns1123_are_400(
    world: World, name: str, namespace: str, needle: str
) -> None:
    status, body = world.upgrade(name, namespace)
    assert status == 400 and needle in body


# ── image pre-pull ────────────────────────────────────────────────────────────────────────────


def test_imagepull_then_upgrade(world: World) -> None:
    pod = world.pod()
    name = pod["metadata"]["name"]
    assert world.upgrade(name, action="imagepull") == (
        200,
        f"Start pulling images for pod default/{name}\n",
    )
    image = condition(world.pod(), "PodImageReady")
    revision = condition(pod, "PodNeedUpgrade")["message"]  # type: ignore[index]
    assert image is not None and image["status"] == "False" and image["message"] == revision
    status, body = world.upgrade(name)
    assert status == 403 and "pre-pull" in body and "still running" in body
    world.reconcile()  # the cloud side starts the pre-pull Job on the pod's node
    with SimCluster.open(world.state, read_only=True) as cluster:
        (job,) = cluster.observe().pull_jobs
    assert (job.pod, job.state, f"controllerrevision: {job.revision}") == (
        name,
        "Running",
        revision,
    )
    world.tick(5)  # the Job pulls the images
    world.reconcile()  # records the result on the pod and deletes the Job
    image = condition(world.pod(), "PodImageReady")
    assert image is not None and (image["status"], image["reason"]) == ("True", "PullImageSuccess")
    with SimCluster.open(world.state, read_only=True) as cluster:
        assert cluster.observe().pull_jobs == ()
    assert world.upgrade(name)[0] == 200


def test_failed_imagepull_blocks_the_upgrade(world: World) -> None:
    with world.cluster() as cluster:
        cluster.set_image_broken("nginx:1.20.0", True)
    name = world.pod()["metadata"]["name"]
    assert world.upgrade(name, action="imagepull")[0] == 200
    world.reconcile()
    world.tick(30)
    world.reconcile()
    image = condition(world.pod(), "PodImageReady")
    assert image is not None and (image["status"], image["reason"]) == ("False", "PullImageFail")
    status, body = world.upgrade(name)
    assert status == 403 and "failed" in body


def test_prepull_for_another_revision_blocks_the_upgrade(world: World) -> None:
    name = world.pod()["metadata"]["name"]
    world.upgrade(name, action="imagepull")
    world.reconcile()
    world.tick(5)
    world.reconcile()
    world.release("nginx:1.21.0")  # a newer revision: the pulled images are stale
    status, body = world.upgrade(name)
    assert status == 403 and "pull again" in body


# ── the cases the simulated cluster cannot produce: a fake cloud ──────────────────────────────


class FakeCloud:
    def __init__(self, pod: dict[str, Any] | None = None, *, fail: str = "") -> None:
        self.pod, self.fail = pod, fail

    def now(self) -> float:
        return 0.0

    def list_pods(self) -> list[dict[str, Any]]:
        return [self.pod] if self.pod else []

    def get_pod(self, namespace: str, name: str) -> dict[str, Any]:
        if self.fail == "get":
            raise ClusterError("apiserver said 500")
        if self.pod is None:
            raise NotFoundError(name)
        return self.pod

    def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        if self.fail == "delete":
            raise ClusterError("apiserver said 500")

    def set_pod_condition(self, namespace: str, name: str, uid: str, condition: Condition) -> None:
        if self.fail == "mark":
            raise ClusterError("apiserver said 500")


def fake_pod(**changes: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "metadata": {
            "name": "p",
            "namespace": "default",
            "uid": "u",
            "ownerReferences": [{"kind": "DaemonSet", "name": "ds", "controller": True}],
        },
        "spec": {"nodeName": "edge-01"},
        "status": {
            "conditions": [
                {"type": "PodNeedUpgrade", "status": "True", "message": "controllerrevision: h"}
            ]
        },
    }
    for key, value in changes.items():
        section, field = key.split("__")
        pod[section][field] = value
    return pod


@pytest.mark.parametrize(
    ("pod", "fail", "op", "status", "needle"),
    [
        (fake_pod(), "get", Op.UPGRADE, 500, "cannot get pod"),
        (
            fake_pod(metadata__deletionTimestamp="2026-01-01T00:00:00Z"),
            "",
            Op.UPGRADE,
            403,
            "being deleted",
        ),
        (fake_pod(metadata__ownerReferences=[]), "", Op.UPGRADE, 400, "has no owner"),
        (
            fake_pod(metadata__ownerReferences=[{"kind": "ReplicaSet", "controller": True}]),
            "",
            Op.UPGRADE,
            400,
            "owned by ReplicaSet (its controller), not a DaemonSet",
        ),
        (fake_pod(), "delete", Op.UPGRADE, 500, "cannot delete pod"),
        (fake_pod(), "", Op.UPGRADE, 200, "Start updating pod default/p"),
        (fake_pod(), "mark", Op.IMAGEPULL, 500, "cannot mark pod"),
        (fake_pod(metadata__ownerReferences=[]), "", Op.IMAGEPULL, 400, "has no owner"),
    ],
)
def test_every_status_code(
    tmp_path: Path, pod: dict[str, Any], fail: str, op: Op, status: int, needle: str
) -> None:
    agent = Agent(node="edge-01", cloud=FakeCloud(pod, fail=fail), cache=PodCache(tmp_path / "c"))
    answer = handle(agent, Route(op, "default", "p"))
    assert answer.status == status and needle in answer.body.decode()


# ── the HTTP surface ──────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 404),
        ("GET", "/pods/extra", 404),
        ("POST", "/pods", 405),
        ("DELETE", "/pods", 405),
        ("GET", "/openyurt.io/v1/namespaces/default/pods/p/upgrade", 405),
        ("PUT", "/openyurt.io/v1/namespaces/default/pods/p/imagepull", 405),
        ("POST", "/openyurt.io/v1/namespaces/default/pods/p/reboot", 404),
        ("POST", "/openyurt.io/v1/namespaces/default/pods/../upgrade", 400),
        ("BREW", "/pods", 405),
    ],
)
def test_only_the_documented_methods_and_paths(
    world: World, method: str, path: str, status: int
) -> None:
    got, body, headers = world.request(method, path)
    assert got == status, body
    assert headers["Content-Type"].startswith("text/plain")


def test_huge_body_is_413_and_chunked_is_400(world: World) -> None:
    status, _, _ = world.request("POST", "/pods", body=b"x" * (MAX_BODY + 1))
    assert status == 413
    status, _, _ = world.request(
        "POST", "/pods", body=b"x", headers={"Transfer-Encoding": "chunked"}
    )
    assert status == 400


def raw(port: int, payload: bytes, *, timeout: float = 5.0) -> bytes:
    """Send `payload`, then read the answer until the server closes. A server that answered and
    closed before the payload was all sent (a refusal: 503, 400) leaves its answer to read: the
    socket may already be disconnected (ENOTCONN on shutdown, EPIPE on send, ECONNRESET)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(payload)
        with contextlib.suppress(OSError):  # ENOTCONN: the server closed first
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


def test_overlong_request_line_is_414(world: World) -> None:
    answer = raw(world.port, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 414")


def test_slow_client_is_dropped_and_does_not_block_others(world: World) -> None:
    slow = socket.create_connection(("127.0.0.1", world.port), timeout=10)
    try:
        slow.sendall(b"GET /po")  # and nothing more
        assert world.request("GET", "/pods")[0] == 200  # others are served meanwhile
        start = time.monotonic()
        assert slow.recv(1024) == b""  # closed by the server after its 1 s timeout
        assert time.monotonic() - start < 5
    finally:
        slow.close()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "X"]),
    path=st.text(
        alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=0, max_size=300
    ),
    body=st.binary(max_size=2000),
    garbage=st.binary(max_size=200),
)
def test_fuzz_http_surface(
    world: World, method: str, path: str, body: bytes, garbage: bytes
) -> None:
    request = f"{method} /{path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    answer = raw(world.port, request.encode() + body)
    assert answer.startswith(b"HTTP/1."), answer[:100]
    status = int(answer.split(b" ", 2)[1])
    assert status in (200, 400, 403, 404, 405, 413, 414, 500, 503) and status != 500, answer[:200]
    junk = raw(world.port, garbage + b"\r\n\r\n")
    assert junk == b"" or junk.startswith(b"HTTP/1."), junk[:100]
    assert world.request("GET", "/pods")[0] == 200  # the server is alive


# ── the OTA story, end to end, with the planner ───────────────────────────────────────────────


def test_ota_story_end_to_end(world: World) -> None:
    # The repository changed (the fixture released 1.20.0); reconcile marked every pod.
    with SimCluster.open(world.state, read_only=True) as cluster:
        pending = plan(load_desired(world.repo, revision="r"), cluster.observe())
    ota = pending.daemonsets[0]
    assert ota.model is UpdateModel.OTA and ota.progress.ota_pending == 3
    _, body, _ = world.request("GET", "/pods")
    (pod,) = json.loads(body)["items"]
    assert condition(pod, "PodNeedUpgrade")["status"] == "True"  # type: ignore[index]
    name = pod["metadata"]["name"]
    assert world.upgrade(name) == (200, f"Start updating pod default/{name}\n")
    with world.cluster() as cluster:
        cluster.tick(10)
        reconcile_once(load_desired(world.repo, revision="r"), cluster)
        after = plan(load_desired(world.repo, revision="r"), cluster.observe())
    assert after.daemonsets[0].progress.ota_pending == 2  # edge-02 and edge-03 still pending
    _, body, _ = world.request("GET", "/pods")
    (fresh,) = json.loads(body)["items"]
    assert condition(fresh, "PodNeedUpgrade")["status"] == "False"  # type: ignore[index]


# ── the command line ──────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--listen", "0.0.0.0:10267"], "--allow-remote"),
        (["--listen", "nonsense"], "HOST:PORT"),
        (["--cluster", "kube"], "no usable Kubernetes configuration"),
        (["--node", "Bad_Node"], "not a valid node name"),
    ],
)
def test_agent_cli_refuses(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    needle: str,
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    args = {"--node": "edge-01", "--cluster": f"sim:{tmp_path / 'f.json'}"}
    extra = dict(zip(argv[::2], argv[1::2], strict=True))
    args.update(extra)
    flat = [item for pair in args.items() for item in pair]
    assert main(["agent", *flat]) == 2
    assert needle in capsys.readouterr().err
