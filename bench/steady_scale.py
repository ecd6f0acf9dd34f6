"""Benchmark: the reconcile loop's steady pass, its initial sync and its memory at fleet scale,
as ratios against baselines measured in the same run (issue 20, items 2 and 4).

A stand-in API server (tests/kube_standin.py, in a process of its own so that its work and
memory are not counted here) serves a fleet of N nodes in N/100 node groups, 10 EdgeDaemonSets
(AdvancedRollingUpdate) over every group (one DaemonSet per 10 nodes, 10 pods per node), every
pod current and Ready: a fleet with nothing to do. The DaemonSets are stored as the stand-in's
server-side apply stores the rendered manifests, so no drift is found. One node starts NotReady.
The client is the loop's: `KubeCluster` with its watch-fed cache (`start_cache`) and the loop's
`Pipeline` over the desired state as a git repository (`--source git`, the default: a
`file://` clone, status writing off) or a local folder (`--source folder`, validated and
rendered every pass), Events on, metrics on (as with `--metrics-addr`), planning
incrementally as the loop does (`IncrementalPlanner`, a full replan every 10th pass). Measured,
for each fleet size (`--nodes 10000,30000,100000`):

- download: the 4 cached resources' paged LISTs, each page read raw (`_preload_content=False`)
  and parsed with the stdlib's `json.loads` (whatever parser the adapter uses), then dropped,
  with the GC off (the baseline of the initial sync), best of --repeat;
- parse: `json.loads` of the same bodies (already downloaded), GC off: a CPU-only yardstick
  that grows with the fleet;
- initial sync: `start_cache()` (list every resource, parse into the cache); ratio to the
  download (target ≤ 1.2); with `--syncs N`, N of them (the first N-1 dropped again), each
  against the same download (the ratio is the noisiest figure on a shared machine);
- steady pass: `Pipeline.load()` + `run_pass` with nothing to do (target ≤ 1 s at 100k nodes),
  and its parts timed inside that pass (load: validate and render the repository; observe
  from the cache; plan; the rest: events, metrics, everything else), best of --repeat
  passes after the first; the first pass replans everything (as every 10th does) and is
  printed on its own;
- ready pass: the same after one node turned Ready (the cache told by its watch first);
- client RSS (target ≤ 4 GiB): now, and the peak.

`--soak PASSES` (item 4): after those, PASSES more passes, each after `--churn` pods were
replaced (deleted and recreated under a new name, as a DaemonSet controller does); prints the
RSS after the warm-up (the first tenth of them, and at least the first 10, so that it holds a
full replan) and at the end, and their ratio (flat: ≈ 1), and
the RSS after each tenth (where it grows, if it does), and the median and longest soak pass.
`--profile` prints the top of a cProfile of one steady pass, one after a node turned Ready, one
after --churn pods were replaced, and one full replan.

Usage: python bench/steady_scale.py [--nodes 10000,30000,100000] [--repeat 3] [--soak 0]
       [--churn 100] [--syncs 1] [--profile] [--source git|folder]
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fleet_repo import CONFIG, GROUP  # noqa: E402
from kube_standin import StandIn, running, write_kubeconfig  # noqa: E402

from gitops_edge.cluster import kube  # noqa: E402
from gitops_edge.cluster.kube import Retrier  # noqa: E402
from gitops_edge.cluster.kube_cache import NODES  # noqa: E402
from gitops_edge.cluster.kube_cluster import KubeCluster  # noqa: E402
from gitops_edge.model.desired import DesiredState  # noqa: E402
from gitops_edge.model.observed import Observed  # noqa: E402
from gitops_edge.model.plan import Plan  # noqa: E402
from gitops_edge.reconciler.event_recorder import EventRecorder  # noqa: E402
from gitops_edge.reconciler.incremental import (  # noqa: E402
    DEFAULT_FULL_EVERY,
    IncrementalPlanner,
)
from gitops_edge.reconciler.metrics import LoopMetrics  # noqa: E402
from gitops_edge.reconciler.pipeline import (  # noqa: E402
    LOCAL_REVISION,
    FolderSource,
    Pipeline,
    Source,
    this_cluster,
)
from gitops_edge.reconciler.publish import GitPublisher  # noqa: E402
from gitops_edge.reconciler.reconcile import load_desired  # noqa: E402
from gitops_edge.source.gitsource import GitSource  # noqa: E402

WORKLOADS = 10  # EdgeDaemonSets, each over every group: 10 pods per node
NODES_PER_GROUP = 100  # so one DaemonSet per 10 nodes
READY_LONG_AGO = "2020-01-01T00:00:00Z"
HASH = "h1"
WORKLOAD = """apiVersion: gitops-edge.io/v1alpha1
kind: EdgeDaemonSet
metadata:
  name: app-{i:02d}
spec:
  strategy:
    type: AdvancedRollingUpdate
    maxUnavailable: 20%
  template:
    metadata:
      labels:
        app: app-{i:02d}
    spec:
      containers:
        - name: main
          image: registry.example.com/edge/app-{i:02d}:1.0.0
  groups:
{groups}"""


def write_repo(root: Path, *, nodes: int) -> Path:
    """The desired-state repository of a fleet of `nodes` nodes."""
    groups = [f"g{i:04d}" for i in range(max(1, nodes // NODES_PER_GROUP))]
    root.mkdir(parents=True, exist_ok=True)
    (root / "gitops-edge.yaml").write_text(CONFIG)
    (root / "groups.yaml").write_text("".join(GROUP.format(name=g) for g in groups))
    listed = "".join(f"    - name: {g}\n" for g in groups)
    for i in range(WORKLOADS):
        (root / f"app-{i:02d}.yaml").write_text(WORKLOAD.format(i=i, groups=listed))
    return root


def node_name(i: int) -> str:
    return f"node-{i:06d}"


def seed(api: StandIn, *, repo: Path, nodes: int, revision: str) -> None:
    """The fleet, in sync with `repo`: nodes, the rendered DaemonSets as server-side apply
    stores them, one ControllerRevision each, and one current, Ready pod per node each. Node 0
    is NotReady. No watch events are recorded for the seeding."""
    desired = load_desired(repo, revision=revision)
    api.record_events = False
    ready = {"type": "Ready", "status": "True", "lastTransitionTime": READY_LONG_AGO}
    groups = max(1, nodes // NODES_PER_GROUP)
    members: dict[str, list[str]] = {}
    for i in range(nodes):
        group = f"g{i % groups:04d}"
        members.setdefault(group, []).append(node_name(i))
        status = ready if i else {**ready, "status": "False"}
        node = {
            "metadata": {"name": node_name(i), "labels": {"apps.openyurt.io/nodepool": group}},
            "status": {"conditions": [status], "nodeInfo": {"kubeletVersion": "v1.29.5"}},
        }
        api.put("nodes", node)
    for ds in desired.daemonsets:
        key = (ds.namespace, ds.name)
        api._apply(key, json.loads(ds.manifest_json), {"fieldManager": "gitops-edge"})
        stored = api.store["daemonsets"][key]
        uid, generation = stored["metadata"]["uid"], stored["metadata"]["generation"]
        owner = {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": ds.name, "uid": uid}
        api.put(
            "controllerrevisions",
            {
                "metadata": {
                    "name": f"{ds.name}-{HASH}",
                    "namespace": ds.namespace,
                    "labels": {"controller-revision-hash": HASH},
                    "ownerReferences": [{**owner, "controller": True}],
                },
                "revision": 1,
            },
        )
        for node in members.get(str(ds.group), ()):
            api.put("pods", pod(ds.namespace, f"{ds.name}-{node}", node, owner, generation))
    api.record_events = True


def pod(namespace: str, name: str, node: str, owner: dict[str, Any], generation: int) -> Any:
    ready = {"type": "Ready", "status": "True", "lastTransitionTime": READY_LONG_AGO}
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "controller-revision-hash": HASH,
                "pod-template-generation": str(generation),
            },
            "ownerReferences": [{**owner, "controller": True}],
            "creationTimestamp": READY_LONG_AGO,
        },
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "x/y:1"}]},
        "status": {"phase": "Running", "conditions": [ready]},
    }


def churn(api: StandIn, count: int, serial: int) -> None:
    """Replace `count` pods: each removed and recreated under a new name on the same node."""
    for key in list(api.store["pods"])[:count]:
        old = api.store["pods"][key]
        meta = old["metadata"]
        owner = {k: v for k, v in meta["ownerReferences"][0].items() if k != "controller"}
        generation = int(meta["labels"]["pod-template-generation"])
        api.remove("pods", *key)
        base = meta["name"].rsplit("~", 1)[0]
        api.put("pods", pod(key[0], f"{base}~{serial}", old["spec"]["nodeName"], owner, generation))


def serve(repo: str, nodes: int, revision: str, urls: Any, commands: Any, done: Any) -> None:
    with running() as api:
        seed(api, repo=Path(repo), nodes=nodes, revision=revision)
        urls.put(api.url)
        serial = 0
        while True:
            command, argument = commands.get()
            if command == "stop":
                return
            if command == "ready":
                api.set_node_ready(node_name(0), bool(argument))
            elif command == "churn":
                serial += 1
                churn(api, int(argument), serial)
            done.put(command)


def rss_now() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def rss_peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def without_gc(fn: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        gc.disable()
        try:
            return fn()
        finally:
            gc.enable()

    return run


class Fleet:
    """A stand-in server process with a seeded fleet, and how to talk to it."""

    def __init__(self, *, repo: Path, nodes: int, revision: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.urls, self.commands, self.done = ctx.Queue(), ctx.Queue(), ctx.Queue()
        self.process = ctx.Process(
            target=serve,
            args=(str(repo), nodes, revision, self.urls, self.commands, self.done),
            daemon=True,
        )
        self.process.start()
        self.url = str(self.urls.get(timeout=3600))

    def send(self, command: str, argument: object = None) -> None:
        self.commands.put((command, argument))
        self.done.get(timeout=600)

    def close(self) -> None:
        self.commands.put(("stop", None))
        self.process.join(60)
        if self.process.is_alive():
            self.process.kill()


def wait_for(check: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def commit(repo: Path) -> str:
    """Make `repo` a git repository of one commit on branch main; its hash."""
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-qm", "fleet"],
    ):
        subprocess.run(["git", *args], cwd=repo, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
    )
    return head.stdout.strip()


def measure(
    nodes: int,
    *,
    repeat: int,
    soak: int,
    churned: int,
    profile: bool,
    source: str,
    syncs: int = 1,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gitops-edge-steady-") as tmp:
        repo = write_repo(Path(tmp) / "repo", nodes=nodes)
        revision = commit(repo) if source == "git" else LOCAL_REVISION
        loader: Source = (
            GitPublisher(
                source=GitSource(
                    repo.as_uri(), branch="main", subpath=".", cache_dir=Path(tmp) / "cache"
                ),
                log=lambda *a, **k: None,
                enabled=False,
            )
            if source == "git"
            else FolderSource(repo)
        )
        fleet = Fleet(repo=repo, nodes=nodes, revision=revision)
        try:
            config = write_kubeconfig(Path(tmp) / "kubeconfig", fleet.url)
            with KubeCluster(kube.api_client_for(str(config), None), retrier=Retrier()) as cluster:
                return _measure(
                    cluster,
                    fleet=fleet,
                    source=loader,
                    repeat=repeat,
                    soak=soak,
                    syncs=syncs,
                    churned=churned,
                    profile=profile,
                )
        finally:
            fleet.close()


def _measure(
    cluster: KubeCluster,
    *,
    fleet: Fleet,
    source: Source,
    repeat: int,
    soak: int,
    churned: int,
    profile: bool,
    syncs: int = 1,
) -> dict[str, Any]:
    from gitops_edge.cluster.kube_cache import parsers

    kinds = list(parsers(kube.PLANNER_CONDITIONS))
    raw: list[bytes] = []

    def download(keep: bool = False) -> None:
        """Every page of the cached resources' LISTs, raw (`_preload_content=False`, as the
        adapter asks for it), each `json.loads`-ed (the stdlib parser, not the adapter's) and
        dropped (or kept raw, for `parse`)."""
        for kind in kinds:
            lister, selectors = cluster._lister(kind)
            token = ""
            while True:
                params: dict[str, Any] = {"limit": kube.PAGE_SIZE, **selectors}
                if token:
                    params["_continue"] = token
                data = lister(**params, _preload_content=False).data
                if keep:
                    raw.append(data)
                token = (json.loads(data).get("metadata") or {}).get("continue") or ""
                if not token:
                    break

    def parse() -> None:
        for body in raw:
            json.loads(body)

    download(keep=True)
    figures: dict[str, Any] = {"nodes": 0, "pods": 0}
    figures["download"] = min(timed(without_gc(download)) for _ in range(repeat))
    figures["parse"] = min(timed(without_gc(parse)) for _ in range(repeat))
    raw.clear()
    gc.collect()
    figures["syncs"] = []
    for _ in range(syncs - 1):  # more initial syncs, each dropped again
        figures["syncs"].append(timed(cluster.start_cache))
        assert cluster.cache is not None
        cluster.cache.stop()
        cluster.cache = None
        gc.unfreeze()
        gc.collect()
    figures["sync"] = timed(cluster.start_cache)
    cache = cluster.cache
    assert cache is not None
    parts: dict[str, float] = {}

    class TimedPlanner(IncrementalPlanner):
        """The loop's planner, its time added to the pass's "plan" part."""

        def plan(self, desired: DesiredState, observed: Observed) -> Plan:
            start = time.perf_counter()
            try:
                return super().plan(desired, observed)
            finally:
                parts["plan"] = parts.get("plan", 0.0) + time.perf_counter() - start

        __call__ = plan

    incremental = TimedPlanner(full_every=DEFAULT_FULL_EVERY)  # as the loop plans
    pipeline = Pipeline(
        source=source,
        clusters=this_cluster(cluster),
        events=EventRecorder(enabled=True, log=lambda *a, **k: None),
        metrics=LoopMetrics(),
        incremental=incremental,
    )
    observe = cluster.observe

    def timed_part(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args)
            finally:
                parts[name] = parts.get(name, 0.0) + time.perf_counter() - start

        return run

    def one_pass() -> None:
        parts.clear()
        loaded = timed_part("load", pipeline.load)()
        assert loaded.desired is not None
        outcome = pipeline.run_pass(loaded.desired)
        actions = sum(len(p.actions) for p in outcome.plans)
        assert actions == 0, f"the steady fleet planned {actions} actions"

    # The parts of a pass, timed inside it: observe (the cluster's) and plan (the planner's).
    cluster.observe = timed_part("observe", observe)  # type: ignore[method-assign]

    observed = cluster.observe()
    figures["nodes"], figures["pods"] = len(observed.nodes), len(observed.pods)
    figures["daemonsets"] = len(observed.daemonsets)
    del observed
    steady = []
    for _ in range(repeat + 1):  # the first pass replans everything (as every 10th does)
        seconds = timed(one_pass)
        steady.append((seconds, parts["load"], parts["observe"], parts["plan"]))
    figures["full"], figures["full_plan"] = steady[0][0], steady[0][3]
    figures["steady"], figures["load"], figures["observe"], figures["plan"] = min(steady[1:])

    def node_ready() -> bool:
        return any(n.name == "node-000000" and n.ready for n in cache.stores[NODES].values.values())

    def turn_ready() -> None:
        """node-000000 turns NotReady (a pass), then Ready again: the cache told first."""
        fleet.send("ready", False)
        wait_for(lambda: not node_ready(), "the cache to show node-000000 NotReady")
        one_pass()
        fleet.send("ready", True)
        wait_for(node_ready, "the cache to show node-000000 Ready")

    ready = []
    for _ in range(repeat):
        turn_ready()
        ready.append(timed(one_pass))
    figures["ready"] = min(ready)
    if profile:
        import cProfile
        import pstats

        def full_replan_next() -> None:
            incremental._passes_since_full = incremental.full_every  # the next pass: full

        def churn_seen() -> None:
            fleet.send("churn", churned)
            time.sleep(2.0)  # the watch's events applied to the cache meanwhile

        for title, before in (
            ("a steady pass", None),
            ("a pass after a node turned Ready", turn_ready),
            (f"a pass after {churned} pods were replaced", churn_seen),
            ("a full replan", full_replan_next),
        ):
            if before is not None:
                before()
            print(f"\n=== cProfile of {title} ===")
            profiler = cProfile.Profile()
            profiler.runcall(one_pass)
            pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(25)
            pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(40)
    gc.collect()
    figures["rss"], figures["rss_peak"] = rss_now(), rss_peak()
    if soak:
        every = max(1, soak // 10)  # the RSS is traced after each tenth
        # Warm-up: a tenth of the soak, and at least one full replan (every 10th pass, it
        # builds the planner's indexes anew while the old ones are alive: a high-water mark).
        warm_at = min(soak, max(every, DEFAULT_FULL_EVERY))
        figures["soak_trace"], figures["soak_seconds"] = [], []
        for i in range(soak):
            fleet.send("churn", churned)
            figures["soak_seconds"].append(timed(one_pass))
            if (i + 1) % every == 0:
                gc.collect()
                figures["soak_trace"].append(rss_now())
            if i + 1 == warm_at:
                figures["soak_warm"] = rss_now()
        gc.collect()
        figures["soak_end"] = rss_now()
        figures["soak_passes"] = soak
    cluster.observe = observe  # type: ignore[method-assign]
    return figures


def report(f: dict[str, Any], *, churned: int) -> None:
    print(
        f"fleet: {f['nodes']} nodes, {f['pods']} pods, {f['daemonsets']} DaemonSets "
        f"(page size {kube.PAGE_SIZE})"
    )
    print(
        f"  baselines: download + json.loads (GC off) {f['download']:.2f} s; "
        f"json.loads alone {f['parse']:.2f} s"
    )
    sync = f["sync"] / f["download"]
    print(
        f"  initial sync: {f['sync']:.2f} s = {sync:.2f} × download "
        f"({'meets' if sync <= 1.2 else 'misses'} ≤ 1.2)"
    )
    if f["syncs"]:
        ratios = sorted(seconds / f["download"] for seconds in [*f["syncs"], f["sync"]])
        print(
            f"    all {len(ratios)} initial syncs (--syncs), against the same download: "
            + ", ".join(f"{r:.2f}×" for r in ratios)
            + f"; median {ratios[len(ratios) // 2]:.2f}×"
        )
    for name, label in (("steady", "steady pass, nothing to do"), ("ready", "pass, a node Ready")):
        seconds = f[name]
        print(
            f"  {label}: {seconds:.3f} s = {seconds:.2f} × 1 s "
            f"({'meets' if seconds <= 1 else 'misses'} ≤ 1 s), {seconds / f['parse']:.2f} × "
            "json.loads"
        )
    rest = f["steady"] - f["load"] - f["observe"] - f["plan"]
    print(
        f"    of which: load {f['load']:.3f} s, observe {f['observe']:.3f} s, plan "
        f"{f['plan']:.3f} s, the rest {rest:.3f} s"
    )
    print(
        f"  the full replan (first pass, then every {DEFAULT_FULL_EVERY}th): {f['full']:.3f} s, "
        f"of which plan {f['full_plan']:.3f} s ({f['full'] / f['steady']:.2f} × the steady pass)"
    )
    gib = f["rss"] / 2**30
    print(
        f"  client RSS {gib:.2f} GiB ({'meets' if gib <= 4 else 'misses'} ≤ 4 GiB), "
        f"peak {f['rss_peak'] / 2**30:.2f} GiB"
    )
    if "soak_end" in f:
        ratio = f["soak_end"] / f["soak_warm"]
        print(
            f"  soak: {f['soak_passes']} passes, {churned} pods replaced before each: RSS after "
            f"warm-up {f['soak_warm'] / 2**30:.3f} GiB, at the end {f['soak_end'] / 2**30:.3f} "
            f"GiB, ratio end/warm {ratio:.3f}"
        )
        trace = " ".join(f"{rss / 2**30:.3f}" for rss in f["soak_trace"])
        print(f"    RSS (GiB) after each tenth of the soak: {trace}")
        seconds = sorted(f["soak_seconds"])
        print(
            f"    a soak pass (pods replaced while it runs; every {DEFAULT_FULL_EVERY}th a full "
            f"replan): median {seconds[len(seconds) // 2]:.3f} s, max {seconds[-1]:.3f} s"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--nodes",
        default="10000,30000,100000",
        help="fleet sizes, comma-separated (default: 10000,30000,100000)",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--soak", type=int, default=0, help="passes of the churn soak (0: none)")
    parser.add_argument("--churn", type=int, default=100, help="pods replaced before each")
    parser.add_argument(
        "--syncs", type=int, default=1, help="initial syncs to measure (each against the download)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile four passes (steady, ready, churn, full)"
    )
    parser.add_argument(
        "--source",
        choices=("git", "folder"),
        default="git",
        help="the desired state as a git repository (file://, as the loop reads one in "
        "production; default) or a local folder (read every pass)",
    )
    args = parser.parse_args(argv)
    for nodes in (int(n) for n in args.nodes.split(",")):
        figures = measure(
            nodes,
            repeat=args.repeat,
            soak=args.soak,
            churned=args.churn,
            profile=args.profile,
            source=args.source,
            syncs=max(1, args.syncs),
        )
        print(f"source: {args.source}")
        report(figures, churned=args.churn)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
