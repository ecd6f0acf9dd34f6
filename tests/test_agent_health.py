"""The agent's `GET /healthz`: 200 while it can answer `GET /pods` (from the cloud, or from its
cache while offline), 503 when it cannot; it acts on no pod and writes no cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_agent import World, running_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with running_world(tmp_path) as w:
        yield w


def cache_file(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "edge-01.json"  # running_world's PodCache


def test_healthz_answers_from_the_cloud_before_anything_is_cached(
    world: World, tmp_path: Path
) -> None:
    before = world.pods()
    status, body, headers = world.request("GET", "/healthz")
    assert (status, body) == (200, "ok: serving from the cloud (no pods cached yet)\n")
    assert headers["Content-Type"].startswith("text/plain")
    assert world.pods() == before  # no pod touched
    assert not cache_file(tmp_path).exists()  # nothing written


def test_healthz_is_ok_offline_with_a_cache(world: World) -> None:
    assert world.request("GET", "/pods")[0] == 200  # fills the cache
    with world.cluster() as cluster:
        cluster.set_node_ready("edge-01", False)  # the link drops
    status, body, _ = world.request("GET", "/healthz")
    assert (status, body) == (200, "ok: serving (pods cached for offline answers)\n")


def test_healthz_fails_offline_without_a_cache(world: World) -> None:
    with world.cluster() as cluster:
        cluster.set_node_ready("edge-01", False)
    status, body, _ = world.request("GET", "/healthz")
    assert (status, body) == (
        503,
        "cannot serve: the cloud cannot be read and no pods are cached yet\n",
    )


def test_healthz_is_get_only_and_listed_among_the_paths(world: World) -> None:
    status, body, headers = world.request("POST", "/healthz")
    assert (status, headers["Allow"]) == (405, "GET")
    assert body == "method POST not allowed on /healthz: use GET\n"
    status, body, _ = world.request("GET", "/health")
    assert status == 404 and "GET /pods, GET /healthz and POST" in body


def test_a_passing_probe_is_not_logged_a_failing_one_is(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """The kubelet probes every few seconds on every node: only what is worth reading is logged."""
    capsys.readouterr()
    assert world.request("GET", "/healthz")[0] == 200
    assert world.request("GET", "/pods")[0] == 200
    with world.cluster() as cluster:
        cluster.set_node_ready("edge-01", False)
    cache_file(world.state.parent).unlink()  # running_world's tmp_path
    assert world.request("GET", "/healthz")[0] == 503
    lines = capsys.readouterr().err.splitlines()
    assert " msg=request method=GET path=/pods status=200 " in lines[0]
    assert " msg=request method=GET path=/healthz status=503 " in lines[1]
    assert ' note="the cloud cannot be read' in lines[1]
    assert len(lines) == 2
