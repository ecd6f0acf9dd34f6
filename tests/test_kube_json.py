"""The Kubernetes adapter's JSON parsing (orjson) of LIST pages and watch lines, over real HTTP
against the stand-in API server: what the API server sends parses as the stdlib would (int64
stays exact), and a body that is not JSON is a ClusterError naming the request and
saying what to do, never a bare JSONDecodeError."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import kmock
import pytest
from kube_standin import StandIn, running
from standin_client import connected
from test_kube_adapter import seed

from gitops_edge.cluster.base import ClusterError
from gitops_edge.cluster.kube_cluster import KubeCluster


@pytest.fixture
def api() -> Iterator[StandIn]:
    with running() as standin:
        seed(standin)
        yield standin


@pytest.fixture
def cluster(api: StandIn, tmp_path: Path) -> Iterator[KubeCluster]:
    with connected(api, tmp_path) as c:
        yield c


def test_a_list_page_that_is_not_json_is_a_cluster_error_naming_the_list(
    api: StandIn, cluster: KubeCluster
) -> None:
    def truncated_pods(standin: StandIn, req: kmock.Request) -> kmock.Response | None:
        if req.url.path == "/api/v1/pods" and dict(req.params).get("watch") != "true":
            return kmock.Response(status=200, payload=b'{"kind":"PodList","items":[{"metadata"')
        return None

    api.gate = truncated_pods
    with pytest.raises(ClusterError) as caught:
        cluster.observe()
    message = str(caught.value)
    assert "list pods" in message
    assert "not JSON" in message and "line 1" in message
    assert "proxy" in message  # the hint: what may stand between us and the API server


def test_a_watch_line_that_is_not_json_is_a_cluster_error_naming_the_watch(
    api: StandIn, cluster: KubeCluster
) -> None:
    def garbled_watch(standin: StandIn, req: kmock.Request) -> kmock.Response | None:
        if req.url.path == "/api/v1/nodes" and dict(req.params).get("watch") == "true":
            return kmock.Response(status=200, payload=b'{"type":"ADDED","object":{\n')
        return None

    cache = cluster.start_cache(idle_delay=0.02, settle_timeout=5.0)
    api.gate = garbled_watch
    deadline = time.monotonic() + 10
    while "not JSON" not in cache.stores["nodes"].error:
        assert time.monotonic() < deadline, cache.stores["nodes"].error
        time.sleep(0.02)
    assert "watch nodes" in cache.stores["nodes"].error


def test_bodies_keep_every_integer_the_api_server_can_send_exact(
    api: StandIn, cluster: KubeCluster
) -> None:
    """The API server decodes unstructured numbers as int64, or float64 when they overflow
    (sigs.k8s.io/json), and writes them back so: the adapter's parser keeps int64's extremes
    exact, as the stdlib does."""
    edges = f'{{"major":"1","max":{2**63 - 1},"min":{-(2**63)},"big":1.1805916207174113e+21}}'

    def numbers(standin: StandIn, req: kmock.Request) -> kmock.Response | None:
        if req.url.path.rstrip("/") == "/version":
            return kmock.Response(status=200, payload=edges.encode())
        return None

    api.gate = numbers
    version = cluster.server_version()
    assert (version["max"], version["min"]) == (2**63 - 1, -(2**63))
    assert isinstance(version["max"], int) and version["big"] == 1.1805916207174113e21
