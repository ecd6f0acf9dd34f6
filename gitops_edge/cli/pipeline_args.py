"""What the commands build from SOURCE and its options: the git SOURCE options, the source of a
pass (`pass_source`), the reconcile pipeline (`pipeline_from_args`) and, for `plan` and
`status`, the desired state of a SOURCE with its problems rendered (`load_source`).

Shared by `plan`, `reconcile` (once and loop) and `status`; imports no other command module.
Side effects: `load_source` syncs a git SOURCE and reads the folder; prints an invalid
revision's diagnostics to stderr.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from gitops_edge.cli.common import EXIT_INVALID, cache_dir, fail, seconds
from gitops_edge.cli.logs import make_logger
from gitops_edge.model.desired import DesiredState
from gitops_edge.reconciler.apply import ApplySettings
from gitops_edge.reconciler.event_recorder import EventRecorder
from gitops_edge.reconciler.incremental import IncrementalPlanner
from gitops_edge.reconciler.loop import Loaded, resume_last_good
from gitops_edge.reconciler.metrics import LoopMetrics
from gitops_edge.reconciler.pipeline import ClusterOpener, FolderSource, Log, Pipeline, Source
from gitops_edge.reconciler.publish import GitPublisher
from gitops_edge.reconciler.rate_limit import DEFAULT_BURST, DEFAULT_QPS, TokenBucket
from gitops_edge.repository import diagnostics as diag
from gitops_edge.source.clone_repair import log_repairs
from gitops_edge.source.gitproc import DEFAULT_TIMEOUT
from gitops_edge.source.gitsource import (
    GitSource,
    GitSourceError,
    SourceAddressError,
    is_git_url,
    redact,
    source_address,
)


def source_argument(text: str) -> str:
    """The argparse type of a SOURCE: a git address as git reads it, or a folder (see
    `source_address`); an address git cannot use is a usage error with its hint."""
    try:
        return source_address(text)
    except SourceAddressError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_git_source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--branch", default="main", help="branch of a git SOURCE (default main)")
    parser.add_argument(
        "--path", dest="subpath", default=".", help="folder inside a git SOURCE (default: root)"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where git SOURCEs are cloned and reused "
        "(default $XDG_CACHE_HOME/gitops-edge/git or ~/.cache/gitops-edge/git)",
    )
    parser.add_argument(
        "--git-timeout",
        type=seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="most time one git command on a git SOURCE (ls-remote, clone, fetch, push, pull) "
        f"may take before it is killed (default {DEFAULT_TIMEOUT:g})",
    )


DEFAULT_WORKERS = 8  # on Kubernetes; the simulated cluster applies one by one unless told
MAX_WORKERS = 64  # the kube adapter's connection pool holds this many and its watches


def _bounded(kind: type[int] | type[float], low: float, high: float) -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            number = kind(value)
        except ValueError:
            number = float("nan")
        if not low <= number <= high:  # False for nan
            raise argparse.ArgumentTypeError(f"{value!r}: give a number from {low:g} to {high:g}")
        return number

    return parse


def add_apply_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--apply-workers",
        type=_bounded(int, 1, MAX_WORKERS),
        default=None,
        metavar="N",
        help="send up to N actions of a pass at once where they do not depend on each other "
        f"(1-{MAX_WORKERS}; default {DEFAULT_WORKERS} on kube, 1 on a simulated cluster)",
    )
    parser.add_argument(
        "--kube-qps",
        type=_bounded(float, 0.01, 100_000),
        default=DEFAULT_QPS,
        metavar="QPS",
        help="kube: at most QPS actions a second, after a burst (client-side token bucket; "
        f"default {DEFAULT_QPS:g}, controller-runtime's)",
    )
    parser.add_argument(
        "--kube-burst",
        type=_bounded(int, 1, 100_000),
        default=DEFAULT_BURST,
        metavar="N",
        help=f"kube: the burst of the rate limit (default {DEFAULT_BURST}, controller-runtime's)",
    )


def apply_settings(args: argparse.Namespace) -> ApplySettings:
    """The apply settings --apply-workers, --kube-qps and --kube-burst ask for: the rate limit
    only on Kubernetes (the simulated cluster has no API server to spare)."""
    kube = str(getattr(args, "cluster", "")).startswith("kube")
    workers = getattr(args, "apply_workers", None)
    if workers is None:
        workers = DEFAULT_WORKERS if kube else 1
    qps = getattr(args, "kube_qps", DEFAULT_QPS)
    burst = getattr(args, "kube_burst", DEFAULT_BURST)
    limiter = TokenBucket(qps=qps, burst=int(burst)) if kube else None
    return ApplySettings(workers=int(workers), limiter=limiter)


def git_cache(args: argparse.Namespace) -> Path:
    return Path(args.cache_dir) if args.cache_dir is not None else cache_dir("git")


def git_source(
    args: argparse.Namespace, *, log: Log, cancel: threading.Event | None = None
) -> GitSource:
    """The git SOURCE the options name; `cancel` (the loop's stop) kills a running git
    command at once and starts no other."""
    return GitSource(
        args.path,
        branch=args.branch,
        subpath=args.subpath,
        cache_dir=git_cache(args),
        timeout=args.git_timeout,
        cancel=cancel,
        on_repair=log_repairs(log),
    )


def pass_source(
    args: argparse.Namespace, *, log: Log, cancel: threading.Event | None = None
) -> Source | None:
    """The source of a pass: for a git SOURCE its publisher (which also writes the status
    back, unless --no-status), else the local folder; None when that folder does not exist."""
    if is_git_url(args.path):
        source = git_source(args, log=log, cancel=cancel)
        return GitPublisher(source=source, log=log, enabled=not getattr(args, "no_status", True))
    root = Path(args.path)
    return FolderSource(root) if root.exists() else None


def pipeline_from_args(
    args: argparse.Namespace,
    *,
    log: Log,
    clusters: ClusterOpener,
    source_log: Log | None = None,
    cancel: threading.Event | None = None,
    metrics: LoopMetrics | None = None,
) -> Pipeline | None:
    """The reconcile pipeline the options of `reconcile` ask for (events through `log`, the
    git source's lines through `source_log`, default `log`); None when the SOURCE folder does
    not exist. The leader guard is added once this process leads (`dataclasses.replace`). The
    loop (not --once) plans incrementally, everything every --full-replan-every passes."""
    source = pass_source(args, log=source_log or log, cancel=cancel)
    if source is None:
        return None
    return Pipeline(
        source=source,
        clusters=clusters,
        events=EventRecorder(enabled=not args.no_events, log=log),
        publisher=source if isinstance(source, GitPublisher) else None,
        metrics=metrics,
        apply=apply_settings(args),
        incremental=None
        if getattr(args, "once", True)
        else IncrementalPlanner(full_every=args.full_replan_every),
    )


def load_once(args: argparse.Namespace, load: Callable[[], Loaded]) -> DesiredState | int:
    """Fetch, validate and render the SOURCE once (`load`, e.g. `Pipeline.load`): the desired
    state, or an exit code (the problems printed)."""
    try:
        loaded = load()
    except GitSourceError as exc:
        return fail(str(exc))
    if loaded.desired is not None:
        return loaded.desired
    return fail(f"{_invalid(args, loaded)}; {NOTHING_DONE}", EXIT_INVALID)


def load_or_resume(
    args: argparse.Namespace, pipeline: Pipeline, *, log: Log
) -> tuple[DesiredState, bool] | int:
    """`load_once`, except that when a git SOURCE's newest revision is invalid, the last good
    revision recorded in its committed status is reconciled instead, as the loop does (the
    problems printed, and a warning naming both revisions): (desired state, whether it is
    that last good one), or an exit code when there is none."""
    try:
        loaded = pipeline.load()
    except GitSourceError as exc:
        return fail(str(exc))
    if loaded.desired is not None:
        return loaded.desired, False
    where = _invalid(args, loaded)
    if pipeline.publisher is None:
        return fail(f"{where}; {NOTHING_DONE}", EXIT_INVALID)
    last_good = resume_last_good(pipeline.resume, invalid=loaded.revision, log=log)
    if last_good is None:
        return fail(f"{where}; {NOTHING_DONE}", EXIT_INVALID)
    fail(
        f"{where}: reconciling the last good revision {last_good.revision[:12]} instead "
        "(fix or revert the newest commit; run `gitops-edge validate` on it)",
        EXIT_INVALID,
    )
    return last_good, True


def load_source(args: argparse.Namespace) -> tuple[DesiredState, GitPublisher | None] | int:
    """The desired state (and, for a git source, its publisher), or an exit code."""
    source = pass_source(args, log=make_logger("text"))
    if source is None:
        return fail(f"{args.path}: no such file or folder")
    desired = load_once(args, lambda: source.validate_and_render(source.fetch()))
    if isinstance(desired, int):
        return desired
    return desired, source if isinstance(source, GitPublisher) else None


NOTHING_DONE = "nothing was done (run `gitops-edge validate` on it)"


def _invalid(args: argparse.Namespace, loaded: Loaded) -> str:
    """Print the problems of an invalid SOURCE; "<SOURCE>: the desired state [at REV] is
    invalid", for the error that follows."""
    print(diag.render_text(list(loaded.diagnostics)), file=sys.stderr)
    if is_git_url(args.path):
        return f"{redact(args.path)}: the desired state at {loaded.revision[:12]} is invalid"
    return f"{args.path}: the desired state is invalid"
