"""Benchmark: actions per second of the apply, one by one against a pool of workers, in one run.

A stand-in API server (tests/kube_standin.py: kmock over real HTTP on loopback, in a separate
process so its work is not counted here; it answers one request at a time) holds 100
DaemonSets' pods. A plan of --actions pod deletions (10 per DaemonSet) is applied through the
Kubernetes adapter (`KubeCluster`, the official client) by `apply_plan`, one by one
(`--apply-workers 1`) and with --workers workers, alternately --repeat times on fresh pods,
without a rate limit (the limit, not the apply, would be measured: at the default 20 QPS /
burst 30, 1,000 actions take at least (1,000 − 30) / 20 = 48.5 s whatever the workers).
Prints the best rate of each and their ratio.

Then the simulated cluster: 500 pod deletions of two 1,250-pod DaemonSets, applied and
observed again (issue 20: ~30 s before its DaemonSet controller ran once per DaemonSet
instead of once per deletion).

Usage: python bench/apply_rate.py [--actions 1000] [--workers 8 16] [--repeat 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from kube_standin import running, write_kubeconfig  # noqa: E402
from plan_scale import write_repo  # noqa: E402

from gitops_edge.cluster import kube  # noqa: E402
from gitops_edge.cluster.kube_cluster import KubeCluster  # noqa: E402
from gitops_edge.cluster.sim import SimCluster  # noqa: E402
from gitops_edge.model.desired import UpdateModel  # noqa: E402
from gitops_edge.model.plan import DaemonSetPlan, DeletePod, Plan, Progress  # noqa: E402
from gitops_edge.planner import plan as make_plan  # noqa: E402
from gitops_edge.reconciler.apply import DONE, ApplySettings, apply_plan  # noqa: E402
from gitops_edge.reconciler.reconcile import load_desired, reconcile_once  # noqa: E402

NS = "edge"
DAEMONSETS = 100


def pod_name(run: int, ds: int, i: int) -> str:
    return f"r{run}-ds{ds:03d}-{i:03d}"


def serve(runs: int, per_ds: int, urls: Any, stop: Any) -> None:
    with running() as api:
        api.record_events = False
        api.add_namespace(NS)
        for run in range(runs):
            for ds in range(DAEMONSETS):
                for i in range(per_ds):
                    name = pod_name(run, ds, i)
                    api.put(
                        "pods",
                        {
                            "metadata": {
                                "name": name,
                                "namespace": NS,
                                "uid": f"uid-{name}",
                                "labels": {"controller-revision-hash": "old"},
                                "ownerReferences": [
                                    {"kind": "DaemonSet", "name": f"ds{ds:03d}", "controller": True}
                                ],
                            },
                            "spec": {"nodeName": f"node-{ds:03d}-{i:03d}"},
                        },
                    )
        urls.put(api.url)
        stop.wait()


def deletions(run: int, per_ds: int) -> Plan:
    """A plan of `per_ds` pod deletions in each of the DaemonSets."""
    daemonsets = []
    for ds in range(DAEMONSETS):
        actions = tuple(
            DeletePod(
                namespace=NS,
                name=pod_name(run, ds, i),
                uid=f"uid-{pod_name(run, ds, i)}",
                node=f"node-{ds:03d}-{i:03d}",
                outside_budget=False,
                reason="bench",
            )
            for i in range(per_ds)
        )
        daemonsets.append(
            DaemonSetPlan(
                namespace=NS,
                name=f"ds{ds:03d}",
                workload=f"ds{ds:03d}",
                group=None,
                model=UpdateModel.ADVANCED_ROLLING_UPDATE,
                revision="new",
                actions=actions,
                deferred=(),
                progress=Progress(
                    nodes=per_ds, current=0, outdated=per_ds, unavailable=0, deferred=0
                ),
                budget=None,
            )
        )
    return Plan(revision="bench", now=0.0, daemonsets=tuple(daemonsets))


def stand_in_rates(actions: int, workers: list[int], repeat: int) -> dict[int, float]:
    per_ds = max(1, actions // DAEMONSETS)
    modes = [1, *workers]
    runs = len(modes) * repeat
    ctx = multiprocessing.get_context("spawn")
    urls, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=serve, args=(runs, per_ds, urls, stop), daemon=True)
    server.start()
    rates: dict[int, float] = dict.fromkeys(modes, 0.0)
    try:
        url = urls.get(timeout=600)
        with tempfile.TemporaryDirectory() as tmp:
            config = write_kubeconfig(Path(tmp) / "kubeconfig", url)
            with KubeCluster(kube.api_client_for(str(config), None)) as cluster:
                run = 0
                for _ in range(repeat):
                    for mode in modes:  # alternately, so a busy machine skews them alike
                        plan = deletions(run, per_ds)
                        run += 1
                        start = time.perf_counter()
                        results = apply_plan(plan, cluster, settings=ApplySettings(workers=mode))
                        seconds = time.perf_counter() - start
                        done = sum(r.outcome == DONE for r in results)
                        if done != len(plan.actions):
                            raise SystemExit(f"only {done} of {len(plan.actions)} actions done")
                        rates[mode] = max(rates[mode], done / seconds)
    finally:
        stop.set()
        server.join(60)
    return rates


def sim_deletions() -> tuple[int, float, float]:
    """(deletions, seconds to apply them, seconds of the observe after them)."""
    groups = ["g000"]
    cluster = SimCluster.create(groups=[("g000", 1250)], seed=1, namespaces=["edge-apps"])
    with tempfile.TemporaryDirectory() as tmp:
        write_repo(Path(tmp) / "v1", groups=groups, workloads=2, version="1.0.0")
        write_repo(Path(tmp) / "v2", groups=groups, workloads=2, version="1.1.0")
        v1 = load_desired(Path(tmp) / "v1", revision="v1")
        v2 = load_desired(Path(tmp) / "v2", revision="v2")
    reconcile_once(v1, cluster)
    cluster.tick(60)
    apply_plan(make_plan(v2, cluster.observe()), cluster)  # the DaemonSet updates
    plan = make_plan(v2, cluster.observe())
    count = sum(isinstance(a, DeletePod) for a in plan.actions)
    start = time.perf_counter()
    apply_plan(plan, cluster)
    applied = time.perf_counter() - start
    start = time.perf_counter()
    cluster.observe()
    return count, applied, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--actions", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    rates = stand_in_rates(args.actions, args.workers, args.repeat)
    print(
        f"stand-in API server, {args.actions} pod deletions over {DAEMONSETS} DaemonSets, "
        f"best of {args.repeat}:"
    )
    print(f"  one by one:        {rates[1]:7.0f} actions/s (baseline)")
    for workers in args.workers:
        ratio = rates[workers] / rates[1]
        print(f"  {workers:2d} workers:        {rates[workers]:7.0f} actions/s ({ratio:.2f}x)")
    count, applied, observed = sim_deletions()
    print(
        f"simulated cluster: {count} pod deletions applied in {applied:.2f} s, the observe "
        f"after them (the DaemonSet controller's one run per DaemonSet) {observed:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
