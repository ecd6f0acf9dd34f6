"""Benchmark: the Kubernetes adapter's observe() at fleet scale, against merely downloading and
`json.loads`-ing the same list bodies, in one run.

A stand-in API server (tests/kube_standin.py: kmock over real HTTP on loopback, in a separate
process so its work and memory are not counted here) serves 10,000 nodes in 100 groups, 2,000
DaemonSets with their ControllerRevisions and 200,000 pods. Measured, best of --repeat:

- baseline: the same paginated LIST requests through the official client with
  `_preload_content=False`, each page `json.loads`-ed and dropped;
- observe: `KubeCluster.observe()` (the same requests, parsed into the observed model);

their ratio (target ≤ 1.5), observe's peak allocation (tracemalloc) and the number of HTTP
requests per pass for 1,000 and for 10,000 nodes (target: the same), both listing on every pass
(`plan`, `reconcile --once`) and from the loop's watch-fed cache (`kube_cache`), with the time of
an observe from the cache and the memory the cache holds.

Usage: python bench/observe_scale.py [--nodes 10000] [--pods-per-node 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from kube_standin import running, write_kubeconfig  # noqa: E402

from gitops_edge.cluster import kube  # noqa: E402
from gitops_edge.cluster.kube import Retrier  # noqa: E402
from gitops_edge.cluster.kube_cluster import KubeCluster  # noqa: E402
from gitops_edge.model.prepull import PULL_POD_LABEL  # noqa: E402


def fleet(nodes: int, pods_per_node: int) -> dict[str, list[dict[str, Any]]]:
    groups = max(1, nodes // 100)
    out: dict[str, list[dict[str, Any]]] = {
        "nodes": [],
        "daemonsets": [],
        "controllerrevisions": [],
        "pods": [],
    }
    ready = {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
    for i in range(nodes):
        out["nodes"].append(
            {
                "metadata": {
                    "name": f"node-{i:05d}",
                    "labels": {"apps.openyurt.io/nodepool": f"g{i % groups:03d}"},
                },
                "status": {"conditions": [ready], "nodeInfo": {"kubeletVersion": "v1.29.5"}},
            }
        )
    workloads = pods_per_node
    for w in range(workloads):
        for g in range(groups):
            name, uid = f"app{w:02d}-g{g:03d}", f"ds-{w}-{g}"
            out["daemonsets"].append(
                {
                    "metadata": {"name": name, "namespace": "edge", "uid": uid, "generation": 2},
                    "spec": {"updateStrategy": {"type": "OnDelete"}},
                }
            )
            out["controllerrevisions"].append(
                {
                    "metadata": {
                        "name": f"{name}-h2",
                        "namespace": "edge",
                        "labels": {"controller-revision-hash": "h2"},
                        "ownerReferences": [{"kind": "DaemonSet", "uid": uid, "controller": True}],
                    },
                    "revision": 2,
                }
            )
    for i in range(nodes):
        g = i % groups
        for w in range(workloads):
            out["pods"].append(
                {
                    "metadata": {
                        "name": f"app{w:02d}-g{g:03d}-{i:05d}",
                        "namespace": "edge",
                        "labels": {
                            "controller-revision-hash": "h1",
                            "pod-template-generation": "1",
                        },
                        "ownerReferences": [
                            {
                                "apiVersion": "apps/v1",
                                "kind": "DaemonSet",
                                "name": f"app{w:02d}-g{g:03d}",
                                "uid": f"ds-{w}-{g}",
                                "controller": True,
                            }
                        ],
                    },
                    "spec": {
                        "nodeName": f"node-{i:05d}",
                        "containers": [{"name": "c", "image": "x/y:1"}],
                    },
                    "status": {"conditions": [ready, {"type": "PodNeedUpgrade", "status": "True"}]},
                }
            )
    return out


def serve(nodes: int, pods_per_node: int, urls: Any, stop: Any) -> None:
    with running() as api:
        api.record_events = False  # seeding: no watch needs these as events
        for resource, items in fleet(nodes, pods_per_node).items():
            for item in items:
                api.put(resource, item)
        api.record_events = True
        urls.put(api.url)
        stop.wait()


def best(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(nodes: int, pods_per_node: int, repeat: int) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    urls, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=serve, args=(nodes, pods_per_node, urls, stop), daemon=True)
    server.start()
    try:
        url = urls.get(timeout=600)
        with tempfile.TemporaryDirectory() as tmp:
            config = write_kubeconfig(Path(tmp) / "kubeconfig", url)
            with KubeCluster(kube.api_client_for(str(config), None), retrier=Retrier()) as cluster:
                return _measure(cluster, repeat)
    finally:
        stop.set()
        server.join(60)


def _measure(cluster: KubeCluster, repeat: int) -> dict[str, float]:
    listers: list[tuple[Any, dict[str, str]]] = [  # the requests observe() makes
        (cluster.core.list_node, {}),
        (cluster.apps.list_controller_revision_for_all_namespaces, {}),
        (cluster.apps.list_daemon_set_for_all_namespaces, {}),
        (
            cluster.core.list_pod_for_all_namespaces,
            {"label_selector": kube.DAEMON_POD_SELECTOR},
        ),
        (cluster.batch.list_job_for_all_namespaces, {"label_selector": PULL_POD_LABEL}),
    ]

    def download() -> None:
        for lister, selectors in listers:
            for _ in cluster.pages("bench", lister, **selectors):
                pass  # each page json.loads-ed inside pages(), then dropped

    def download_without_gc() -> None:
        gc.disable()
        try:
            download()
        finally:
            gc.enable()

    baseline = best(download, repeat)
    baseline_no_gc = best(download_without_gc, repeat)
    observe = best(cluster.observe, repeat)
    before = cluster.retry.requests
    observed = cluster.observe()
    requests = cluster.retry.requests - before
    tracemalloc.start()
    cluster.observe()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # The loop: a watch-fed cache, listed once; then each pass reads it.
    gc.collect()
    tracemalloc.start()
    cluster.start_cache()
    cache_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    warm = best(cluster.observe, repeat)
    before = cluster.retry.requests
    warm_observed = cluster.observe()
    warm_requests = cluster.retry.requests - before
    assert len(warm_observed.pods) == len(observed.pods)
    return {
        "nodes": len(observed.nodes),
        "pods": len(observed.pods),
        "baseline": baseline,
        "baseline_no_gc": baseline_no_gc,
        "observe": observe,
        "requests": requests,
        "peak": peak,
        "warm": warm,
        "warm_requests": warm_requests,
        "cache_bytes": cache_bytes,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--pods-per-node", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    small = measure(args.nodes // 10, args.pods_per_node, 1)
    big = measure(args.nodes, args.pods_per_node, args.repeat)
    ratio = big["observe"] / big["baseline"]
    print(f"fleet: {big['nodes']:.0f} nodes, {big['pods']:.0f} pods (page size {kube.PAGE_SIZE})")
    print(f"download + json.loads (baseline): {big['baseline']:.3f} s")
    strict = big["observe"] / big["baseline_no_gc"]
    print(
        f"the same with the GC off, as observe() runs its pod parsing: "
        f"{big['baseline_no_gc']:.3f} s (ratio against it: {strict:.2f})"
    )
    print(f"adapter observe():                {big['observe']:.3f} s")
    verdict = "meets" if ratio <= 1.5 else "misses"
    print(f"ratio observe/baseline: {ratio:.2f} ({verdict} ≤ 1.5)")
    print(f"observe peak allocation: {big['peak'] / 2**20:.0f} MiB")
    same = "same" if small["requests"] == big["requests"] else "not the same"
    print(
        f"HTTP requests per pass, listing (plan, --once): {small['requests']:.0f} for "
        f"{small['nodes']:.0f} nodes, {big['requests']:.0f} for {big['nodes']:.0f} nodes "
        f"({same}: 5 paginated LISTs and 1 discovery request; the pages grow with the objects)"
    )
    same = "same" if small["warm_requests"] == big["warm_requests"] else "not the same"
    print(
        f"HTTP requests per pass, the loop's watch-fed cache: {small['warm_requests']:.0f} for "
        f"{small['nodes']:.0f} nodes, {big['warm_requests']:.0f} for {big['nodes']:.0f} nodes "
        f"({same}: discovery and the pre-pull Jobs; nodes, DaemonSets, revisions and pods "
        "come from the watches)"
    )
    print(
        f"observe() from the cache: {big['warm']:.3f} s "
        f"(ratio against the baseline: {big['warm'] / big['baseline']:.2f}); "
        f"the cache holds {big['cache_bytes'] / 2**20:.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
