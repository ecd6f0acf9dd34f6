"""The watch-fed cache behind the Kubernetes adapter's `observe()` in the loop (kube_cache), with
the official client over real HTTP against the stand-in API server: a warm pass lists nothing
that grows with the fleet, the cache follows other writers through its watches, it never shows
a pass a view older than that pass's own writes (however slow the watch), and it lists again
on 410 Gone, on a failing or silent watch and after a write whose outcome is unknown."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kube_standin import StandIn, running, write_kubeconfig
from standin_client import connected
from test_kube_adapter import EXAMPLE, node, pod, seed

from gitops_edge.cli.loop_cmd import PassClusters
from gitops_edge.cluster import kube
from gitops_edge.cluster.base import TransientClusterError
from gitops_edge.cluster.kube import Retrier
from gitops_edge.cluster.kube_cache import KubeCache
from gitops_edge.cluster.kube_cluster import KubeCluster
from gitops_edge.model.observed import Condition, Node, Observed

FLEET_LISTS = ("/api/v1/nodes", "/api/v1/pods", "/apis/apps/v1/daemonsets")


@pytest.fixture
def api() -> Iterator[StandIn]:
    with running() as standin:
        seed(standin)
        yield standin


@pytest.fixture
def cluster(api: StandIn, tmp_path: Path) -> Iterator[KubeCluster]:
    with connected(api, tmp_path) as c:
        yield c


def start(cluster: KubeCluster, **settings: Any) -> KubeCache:
    return cluster.start_cache(**{"idle_delay": 0.02, "settle_timeout": 5.0, **settings})


def lists(api: StandIn) -> int:
    """LIST requests (not watches) of the resources that grow with the fleet."""
    return sum(
        1
        for method, path, params in api.requests
        if method == "GET" and path in FLEET_LISTS and params.get("watch") != "true"
    )


def eventually(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the cache did not catch up"
        time.sleep(0.02)


def fresh(api: StandIn, tmp_path: Path) -> Observed:
    """What an uncached observe sees now."""
    client = kube.api_client_for(str(api.kubeconfig(tmp_path / "fresh-kubeconfig")), None)
    with KubeCluster(client, retrier=Retrier(sleep=lambda _: None)) as other:
        return other.observe()


def same_view(a: Observed, b: Observed) -> bool:
    return (
        a.nodes == b.nodes
        and a.daemonsets == b.daemonsets
        and sorted(a.pods, key=lambda p: (p.namespace, p.name))
        == sorted(b.pods, key=lambda p: (p.namespace, p.name))
    )


def test_a_warm_pass_lists_nothing_that_grows_with_the_fleet(
    api: StandIn, cluster: KubeCluster, tmp_path: Path
) -> None:
    start(cluster)
    assert lists(api) == 4 - 1  # nodes, pods, daemonsets (+ controllerrevisions, not counted)
    api.requests.clear()
    observed = cluster.observe()
    assert lists(api) == 0
    passes = [p for _, p, params in api.requests if params.get("watch") != "true"]
    # discovery, pre-pull Jobs, namespaces (few: listed every pass, not cached)
    assert sorted(passes) == ["/api/v1/namespaces", "/apis/", "/apis/batch/v1/jobs"]
    assert same_view(observed, fresh(api, tmp_path))

    def watches() -> dict[str, dict[str, str]]:
        return {p: params for _, p, params in api.requests if params.get("watch") == "true"}

    eventually(lambda: set(watches()) == {*FLEET_LISTS, "/apis/apps/v1/controllerrevisions"})
    assert watches()["/api/v1/pods"]["labelSelector"] == "controller-revision-hash"
    assert all(w["allowWatchBookmarks"] == "true" for w in watches().values())


def test_the_cache_follows_other_writers(
    api: StandIn, cluster: KubeCluster, tmp_path: Path
) -> None:
    changes: list[tuple[Node | None, Node | None]] = []
    start(cluster, on_node_change=lambda before, after: changes.append((before, after)))
    api.set_node_ready("n03", True)  # the node controller
    api.put("nodes", node("n12"))  # a node joins
    api.remove("pods", "edge", "web-05")  # the kubelet finished deleting a pod
    api.put("pods", pod("web-05b", "n05"))  # the DaemonSet controller replaced it
    api.put("pods", {"metadata": {"name": "other", "namespace": "edge"}, "spec": {}})  # no DS pod
    expected = fresh(api, tmp_path)
    eventually(lambda: same_view(cluster.observe(), expected))
    assert len(expected.pods) == 12 and len(expected.nodes) == 13
    turned = [(b.name if b else None, a.ready if a else None) for b, a in changes]
    assert turned == [("n03", True), (None, True)]


def test_what_no_watch_changed_is_the_same_object_in_the_next_observation(
    api: StandIn, cluster: KubeCluster, tmp_path: Path
) -> None:
    """What incremental passes rely on to find what changed cheaply (reconciler.incremental):
    an unchanged node or pod is the very object the previous observation held."""
    start(cluster)
    first = cluster.observe()
    api.put("pods", pod("web-05b", "n05"))
    expected = fresh(api, tmp_path)
    eventually(lambda: same_view(cluster.observe(), expected))
    second = cluster.observe()
    kept = {id(p) for p in first.pods}
    assert [p.name for p in second.pods if id(p) not in kept] == ["web-05b"]
    assert all(a is b for a, b in zip(first.nodes, second.nodes, strict=True))


def test_own_writes_are_seen_by_the_next_pass(api: StandIn, cluster: KubeCluster) -> None:
    cache = start(cluster)
    uid = api.store["pods"][("edge", "web-02")]["metadata"]["uid"]
    cluster.delete_pod("edge", "web-02", uid)
    cluster.set_pod_condition(
        "edge",
        "web-04",
        api.store["pods"][("edge", "web-04")]["metadata"]["uid"],
        Condition("PodNeedUpgrade", "True", reason="NewRevision"),
    )
    cluster.annotate_daemonset("edge", "web", {"gitops-edge.io/halted": "yes"})
    observed = cluster.observe()  # no wait in the test: observe itself waits for the events
    assert "web-02" not in {p.name for p in observed.pods}
    needs = next(p for p in observed.pods if p.name == "web-04").condition("PodNeedUpgrade")
    assert needs is not None and needs.status == "True"
    assert observed.daemonsets[0].annotations["gitops-edge.io/halted"] == "yes"
    assert cache.relists == 0  # the watch delivered every write in time: nothing listed again
    assert cache.expected == {}


def test_a_lagging_watch_never_shows_a_pass_less_than_its_own_writes(
    api: StandIn, cluster: KubeCluster
) -> None:
    cache = start(cluster, settle_timeout=0.3)
    api.hold_events = True  # the watch falls behind: it delivers nothing
    uid = api.store["pods"][("edge", "web-02")]["metadata"]["uid"]
    cluster.delete_pod("edge", "web-02", uid)
    before = lists(api)
    observed = cluster.observe()
    # Without the expectation the cache would still show web-02 Running and a pass could
    # delete a pod more than the budget allows; instead the pods are listed again.
    assert "web-02" not in {p.name for p in observed.pods}
    assert cache.relists == 1 and lists(api) == before + 1
    assert cache.expected == {}
    api.hold_events = False
    cluster.observe()
    assert cache.relists == 1  # trusted again: no more lists


def test_a_write_with_an_unknown_outcome_is_listed_again(
    api: StandIn, cluster: KubeCluster
) -> None:
    cache = start(cluster)
    uid = api.store["pods"][("edge", "web-02")]["metadata"]["uid"]
    for _ in range(5):  # every attempt fails: the DELETE may or may not have happened
        api.fail_next("DELETE", "/api/v1/namespaces/edge/pods/web-02", 503)
    with pytest.raises(TransientClusterError):
        cluster.delete_pod("edge", "web-02", uid)
    cluster.observe()
    assert cache.relists == 1


def test_410_gone_lists_again_and_goes_on_watching(
    api: StandIn, cluster: KubeCluster, tmp_path: Path
) -> None:
    cache = start(cluster)
    api.compacted = 10**9  # every resourceVersion the watches hold is gone
    api.record_events = False  # and these changes reach the cache only through a new list
    api.set_node_ready("n07", False)
    api.remove("pods", "edge", "web-07")
    eventually(lambda: all(store.generation > 1 for store in cache.stores.values()))
    api.compacted, api.record_events = 0, True
    api.set_node_ready("n08", False)  # then watched again from the new lists' versions
    expected = fresh(api, tmp_path)
    eventually(lambda: same_view(cluster.observe(), expected))


def test_a_failing_or_silent_watch_is_not_trusted(api: StandIn, cluster: KubeCluster) -> None:
    cache = start(cluster)
    api.broken_watches.add("/api/v1/nodes")  # every watch of nodes fails; lists still work
    eventually(lambda: "500" in cache.stores["nodes"].error)
    before = lists(api)
    cluster.observe()  # lists the nodes rather than trust a watch that is failing
    assert lists(api) == before + 1
    api.broken_watches.clear()
    eventually(lambda: not cache.stores["nodes"].error)
    before = lists(api)
    cluster.observe()
    assert lists(api) == before
    cache.silence_limit = 0.0  # no watch has been heard from for longer than this
    cluster.observe()
    assert lists(api) == before + 3  # nodes, pods, daemonsets (and revisions) listed again


def test_without_the_cache_every_observe_lists(api: StandIn, cluster: KubeCluster) -> None:
    cluster.observe()
    cluster.observe()
    assert lists(api) == 6


@pytest.mark.parametrize("cached", [True, False], ids=["watch-cache", "no-watch-cache"])
def test_the_loop_lists_once_and_wakes_when_a_node_turns_ready(
    api: StandIn, tmp_path: Path, cached: bool
) -> None:
    """`reconcile --cluster kube` (the loop) as a subprocess against the stand-in: passes read the
    cache (with --no-watch-cache: list every pass), a node turning Ready starts a pass at once
    (the interval is an hour)."""
    api.job_versions = ["v1alpha1", "v1alpha2"]
    for group, count in (("hangzhou", 3), ("shanghai", 2)):
        for i in range(count):
            api.put("nodes", node(f"{group}-{i}", pool=group, ready=(group, i) != ("shanghai", 1)))
    env = {**os.environ, "KUBECONFIG": str(api.kubeconfig(tmp_path / "kubeconfig"))}
    loop = subprocess.Popen(
        [
            *(sys.executable, "-m", "gitops_edge", "reconcile", str(EXAMPLE)),
            *("--cluster", "kube", "--interval", "3600", "--log-format", "json"),
            *(() if cached else ("--no-watch-cache",)),
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    passes: list[dict[str, Any]] = []
    others: list[str] = []

    def read() -> None:
        assert loop.stderr is not None
        for line in loop.stderr:
            try:
                entry = json.loads(line)
            except ValueError:
                others.append(line)  # shown if the test fails
                continue
            if entry.get("msg") == "pass":
                passes.append(entry)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        eventually(lambda: len(passes) >= 1, seconds=60)
        assert ("edge-system", "log-agent-hangzhou") in api.store["daemonsets"]
        node_lists = lists_of(api, "/api/v1/nodes")
        api.set_node_ready("shanghai-1", True)  # the link is back
        eventually(lambda: len(passes) >= 2, seconds=30)
        if cached:
            assert lists_of(api, "/api/v1/nodes") == node_lists == 1  # the cache, no new list
        else:
            assert lists_of(api, "/api/v1/nodes") > node_lists  # the second pass listed again
    finally:
        loop.send_signal(signal.SIGTERM)
        loop.wait(timeout=30)
        reader.join(10)
        assert loop.stderr is not None
        loop.stderr.close()
    assert loop.returncode == 0, others


def lists_of(api: StandIn, path: str) -> int:
    return sum(1 for m, p, params in api.requests if p == path and params.get("watch") != "true")


def test_the_loop_starts_its_cache_once_the_api_answers(
    api: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(api.kubeconfig(tmp_path / "kubeconfig")))
    monkeypatch.setattr(kube.Retrier, "_delay", lambda self, attempt, exc: 0.0)
    clusters = PassClusters("kube", cache=True, wake=threading.Event())
    try:
        for _ in range(5):
            api.fail_next("GET", "/api/v1/nodes", 503)
        with pytest.raises(TransientClusterError), clusters.open():
            pass  # the first pass fails (and the loop backs off): no cache, no thread
        assert clusters.kube.cache is None
        with clusters.open() as first, clusters.open() as second:
            assert first is second and clusters.kube.cache is not None
            assert len(first.observe().nodes) == 12
    finally:
        clusters.close()
    assert lists_of(api, "/api/v1/nodes") == 5 + 1


def test_stopping_ends_a_quiet_watch_at_once(tmp_path: Path) -> None:
    """A watch on which nothing happens blocks in a read for minutes; stopping the cache shuts
    its socket down, so the loop exits promptly on SIGTERM."""
    release = threading.Event()

    class Quiet(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            release.wait(30)  # a watch with no events

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    client = kube.api_client_for(str(write_kubeconfig(tmp_path / "kubeconfig", url)), None)
    try:
        with KubeCluster(client, retrier=Retrier(sleep=lambda _: None)) as cluster:
            ended = threading.Event()

            def watch() -> None:
                with contextlib.suppress(Exception):
                    list(cluster.watch("nodes", "1"))
                ended.set()

            threading.Thread(target=watch, daemon=True).start()
            eventually(lambda: bool(cluster._streams))
            started = time.monotonic()
            cluster.interrupt()
            assert ended.wait(5), "the watch went on after interrupt()"
            assert time.monotonic() - started < 5
    finally:
        release.set()
        server.shutdown()
        server.server_close()


class GatedSource:
    """A `Source` whose LISTs wait for a gate (no HTTP): to order a list against a write."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.listing = threading.Event()

    def list_bodies(self, resource: str) -> Iterator[dict[str, Any]]:
        self.listing.set()
        assert self.gate.wait(10)
        yield {"metadata": {"resourceVersion": "7"}, "items": []}

    def watch(self, resource: str, version: str) -> Iterator[dict[str, Any]]:
        return iter(())

    def interrupt(self) -> None:
        pass


def test_a_list_begun_before_an_unknown_write_does_not_vouch_for_it() -> None:
    source = GatedSource()
    cache = KubeCache(source, pod_conditions=frozenset())
    listing = threading.Thread(target=cache._list, args=("pods",))
    listing.start()
    assert source.listing.wait(10)
    pod_write = cache.expect("pods", ("edge", "web-01"))
    cache.invalidate("pods", pod_write)  # its outcome is unknown, and the list was under way
    source.gate.set()
    listing.join(10)
    assert not cache._trusted("pods")  # the next snapshot lists pods again
    cache._list("pods")
    assert cache._trusted("pods")


def test_a_warm_pass_reuses_the_daemonsets_it_parsed_until_they_or_their_revisions_change(
    api: StandIn, cluster: KubeCluster
) -> None:
    """Parsing a DaemonSet (its live JSON for the drift check, its placement) was redone for
    every DaemonSet at every pass; an unchanged DaemonSet (same resourceVersion, same newest
    ControllerRevision) is now the value the last pass parsed, and a changed one is parsed
    again."""
    start(cluster)
    (first,) = cluster.observe().daemonsets
    (again,) = cluster.observe().daemonsets
    assert again is first
    api.edit_daemonset("edge", "web", lambda ds: ds["spec"].update(minReadySeconds=9))
    eventually(lambda: cluster.observe().daemonsets[0].min_ready_seconds == 9)
    (edited,) = cluster.observe().daemonsets
    assert edited is not first and edited.current_revision == "h2"
    api.put(
        "controllerrevisions",
        {
            "metadata": {
                "name": "web-h3",
                "namespace": "edge",
                "labels": {"controller-revision-hash": "h3"},
                "ownerReferences": [{"kind": "DaemonSet", "uid": "ds-uid", "controller": True}],
            },
            "revision": 3,
        },
    )
    eventually(lambda: cluster.observe().daemonsets[0].current_revision == "h3")
    (revised,) = cluster.observe().daemonsets
    assert revised.min_ready_seconds == 9 and revised.live_json == edited.live_json


def test_what_a_list_brought_is_moved_out_of_the_collectors_way(
    api: StandIn, cluster: KubeCluster
) -> None:
    """A fleet's cache is hundreds of thousands of long-lived acyclic objects: once listed they
    are frozen (`gc.freeze`), so the collector's full collections during later passes no longer
    walk through them all (and they are still freed when the watch replaces them)."""
    import gc

    gc.unfreeze()
    try:
        cache = start(cluster)
        pods = cache.stores["pods"].values
        assert len(pods) == 12 and gc.get_freeze_count() >= len(pods)
        oldest = {id(o) for o in gc.get_objects(generation=2)}
        assert not any(id(p) in oldest for p in pods.values())  # frozen, not in a generation
    finally:
        gc.unfreeze()


def test_a_list_whose_continue_token_expired_is_listed_again_from_the_start(
    api: StandIn, cluster: KubeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A paged LIST of a big fleet takes a while; when the store is compacted between two
    pages, the API server answers the continue request 410 Gone (reason Expired). The list is
    then made again from its first page (as client-go's pager falls back to a full list), and
    what the pages before the expiry showed is dropped: a pod deleted meanwhile is not kept."""
    import kmock

    monkeypatch.setattr(kube, "PAGE_SIZE", 5)
    expired: list[str] = []

    def compact_after_the_first_page(standin: StandIn, req: kmock.Request) -> None:
        params = dict(req.params)
        if req.url.path == "/api/v1/pods" and params.get("continue") and not expired:
            expired.append(params["continue"])
            standin.remove("pods", "edge", "web-00")  # after the first page had it
            standin.compacted = int(params["continue"].partition(":")[2]) + 1
        return None

    api.gate = compact_after_the_first_page
    cache = start(cluster)
    api.gate, api.compacted = None, 0
    assert expired
    pods = cache.stores["pods"].values
    assert ("edge", "web-00") not in pods and len(pods) == 11
    firsts = [p for m, path, p in api.requests if path == "/api/v1/pods" and "continue" not in p]
    assert len(firsts) >= 2  # the first page asked for again
