"""`gitops-edge reconcile SOURCE --interval SECONDS`: the reconcile loop as a command.

Wires the loop to its source (git or folder), the cluster, signals (SIGTERM/SIGINT stop it
after the current pass; a git command then running is killed, so a hung remote cannot hold
it), log lines, and the triggers that start a pass early: a node turning
Ready (the simulated cluster's state file is polled; Kubernetes is watched) and, for a local
folder, a change to its files (watchdog, debounced). On Kubernetes one connection serves every
pass, with a watch-fed cache of the fleet unless --no-watch-cache.
Side effects: runs until stopped; reads/writes the cluster; logs to stderr.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from gitops_edge.cli.common import EXIT_OK, fail
from gitops_edge.cli.logs import logger
from gitops_edge.cli.plan_cmd import LOCAL_REVISION, git_cache
from gitops_edge.cluster.base import Cluster, ClusterError
from gitops_edge.cluster.open import ClusterSpecError, open_cluster
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.desired import DesiredState
from gitops_edge.gitsource import GitSource, GitSourceError, is_git_url
from gitops_edge.loop import LoopSettings, Resumed, load_step, run_loop
from gitops_edge.metrics import LoopMetrics
from gitops_edge.observed import Node
from gitops_edge.planner import plan
from gitops_edge.publish import GitPublisher
from gitops_edge.reconcile import PassResult, load_desired, reconcile_once

if TYPE_CHECKING:
    from gitops_edge.cluster.kube import KubeCluster  # at run time only where kube is used

DEBOUNCE = 0.5
WATCH_START_TIMEOUT = 10.0  # seconds the loop waits for its folder watch before the first pass
CHANGES = frozenset({"created", "modified", "deleted", "moved", "closed"})


def run_reconcile_loop(args: argparse.Namespace) -> int:
    if args.interval <= 0:
        return fail("--interval must be more than 0 seconds")
    log = logger(args)
    try:
        with open_cluster(args.cluster, read_only=True):
            pass  # a wrong --cluster is a usage error now, not a retry forever
    except (ClusterSpecError, OSError, ValueError) as exc:
        return fail(str(exc))
    stop, wake = threading.Event(), threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log("info", "stopping after the current pass", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    publisher = git_publisher(args, log, stop=stop) if is_git_url(args.path) else None
    load = _loader(args, publisher)
    if load is None:
        return fail(f"{args.path}: no such file or folder")

    metrics = _start_metrics(args.metrics_addr, log) if args.metrics_addr else None
    if args.metrics_addr and metrics is None:
        return fail(f"--metrics-addr {args.metrics_addr}: cannot listen there (HOST:PORT)")

    clusters = PassClusters(args.cluster, cache=not args.no_watch_cache, wake=wake)

    def reconcile(desired: DesiredState) -> PassResult:
        started = time.monotonic()
        with clusters.open() as cluster:
            outcome = reconcile_once(desired, cluster)
            observed = cluster.observe() if publisher or metrics else None
        after = plan(desired, observed) if observed is not None else None
        if metrics is not None and observed is not None and after is not None:
            metrics.record_pass(
                desired=desired,
                observed=observed,
                plan=after,
                seconds=time.monotonic() - started,
                drifted=outcome.drifted,
            )
        if publisher is not None and after is not None:
            publisher.publish(desired, after, drift=outcome.drift)
        return outcome

    watchers = _start_triggers(args, stop=stop, wake=wake, log=log)
    log("info", "reconcile loop started", source=args.path, interval=args.interval)
    try:
        run_loop(
            load=load,
            reconcile=reconcile,
            settings=LoopSettings(interval=args.interval),
            stop=stop,
            wake=wake,
            log=log,
            transient=(ClusterError, GitSourceError, OSError, TimeoutError, ValueError),
            on_error=(lambda exc: metrics.record_error(type(exc).__name__)) if metrics else None,
            on_failures=metrics.record_failures if metrics else None,
            resume=publisher.resume if publisher is not None else _no_history,
        )
    finally:
        stop.set()
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

    def __init__(self, spec: str, *, cache: bool, wake: threading.Event) -> None:
        self.spec = spec
        self.cache = cache and spec.partition(":")[0] == "kube"
        self.wake = wake
        self.kube: KubeCluster | None = None  # once connected

    @contextmanager
    def open(self) -> Iterator[Cluster]:
        if not self.cache:
            with open_cluster(self.spec) as cluster:
                yield cluster
            return
        from gitops_edge.cluster.kube import KubeCluster  # imports kubernetes

        kube = self.kube or KubeCluster.connect(self.spec.partition(":")[2] or None)
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


def git_publisher(args: argparse.Namespace, log: Any, *, stop: threading.Event) -> GitPublisher:
    """The git source of the loop: SIGTERM/SIGINT (`stop`) kill a running git command at once
    (a hung remote must not hold the loop until --git-timeout) and start no other."""
    source = GitSource(
        args.path,
        branch=args.branch,
        subpath=args.subpath,
        cache_dir=git_cache(args),
        timeout=args.git_timeout,
        cancel=stop,
    )
    return GitPublisher(source=source, log=log, enabled=not args.no_status)


def _loader(args: argparse.Namespace, publisher: GitPublisher | None) -> Any:
    if publisher is not None:
        return publisher.load
    root = Path(args.path)
    if not root.exists():
        return None
    return lambda: load_step(
        lambda: load_desired(root, revision=LOCAL_REVISION), lambda: LOCAL_REVISION
    )


def _no_history() -> Resumed:
    return Resumed(None, "a local folder has no history to resume from (a git source has)")


def _start_metrics(address: str, log: Any) -> LoopMetrics | None:
    from gitops_edge.cli.agent_cmd import parse_listen

    try:
        host, port = parse_listen(address)
        metrics = LoopMetrics()
        server = metrics.serve(host, port)
    except (ValueError, OSError):
        return None
    log("info", "metrics served", address=f"http://{host}:{server.server_port}/metrics")
    return metrics


def _start_triggers(
    args: argparse.Namespace, *, stop: threading.Event, wake: threading.Event, log: Any
) -> list[threading.Thread]:
    threads = []
    kind, _, rest = args.cluster.partition(":")
    if kind == "sim":
        threads.append(_thread(_poll_sim_nodes, Path(rest), stop, wake))
    elif kind == "kube" and args.no_watch_cache:  # else the cache's node watch wakes the loop
        threads.append(_thread(_watch_kube_nodes, rest or None, stop, wake, log))
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
    context: str | None, stop: threading.Event, wake: threading.Event, log: Any
) -> None:
    """Without the cache, a watch of the nodes alone wakes the loop."""
    from gitops_edge.cluster.kube import KubeCluster

    def changed(before: Node | None, after: Node | None) -> None:
        if turned_ready(before, after):
            wake.set()

    try:
        with KubeCluster.connect(context) as cluster:
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
