"""`gitops-edge reconcile SOURCE --interval SECONDS`: the reconcile loop as a command.

Builds the reconcile pipeline (`pipeline`, through `cli.pipeline_args`) whose `load` and
`run_pass` the loop (`loop.run_loop`) runs every pass, and wires the loop to the cluster,
signals (SIGTERM/SIGINT stop it after the current pass; a git command then running is killed,
so a hung remote cannot hold it), log lines, and the triggers that start a pass early: a node
turning Ready (the simulated cluster's state file is polled; Kubernetes is watched) and, for a local
folder, a change to its files (watchdog, debounced). On Kubernetes one connection serves every
pass, with a watch-fed cache of the fleet unless --no-watch-cache. With --health-addr it serves
/healthz and /readyz (`health_server`; /metrics too when --metrics-addr is the same address).
With --leader-elect, passes run only while this process holds the Lease, and each action
of a pass is applied only if it still does (`cli.leader_opts`).
Side effects: runs until stopped; reads/writes the cluster; logs to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIServer

from gitops_edge.cli.common import EXIT_OK, fail
from gitops_edge.cli.leader_opts import lease_namespace, log_changes, start_elector
from gitops_edge.cli.logs import logger
from gitops_edge.cli.pipeline_args import pipeline_from_args
from gitops_edge.cluster.base import Cluster, ClusterError
from gitops_edge.cluster.open import ClusterSpecError, open_cluster
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model.observed import Node
from gitops_edge.reconciler.addresses import parse_address
from gitops_edge.reconciler.health import Heartbeat, default_grace
from gitops_edge.reconciler.health_server import EXAMPLE as HEALTH_EXAMPLE
from gitops_edge.reconciler.health_server import Probes, make_app, serve
from gitops_edge.reconciler.loop import LoopSettings, run_loop
from gitops_edge.reconciler.metrics import LoopMetrics
from gitops_edge.source.gitsource import GitSourceError, is_git_url

if TYPE_CHECKING:
    from gitops_edge.cluster.kube_cluster import KubeCluster  # at run time only where kube is used

DEBOUNCE = 0.5
WATCH_START_TIMEOUT = 10.0  # seconds the loop waits for its folder watch before the first pass
CHANGES = frozenset({"created", "modified", "deleted", "moved", "closed"})
# What a pass may fail with and the loop retry (also the `kind`s of failed passes in metrics).
TRANSIENT = (ClusterError, GitSourceError, OSError, TimeoutError, ValueError)


def run_reconcile_loop(args: argparse.Namespace) -> int:
    log = logger(args)
    try:
        with open_cluster(args.cluster, kubeconfig=args.kubeconfig, read_only=True):
            pass  # a wrong --cluster is a usage error now, not a retry forever
    except (ClusterSpecError, OSError, ValueError) as exc:
        return fail(str(exc))
    stop, wake = threading.Event(), threading.Event()

    on_signal = stop_on_signal(stop, log)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    clusters = PassClusters(
        args.cluster, kubeconfig=args.kubeconfig, cache=not args.no_watch_cache, wake=wake
    )
    pipeline = pipeline_from_args(args, log=log, clusters=clusters.open, cancel=stop)
    if pipeline is None:
        return fail(f"{args.path}: no such file or folder")

    heartbeat = Heartbeat()
    shared = args.health_addr is not None and args.health_addr == args.metrics_addr
    metrics = start_metrics(args.metrics_addr, log) if args.metrics_addr and not shared else None
    if args.metrics_addr and not shared and metrics is None:
        return fail(
            f"--metrics-addr {args.metrics_addr}: cannot listen there (write [HOST]:PORT, "
            "e.g. :8080 for every interface or 127.0.0.1:8080)"
        )
    if args.health_addr:
        # /metrics on the probes' socket when both options name one address
        served = LoopMetrics(pass_errors=TRANSIENT) if shared else None
        probes = start_probes(args, heartbeat=heartbeat, metrics=served, log=log)
        if isinstance(probes, str):
            return fail(f"--health-addr {probes}")
        metrics = served or metrics

    elector = None
    if args.leader_elect:
        lease = f"{lease_namespace(args)}/{args.leader_elect_lease}"
        started = start_elector(args, on_change=log_changes(log, lease=lease, wake=wake))
        if isinstance(started, str):
            return fail(started)
        elector = started
    guard = elector.check if elector is not None else None
    pipeline = dataclasses.replace(pipeline, metrics=metrics, guard=guard)

    watchers = _start_triggers(args, stop=stop, wake=wake, log=log)
    log("info", "reconcile loop started", source=args.path, interval=args.interval)
    try:
        run_loop(
            load=pipeline.load,
            reconcile=pipeline.run_pass,
            settings=LoopSettings(interval=args.interval),
            stop=stop,
            wake=wake,
            log=log,
            transient=TRANSIENT,
            on_error=metrics.record_failed_pass if metrics else None,
            on_failures=metrics.record_failures if metrics else None,
            resume=pipeline.resume,
            on_loaded=metrics.record_loaded if metrics else None,
            on_success=metrics.record_success if metrics else None,
            heartbeat=heartbeat,
            leading=elector.leading if elector is not None else None,
        )
    finally:
        stop.set()
        if elector is not None:
            elector.stop(release=True)  # the pass is over: a standby may take over at once
        clusters.close()
        for watcher in watchers:
            watcher.join(5)
    log("info", "reconcile loop stopped")
    return EXIT_OK


class PassClusters:
    """The cluster each pass works on. A simulated cluster is opened anew for every pass (its
    state file may change between passes). Kubernetes is connected once: with `cache`, its
    watch-fed cache (`kube_cache`) is started by the first pass that reaches the API server and
    kept for the next ones, and a node turning Ready sets `wake`."""

    def __init__(
        self, spec: str, *, kubeconfig: str | None = None, cache: bool, wake: threading.Event
    ) -> None:
        self.spec = spec
        self.kubeconfig = kubeconfig
        self.cache = cache and spec.partition(":")[0] == "kube"
        self.wake = wake
        self.kube: KubeCluster | None = None  # once connected

    @contextmanager
    def open(self) -> Iterator[Cluster]:
        if not self.cache:
            with open_cluster(self.spec, kubeconfig=self.kubeconfig) as cluster:
                yield cluster
            return
        from gitops_edge.cluster.kube_cluster import KubeCluster  # imports kubernetes

        kube = self.kube or KubeCluster.connect(
            self.spec.partition(":")[2] or None, kubeconfig=self.kubeconfig
        )
        self.kube = kube
        if kube.cache is None:
            kube.start_cache(on_node_change=self._node_changed)
        yield kube

    def _node_changed(self, before: Node | None, after: Node | None) -> None:
        if turned_ready(before, after):
            self.wake.set()

    def close(self) -> None:
        if self.kube is not None:
            self.kube.__exit__(None, None, None)


def stop_on_signal(stop: threading.Event, log: Any) -> Callable[[int, FrameType | None], None]:
    """The SIGTERM/SIGINT handler: set `stop`, and say so. Not in the handler itself: it runs
    between two bytecodes of the main thread, which may be in the middle of writing a log line
    and hold the log's (non-reentrant) lock, so logging there would wait for itself forever and
    the loop would never stop; a thread logs it once the lock is free."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        name = signal.Signals(signum).name
        say = threading.Thread(
            target=log, args=("info", "stopping after the current pass"), kwargs={"signal": name}
        )
        say.daemon = True
        say.start()

    return on_signal


def start_metrics(address: str, log: Any) -> LoopMetrics | None:
    """Serve the loop's metrics on `address` ([HOST]:PORT; `:PORT`: every interface), or None
    when it cannot be listened on."""
    try:
        host, port = parse_address(address, example=":8080")
        metrics = LoopMetrics(pass_errors=TRANSIENT)
        server = metrics.serve(host, port)
    except (ValueError, OSError):
        return None
    log("info", "metrics served", address=f"http://{host}:{server.server_port}/metrics")
    return metrics


def start_probes(
    args: argparse.Namespace, *, heartbeat: Heartbeat, metrics: LoopMetrics | None, log: Any
) -> WSGIServer | str:
    """Serve /healthz and /readyz on --health-addr (and /metrics when --metrics-addr is the
    same address): the server, or what went wrong."""
    try:
        host, port = parse_address(args.health_addr, example=HEALTH_EXAMPLE)
    except ValueError as exc:
        return str(exc)
    grace = default_grace(interval=args.interval, git_timeout=args.git_timeout)
    registry = metrics.registry if metrics is not None else None
    app = make_app(Probes(heartbeat=heartbeat, grace=grace), metrics=registry)
    try:
        server = serve(host, port, app)
    except OSError as exc:
        return f"{args.health_addr}: cannot listen there: {exc.strerror or exc}"
    address = f"http://{f'[{host}]' if ':' in host else host}:{server.server_port}"
    log("info", "health probes served", address=address, paths="/healthz /readyz", grace=grace)
    if metrics is not None:
        log("info", "metrics served", address=f"{address}/metrics")
    return server


def _start_triggers(
    args: argparse.Namespace, *, stop: threading.Event, wake: threading.Event, log: Any
) -> list[threading.Thread]:
    threads = []
    kind, _, rest = args.cluster.partition(":")
    if kind == "sim":
        threads.append(_thread(_poll_sim_nodes, Path(rest), stop, wake))
    elif kind == "kube" and args.no_watch_cache:  # else the cache's node watch wakes the loop
        threads.append(_thread(_watch_kube_nodes, rest or None, args.kubeconfig, stop, wake, log))
    if not is_git_url(args.path):
        watching = threading.Event()
        threads.append(_thread(_watch_folder, Path(args.path), stop, wake, watching))
        # The first pass reads the folder only once the watch is on: a change made between
        # that read and the watch's start would otherwise wait for the interval.
        watching.wait(WATCH_START_TIMEOUT)
    return threads


def _thread(target: Any, *args: Any) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def _ready_nodes(path: Path) -> set[str] | None:
    try:
        with SimCluster.open(path, read_only=True) as cluster:
            return {n for n in cluster.node_names if cluster.node_is_ready(n)}
    except (OSError, ValueError):
        return None


def _poll_sim_nodes(path: Path, stop: threading.Event, wake: threading.Event) -> None:
    """The simulated cluster signals through its state file: a node that turned Ready wakes
    the loop."""
    last_mtime = 0.0
    ready = _ready_nodes(path) or set()
    while not stop.wait(0.5):
        try:
            mtime = path.stat().st_mtime
        except OSError:
            continue
        if mtime == last_mtime:
            continue
        last_mtime = mtime
        now = _ready_nodes(path)
        if now is not None:
            if now - ready:
                wake.set()
            ready = now


def turned_ready(before: Node | None, after: Node | None) -> bool:
    """A node came (back) Ready: a pass can catch up with it."""
    return after is not None and after.ready and (before is None or not before.ready)


def _watch_kube_nodes(
    context: str | None,
    kubeconfig: str | None,
    stop: threading.Event,
    wake: threading.Event,
    log: Any,
) -> None:
    """Without the cache, a watch of the nodes alone wakes the loop."""
    from gitops_edge.cluster.kube_cluster import KubeCluster

    def changed(before: Node | None, after: Node | None) -> None:
        if turned_ready(before, after):
            wake.set()

    try:
        with KubeCluster.connect(context, kubeconfig=kubeconfig) as cluster:
            watch = cluster.watch_nodes(changed)
            stop.wait()
            watch.stop()
    except Exception as exc:  # the loop keeps polling on its interval without the watch
        log("warning", "node watch ended; catch-up waits for the interval", error=str(exc))


def _watch_folder(
    root: Path, stop: threading.Event, wake: threading.Event, watching: threading.Event
) -> None:
    """A changed local folder wakes the loop, debounced (an editor saves in bursts);
    `watching` is set once changes are seen."""
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    timer: list[threading.Timer] = []

    class Changed(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            if event.event_type not in CHANGES:
                return  # opened / closed-without-writing: our own reads, not changes
            if timer:
                timer[0].cancel()
            timer[:] = [threading.Timer(DEBOUNCE, wake.set)]
            timer[0].start()

    observer = Observer()
    observer.schedule(Changed(), str(root), recursive=True)
    observer.start()
    watching.set()
    try:
        stop.wait()
    finally:
        observer.stop()
        observer.join(5)
