"""The loop's liveness and readiness: the pure rule (health), and /healthz, /readyz served by
health_server for a real run_loop (one whose load hangs, one that runs normally)."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter

from gitops_edge.model.desired import DesiredState, RepoConfig
from gitops_edge.reconciler.addresses import parse_address
from gitops_edge.reconciler.health import Beat, Heartbeat, default_grace, liveness, readiness
from gitops_edge.reconciler.health_server import EXAMPLE, Probes, make_app, serve
from gitops_edge.reconciler.loop import Loaded, LoopSettings, run_loop
from gitops_edge.reconciler.reconcile import PassResult


def test_grace_is_three_intervals_and_the_git_timeout() -> None:
    assert default_grace(interval=60, git_timeout=120) == 300


def test_a_pass_that_starts_on_time_is_healthy() -> None:
    assert liveness(Beat(due=100.0, running_since=None), now=100.0, grace=30).ok
    assert liveness(Beat(due=None, running_since=100.0), now=129.0, grace=30).ok


def test_a_pass_running_past_the_grace_is_wedged() -> None:
    verdict = liveness(Beat(due=None, running_since=100.0), now=131.0, grace=30)
    assert not verdict.ok
    assert verdict.reason == (
        "a pass has been running for 31 s (limit 30 s): a git or cluster call is hung"
    )


def test_a_pass_that_does_not_start_within_the_grace_of_being_due_is_wedged() -> None:
    verdict = liveness(Beat(due=100.0, running_since=None), now=140.0, grace=30)
    assert not verdict.ok
    assert verdict.reason == "no pass started for 40 s after one was due (limit 30 s)"


def test_a_long_backoff_is_not_a_wedge() -> None:
    clock = [0.0]
    heartbeat = Heartbeat(clock=lambda: clock[0])
    heartbeat.pass_started()
    clock[0] = 5.0
    heartbeat.pass_ended(completed=False, next_in=300.0)  # backing off for 5 minutes
    clock[0] = 300.0
    assert liveness(heartbeat.snapshot(), now=clock[0], grace=30).ok
    clock[0] = 336.0  # 31 s after the pass was due
    assert not liveness(heartbeat.snapshot(), now=clock[0], grace=30).ok


def test_ready_once_a_pass_completed_not_after_a_failed_one() -> None:
    heartbeat = Heartbeat(clock=lambda: 0.0)
    assert readiness(heartbeat.snapshot()).reason == "the first pass has not completed yet"
    heartbeat.pass_started()
    heartbeat.pass_ended(completed=False, next_in=1)
    assert not readiness(heartbeat.snapshot()).ok
    heartbeat.pass_started()
    heartbeat.pass_ended(completed=True, next_in=1)
    heartbeat.pass_started()  # stays ready while the next pass runs
    assert readiness(heartbeat.snapshot()) == readiness(Beat(None, None, completed=1))
    assert readiness(heartbeat.snapshot()).ok


def test_a_standby_replica_is_live_and_ready_without_passes() -> None:
    clock = [0.0]
    heartbeat = Heartbeat(clock=lambda: clock[0])
    heartbeat.standby()
    clock[0] = 1e6
    beat = heartbeat.snapshot()
    assert liveness(beat, now=clock[0], grace=1).ok and readiness(beat).ok


@pytest.mark.parametrize(
    ("value", "expected"),
    [(":8081", ("0.0.0.0", 8081)), ("127.0.0.1:0", ("127.0.0.1", 0)), ("[::1]:9", ("::1", 9))],
)
def test_health_addr_forms(value: str, expected: tuple[str, int]) -> None:
    assert parse_address(value, example=EXAMPLE) == expected


@pytest.mark.parametrize("value", ["8081", "host:", "h:99999", "h:x", ""])
def test_health_addr_refused(value: str) -> None:
    with pytest.raises(ValueError, match=r"write HOST:PORT or :PORT, e\.g\. :8081"):
        parse_address(value, example=EXAMPLE)


def get(port: int, path: str, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def desired() -> DesiredState:
    return DesiredState(revision="r1", config=RepoConfig(), groups=(), daemonsets=())


@contextmanager
def loop_with_probes(
    load: Callable[[], Loaded], *, interval: float, grace: float
) -> Iterator[tuple[int, threading.Event]]:
    """run_loop in a thread with its probes served; yields (port, stop) and stops both."""
    heartbeat = Heartbeat()
    server = serve("127.0.0.1", 0, make_app(Probes(heartbeat=heartbeat, grace=grace)))
    stop, wake = threading.Event(), threading.Event()
    thread = threading.Thread(
        target=run_loop,
        kwargs={
            "load": load,
            "reconcile": lambda d: PassResult(results=(), plans=()),
            "settings": LoopSettings(interval=interval),
            "stop": stop,
            "wake": wake,
            "log": lambda *a, **k: None,
            "transient": (OSError,),
            "heartbeat": heartbeat,
        },
        daemon=True,
    )
    thread.start()
    try:
        yield server.server_port, stop
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(10)
        assert not thread.is_alive()


def until(condition: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_healthz_fails_when_a_pass_hangs_past_the_grace() -> None:
    wedge, release, hung = threading.Event(), threading.Event(), threading.Event()

    def load() -> Loaded:
        if wedge.is_set() and not release.is_set():
            hung.set()
            release.wait(30)  # a wedged git call (released by the test)
        return Loaded(revision="r1", desired=desired())

    try:
        with loop_with_probes(load, interval=0.05, grace=0.5) as (port, _stop):
            assert until(lambda: get(port, "/readyz")[0] == 200)
            assert get(port, "/healthz")[0] == 200
            wedge.set()
            assert hung.wait(10)
            assert until(lambda: get(port, "/healthz")[0] == 503)
            status, body = get(port, "/healthz")
            assert status == 503 and body.startswith("unhealthy: a pass has been running for ")
            assert body.endswith("(limit 0.5 s): a git or cluster call is hung\n")
            assert get(port, "/readyz")[0] == 200  # it did reconcile: ready, not live
            release.set()
            assert until(lambda: get(port, "/healthz")[0] == 200)
    finally:
        release.set()


def test_a_normal_loop_stays_healthy_and_is_ready_after_its_first_pass() -> None:
    first = threading.Event()

    def load() -> Loaded:
        first.wait(10)  # the first pass waits until the test has seen /readyz fail
        return Loaded(revision="r1", desired=desired())

    with loop_with_probes(load, interval=0.05, grace=1.0) as (port, _stop):
        assert get(port, "/readyz") == (503, "not ready: the first pass has not completed yet\n")
        assert get(port, "/healthz")[0] == 200
        first.set()
        assert until(lambda: get(port, "/readyz")[0] == 200)
        for _ in range(25):  # many passes, over twice the grace
            time.sleep(0.1)
            assert get(port, "/healthz")[0] == 200


def test_failing_passes_backing_off_are_live_but_not_ready() -> None:
    def load() -> Loaded:
        raise OSError("remote unreachable")

    with loop_with_probes(load, interval=0.05, grace=1.0) as (port, _stop):
        # The backoff doubles from 0.1 s (±50%): by now the loop waits longer than the grace
        # between passes, and is still live.
        time.sleep(4.0)
        assert get(port, "/healthz")[0] == 200
        assert get(port, "/readyz")[0] == 503


def test_other_paths_and_methods_and_metrics_on_the_same_address() -> None:
    registry = CollectorRegistry()
    Counter("probe_test", "A counter.", registry=registry).inc()
    heartbeat = Heartbeat()
    app: Any = make_app(Probes(heartbeat=heartbeat, grace=60), metrics=registry)
    server = serve("127.0.0.1", 0, app)
    try:
        port = server.server_port
        assert get(port, "/") == (
            404,
            "not found: this address serves /healthz, /readyz, /metrics\n",
        )
        assert get(port, "/healthz", "POST") == (405, "method not allowed on /healthz: use GET\n")
        status, body = get(port, "/metrics")
        assert status == 200 and "probe_test_total 1.0" in body
    finally:
        server.shutdown()
        server.server_close()


def test_an_ipv6_address_is_served() -> None:
    server = serve("::1", 0, make_app(Probes(heartbeat=Heartbeat(), grace=60)))
    try:
        url = f"http://[::1]:{server.server_port}/healthz"
        with urllib.request.urlopen(url, timeout=5) as answer:
            assert answer.read() == b"ok: passes start on time\n"
    finally:
        server.shutdown()
        server.server_close()
