"""Issue 16 item 8: the edge agent stays responsive and tells the truth under hostile clients —
slowloris connections, malformed Content-Length, control characters meant for the log reader's
terminal, a damaged state file or cache, and nonsense numeric options. Reuses the fleet and
agent of `tests/test_agent.py` (`world`, `running_world`, `raw`)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_agent import FakeCloud, World, fake_pod, raw, running_world, world

from gitops_edge.agent.cache import PodCache
from gitops_edge.agent.handlers import Agent, handle
from gitops_edge.agent.routes import Op, Route
from gitops_edge.agent.server import make_server
from gitops_edge.cli.main import build_parser, main
from gitops_edge.cluster.sim import SimCluster

__all__ = ["world"]  # the fixture, imported to be reused

LISTEN_ANY = ["--listen", "127.0.0.1:0"]
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


class Slowloris:
    """`count` connections that each send a request head one header line every `every` seconds
    and never finish it."""

    def __init__(self, port: int, *, count: int, every: float) -> None:
        self.every = every
        self.socks: list[socket.socket] = []
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._drip, daemon=True)
        self.thread.start()  # while the others connect, the first ones already drip
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /pods HTTP/1.1\r\n")
            with self.lock:
                self.socks.append(sock)

    def _drip(self) -> None:
        line = 0
        while not self.stopped.wait(self.every):
            line += 1
            with self.lock:
                socks = list(self.socks)
            for sock in socks:
                with contextlib.suppress(OSError):  # OSError: the server dropped it
                    sock.sendall(f"X-Slow-{line}: a\r\n".encode())

    def dropped(self) -> int:
        """How many of the connections the server has closed (without waiting)."""
        count = 0
        for sock in self.socks:
            sock.setblocking(False)
            try:
                while chunk := sock.recv(65536):
                    del chunk
                count += 1  # end of stream
            except BlockingIOError:
                pass
            except OSError:
                count += 1
            finally:
                sock.settimeout(5)
        return count

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        for sock in self.socks:
            sock.close()


@pytest.fixture
def quick_deadline(tmp_path: Path) -> Iterator[World]:
    """The `world` agent with a 1.5 s request deadline."""
    with running_world(tmp_path, request_timeout=1.5) as w:
        yield w


@pytest.fixture
def few_slots(tmp_path: Path) -> Iterator[World]:
    """The `world` agent with room for 8 connections."""
    with running_world(tmp_path, max_connections=8) as w:
        yield w


def get_pods_within(w: World, seconds: float) -> list[int]:
    start = time.monotonic()
    statuses = [w.request("GET", "/pods")[0] for _ in range(5)]
    assert time.monotonic() - start < seconds
    return statuses


# ── slowloris ─────────────────────────────────────────────────────────────────────────────────


def test_forty_slowloris_connections_do_not_keep_get_pods_from_being_answered(
    world: World,
) -> None:
    # A header line every 0.5 s: the 1 s per-read timeout alone never drops them.
    slow = Slowloris(world.port, count=40, every=0.5)
    try:
        time.sleep(1.2)
        assert get_pods_within(world, 5.0) == [200] * 5
    finally:
        slow.close()


def test_slowloris_connections_are_dropped_at_the_request_deadline(
    quick_deadline: World,
) -> None:
    slow = Slowloris(quick_deadline.port, count=6, every=0.3)
    try:
        start = time.monotonic()
        answers = []
        for sock in slow.socks:
            chunks = []
            try:
                while chunk := sock.recv(65536):  # the socket's own 5 s timeout bounds this
                    chunks.append(chunk)
            except ConnectionResetError:  # closed while the client was still sending
                pass
            answers.append(b"".join(chunks))
        elapsed = time.monotonic() - start
        assert 1.0 < elapsed < 5.0
        assert all(a == b"" or a.startswith(b"HTTP/1.1 408 ") for a in answers), answers
        assert get_pods_within(quick_deadline, 5.0) == [200] * 5
    finally:
        slow.close()


def test_a_flood_beyond_the_connection_limit_displaces_the_slowest_not_the_new_client(
    few_slots: World,
) -> None:
    slow = Slowloris(few_slots.port, count=30, every=0.2)  # 8 fit
    try:
        time.sleep(0.5)
        assert get_pods_within(few_slots, 5.0) == [200] * 5
        assert slow.dropped() >= 30 - 8
    finally:
        slow.close()


class SlowCloud(FakeCloud):
    """Lists pods only once `go` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()

    def list_pods(self) -> list[dict[str, Any]]:
        self.go.wait(10)
        return []


def test_connections_being_answered_are_never_displaced(tmp_path: Path) -> None:
    cloud = SlowCloud()
    agent = Agent(node="edge-01", cloud=cloud, cache=PodCache(tmp_path / "c.json"))
    server = make_server("127.0.0.1", 0, agent, timeout=5.0, max_connections=2)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    port = int(server.server_address[1])
    busy = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
    try:
        for sock in busy:
            sock.sendall(b"GET /pods HTTP/1.1\r\nHost: x\r\n\r\n")  # both wait for the cloud
        time.sleep(0.5)
        assert raw(port, b"GET /pods HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 503 ")
        cloud.go.set()
        for sock in busy:
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")  # both answered in full
    finally:
        cloud.go.set()
        for sock in busy:
            sock.close()
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.mark.parametrize(
    "cut", [b"\r\nHost: x\r\n", b"\r\nContent-Length: 4\r\n\r\nab"], ids=["head", "body"]
)
def test_a_request_cut_short_is_not_acted_upon(world: World, cut: bytes) -> None:
    name = world.pod()["metadata"]["name"]
    line = f"POST /openyurt.io/v1/namespaces/default/pods/{name}/upgrade HTTP/1.1"
    assert raw(world.port, line.encode() + cut) == b""  # the client closed: no answer
    assert world.pod()["metadata"]["name"] == name  # and the pod was not deleted


# ── Content-Length ────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "lengths",
    [
        ["²"],
        ["1¹"],
        ["9" * 5001],
        ["-1"],
        ["1e3"],
        ["0", "0"],
        ["0", "5"],
    ],
    ids=[
        "superscript",
        "superscript-one",
        "5001-digits",
        "negative",
        "exponent",
        "dup-same",
        "dup",
    ],
)
def test_malformed_content_length_is_400_and_nothing_is_logged_but_one_line(
    world: World, capsys: pytest.CaptureFixture[str], lengths: list[str]
) -> None:
    headers = "".join(f"Content-Length: {value}\r\n" for value in lengths)
    request = f"GET /pods HTTP/1.1\r\nHost: x\r\n{headers}\r\n"  # header bytes are Latin-1
    answer = raw(world.port, request.encode("latin-1"))
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:100]
    assert b"Content-Length" in answer
    assert world.request("GET", "/pods")[0] == 200
    assert [request_fields(line) for line in capsys.readouterr().err.splitlines()] == [
        "level=info msg=request method=GET path=/pods status=400 remote=127.0.0.1",
        "level=info msg=request method=GET path=/pods status=200 remote=127.0.0.1",
    ]


def request_fields(line: str) -> str:
    """A request's log line without its time and duration (which vary)."""
    assert re.fullmatch(r"time=\S+ .* duration_ms=[0-9.]+ .*", line), line
    return re.sub(r"time=\S+ | duration_ms=[0-9.]+", "", line)


def test_an_unexpected_error_logs_one_line_without_what_the_client_sent(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(method: str, path: str) -> None:
        raise ValueError(f"cannot route {path}")

    monkeypatch.setattr("gitops_edge.agent.server.route", broken)
    assert raw(world.port, b"GET /pods?token=s3cr3t HTTP/1.1\r\nHost: x\r\n\r\n") == b""
    (line,) = capsys.readouterr().err.splitlines()
    assert 'level=error msg="internal error; connection closed" error=ValueError at=' in line
    assert line.endswith(" remote=127.0.0.1") and "s3cr3t" not in line


# ── the log reader's terminal ─────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "request_line",
    [
        b"G\x1b[31mET /pods HTTP/1.1",
        b"\x1b[2J\x1b[H /pods HTTP/1.1",
        b"GET\x07\x7f\x9b /pods HTTP/1.1",
        b"POST /openyurt.io/v1/namespaces/\x1b]0;owned\x07/pods/p/upgrade HTTP/1.1",
        b"GET /po\x1b[1A\x1b[2Kds HTTP/1.1",
    ],
    ids=["csi-in-method", "method-is-escapes", "bel-del-c1-in-method", "osc-in-path", "path"],
)
def test_control_characters_in_method_or_path_are_escaped_in_logs_and_answers(
    world: World, capsys: pytest.CaptureFixture[str], request_line: bytes
) -> None:
    answer = raw(world.port, request_line + b"\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 4"), answer[:100]
    assert not CONTROL.search(answer.decode("latin-1").replace("\r\n", "\n")), answer
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and not CONTROL.search(err), repr(err)


# ── a damaged state file or cache ─────────────────────────────────────────────────────────────


def damage(path: Path, how: str) -> None:
    if how == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif how == "binary":
        path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe" * 50)
    elif how == "wrong-types":
        data = json.loads(path.read_text())
        data["pods"] = [{"metadata": ["not", "a", "mapping"]}]
        path.write_text(json.dumps(data))
    elif how == "pod-wrong-types":
        data = json.loads(path.read_text())
        for pod in data["pods"]:
            pod["spec"] = "a string"
        path.write_text(json.dumps(data))
    else:
        raise AssertionError(how)


STATE_DAMAGE = ["truncated", "binary", "wrong-types", "pod-wrong-types"]


@pytest.mark.parametrize("how", STATE_DAMAGE)
def test_damaged_state_file_answers_from_the_cache_or_503(world: World, how: str) -> None:
    name = world.pod()["metadata"]["name"]
    assert world.request("GET", "/pods")[0] == 200  # fills the cache
    damage(world.state, how)
    status, body, headers = world.request("GET", "/pods")
    assert status == 200 and headers["X-Gitops-Edge-Source"] == "cache", body
    assert json.loads(body)["items"][0]["metadata"]["name"] == name
    assert world.upgrade(name)[0] == 503
    assert world.upgrade(name, action="imagepull")[0] == 503
    world.server.agent.cache.path.unlink()
    status, body, _ = world.request("GET", "/pods")
    assert status == 503 and "cannot be read" in body


def odd_pod(section: str, value: Any) -> Any:
    pod = fake_pod()
    if section == "pod":
        return value
    where, _, key = section.partition(".")
    if key:
        pod[where][key] = value
    else:
        pod[where] = value
    return pod


@pytest.mark.parametrize("op", [Op.UPGRADE, Op.IMAGEPULL])
@pytest.mark.parametrize(
    ("section", "value"),
    [
        ("pod", ["not", "a", "pod"]),
        ("status", "Running"),
        ("spec", 7),
        ("status.conditions", [1, "PodNeedUpgrade"]),
        ("status.conditions", "PodNeedUpgrade"),
        ("metadata.ownerReferences", "DaemonSet"),
        ("metadata.ownerReferences", [None]),
    ],
    ids=[
        "list",
        "status-str",
        "spec-int",
        "conditions-ints",
        "conditions-str",
        "owners-str",
        "owners-none",
    ],
)
def test_a_malformed_pod_from_the_cloud_is_503_not_500(
    tmp_path: Path, op: Op, section: str, value: Any
) -> None:
    cloud = FakeCloud(odd_pod(section, value))
    agent = Agent(node="edge-01", cloud=cloud, cache=PodCache(tmp_path / "c.json"))
    answer = handle(agent, Route(op, "default", "p"))
    assert answer.status == 503 and b"cannot be read" in answer.body


@pytest.mark.parametrize(
    "content",
    [b'{"items": [{"metadata"', b"\x00\xff\xfe" * 30, b'{"items": [1, "x"]}', b"[" * 100_000],
    ids=["truncated", "binary", "wrong-types", "deeply-nested"],
)
def test_damaged_cache_while_offline_is_503(world: World, content: bytes) -> None:
    cache = world.server.agent.cache.path
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(content)
    with world.cluster() as cluster:
        cluster.set_node_ready("edge-01", False)
    status, body, _ = world.request("GET", "/pods")
    assert status == 503 and "no pods are cached" in body, body


def test_a_cache_that_cannot_be_written_does_not_fail_get_pods(world: World) -> None:
    world.server.agent.cache.path.mkdir(parents=True)  # a directory where the file goes
    status, body, headers = world.request("GET", "/pods")
    assert status == 200 and headers["X-Gitops-Edge-Source"] == "cloud", body


def test_agent_started_on_a_damaged_state_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "fleet.json"
    SimCluster.init_file(state, SimCluster.create(groups=[("edge", 1)]))
    damage(state, "truncated")
    argv = ["agent", "--node", "edge-01", "--cluster", f"sim:{state}"]
    assert main([*argv, "--cache-dir", str(tmp_path / "empty")]) == 2  # nothing cached
    err = capsys.readouterr().err
    assert err.startswith("gitops-edge: error: ") and "fleet.json" in err
    assert "Traceback" not in err and err.count("\n") == 1
    # With pods cached, it serves them.
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "edge-01.pods.json").write_text(json.dumps({"items": [{"metadata": {"name": "p"}}]}))
    agent = subprocess.Popen(
        [sys.executable, "-m", "gitops_edge", *argv, "--cache-dir", f"{cache}", *LISTEN_ANY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert agent.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(agent.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=20), "the agent did not start"
        line = agent.stdout.readline()
        port = int(line.rsplit(":", 1)[1])
        answer = raw(port, b"GET /pods HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200 ") and b"X-Gitops-Edge-Source: cache" in answer
    finally:
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=10)
    assert "Traceback" not in stderr and "warning" in stderr


# ── numeric options ───────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--timeout", "-1"),
        ("--timeout", "nan"),
        ("--timeout", "inf"),
        ("--timeout", "0"),
        ("--timeout", "1e400"),
        ("--request-timeout", "nan"),
        ("--request-timeout", "-5"),
    ],
)
def test_agent_refuses_nonsense_numbers_at_start(
    capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    argv = ["agent", "--node", "n", "--cluster", "sim:f.json", option, value]
    with pytest.raises(SystemExit) as exit_:
        build_parser(argv).parse_args(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: " in err and "more than 0" in err, err


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_reconcile_refuses_a_nonsense_interval_at_start(
    capsys: pytest.CaptureFixture[str], value: str
) -> None:
    argv = ["reconcile", "repo", "--cluster", "sim:f.json", "--interval", value]
    with pytest.raises(SystemExit) as exit_:
        build_parser(argv).parse_args(argv)
    assert exit_.value.code == 2
    assert "argument --interval: " in capsys.readouterr().err
