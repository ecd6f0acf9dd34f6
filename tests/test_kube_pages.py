"""Paged LISTs (`kube.KubeApi.bodies`, `kube_pages`): a page's continue token is read from the
head of its raw body (`continue_of`) so that the next page is asked for before this one is
parsed, and what cannot be read that way falls back to parsing the whole body; over real HTTP
against the stand-in API server where the order of requests and parsing matters."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kmock
import orjson
import pytest
from kube_standin import StandIn, running
from standin_client import connected
from test_kube_adapter import seed

from gitops_edge.cluster import kube
from gitops_edge.cluster.base import ClusterError
from gitops_edge.cluster.kube_cluster import KubeCluster
from gitops_edge.cluster.kube_pages import continue_of


@pytest.fixture
def api() -> Iterator[StandIn]:
    with running() as standin:
        seed(standin)
        yield standin


@pytest.fixture
def cluster(api: StandIn, tmp_path: Path) -> Iterator[KubeCluster]:
    with connected(api, tmp_path) as c:
        yield c


@pytest.mark.parametrize(
    ("body", "token"),
    [
        # as the API server writes a page: compact, metadata before the items
        (
            b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7",'
            b'"continue":"eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ","remainingItemCount":9},"items":[]}',
            "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ",
        ),
        # the last page: no continue, or an empty one
        (b'{"kind":"PodList","metadata":{"resourceVersion":"7"},"items":[{"a":1}]}', ""),
        (b'{"metadata": {"continue": ""}, "items": [{"metadata": {"continue": "x"}}]}', ""),
        # spaces as Python's json.dumps writes them
        (b'{"kind": "NodeList", "metadata": {"continue": "5:7"}, "items": [{"b": 2}]}', "5:7"),
    ],
)
def test_the_continue_token_is_read_from_the_head_of_a_page(body: bytes, token: str) -> None:
    assert continue_of(body) == token
    assert (orjson.loads(body)["metadata"].get("continue") or "") == token


@pytest.mark.parametrize(
    "body",
    [
        b'{"items":[{"metadata":{"continue":"x"}}],"metadata":{"continue":"y"}}',  # items first
        b'{"a\\"items":1,"metadata":{"continue":"x"},"items":[]}',  # in another member's name
        b'{"metadata":{"continue":"x","items":[]},"items":[]}',  # "items" inside metadata
        b'{"kind":"PodList","items":[{"metadata"',  # cut off, no metadata before the items
        b'<html>{"items": []}</html>',  # not JSON
        b'[{"items": []}]',  # not an object
        b'{"metadata":{"continue":5},"items":[]}',  # a token that is not a string
        b'{"metadata":"x","items":[]}',
        b'{"kind":"PodList","metadata":{}}',  # no items at all
        b"",
    ],
)
def test_a_head_that_does_not_tell_the_token_plainly_tells_nothing(body: bytes) -> None:
    """None: the caller parses the whole body to learn the token (never a wrong token)."""
    assert continue_of(body) is None


def test_the_next_page_is_asked_for_before_this_one_is_parsed(
    api: StandIn, cluster: KubeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the client parses a page, the API server already makes the next one: parsing
    the first page of pods waits (bounded) until the request for the second has arrived."""
    monkeypatch.setattr(kube, "PAGE_SIZE", 5)
    second_asked = threading.Event()

    def note_the_second_page(standin: StandIn, req: kmock.Request) -> None:
        if req.url.path == "/api/v1/pods" and dict(req.params).get("continue"):
            second_asked.set()

    api.gate = note_the_second_page
    waited: list[bool] = []
    parse = kube.parse_json

    def slow_parse(data: bytes | str, *, what: str) -> Any:
        if what == "list pods" and not waited:
            waited.append(second_asked.wait(timeout=5.0))
        return parse(data, what=what)

    monkeypatch.setattr(kube, "parse_json", slow_parse)
    observed = cluster.observe()
    assert waited == [True]
    assert len(observed.pods) == 12  # every page read, in order, once
    continues = [p.get("continue") for _, path, p in api.requests if path == "/api/v1/pods"]
    assert [c.partition(":")[0] if c else c for c in continues] == [None, "5", "10"]


def test_pages_whose_head_does_not_tell_the_token_are_parsed_first(
    api: StandIn, cluster: KubeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that writes the items before the list's metadata: every page is still read."""
    monkeypatch.setattr(kube, "PAGE_SIZE", 5)
    served: list[str] = []

    def items_first(standin: StandIn, req: kmock.Request) -> kmock.Response | None:
        if req.url.path != "/api/v1/pods":
            return None
        body = standin._list("pods", dict(req.params)).payload
        served.append(body["metadata"]["continue"])
        reordered = {"items": body["items"], "metadata": body["metadata"]}
        return kmock.Response(status=200, payload=reordered)

    api.gate = items_first
    observed = cluster.observe()
    assert len(served) == 3 and len(observed.pods) == 12


def test_a_page_whose_head_and_body_disagree_is_a_cluster_error(
    api: StandIn, cluster: KubeCluster
) -> None:
    """A metadata member written twice (the head's token is not the parsed body's): refused
    rather than read on from a token the body does not name."""

    def twice(standin: StandIn, req: kmock.Request) -> kmock.Response | None:
        if req.url.path == "/api/v1/pods":
            return kmock.Response(
                status=200,
                payload=b'{"metadata":{"continue":"5:1"},"items":[],"metadata":{"continue":""}}',
            )
        return None

    api.gate = twice
    with pytest.raises(ClusterError) as caught:
        cluster.observe()
    assert "list pods" in str(caught.value) and "continue token" in str(caught.value)
