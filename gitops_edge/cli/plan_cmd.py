"""`gitops-edge plan` (preview, changes nothing) and `gitops-edge reconcile --once` (one pass).

Side effects: `plan` reads the repository and the cluster; `reconcile` also writes to the
cluster. Prints the plan / what was done to stdout, problems to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gitops_edge import diagnostics as diag
from gitops_edge import plan_format
from gitops_edge.apply import DONE, FAILED, ActionResult
from gitops_edge.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    add_cluster,
    add_format,
    add_verbose,
    cache_dir,
    fail,
    seconds,
)
from gitops_edge.cli.leader_opts import add_leader_election, start_elector
from gitops_edge.cli.logs import add_log_options, make_logger
from gitops_edge.clone_repair import log_repairs
from gitops_edge.cluster.base import ClusterError
from gitops_edge.cluster.open import ClusterSpecError, open_cluster
from gitops_edge.desired import DesiredState
from gitops_edge.diagnostics import Diagnostic
from gitops_edge.event_recorder import EventRecorder
from gitops_edge.gitproc import DEFAULT_TIMEOUT
from gitops_edge.gitsource import GitSource, GitSourceError, is_git_url, redact
from gitops_edge.leader_election import NotLeaderError
from gitops_edge.leader_elector import LeaderElector
from gitops_edge.publish import GitPublisher
from gitops_edge.reconcile import InvalidRevisionError, load_desired, plan_once, reconcile_once

LOCAL_REVISION = "worktree"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plan = sub.add_parser(
        "plan",
        help="show what a reconcile pass would do (changes nothing)",
        description="Validate PATH, observe the cluster and print the rollout plan per "
        "workload and node group. Changes nothing.",
    )
    plan.add_argument("path", metavar="SOURCE", help="desired-state folder or git URL")
    add_git_source(plan)
    add_cluster(plan)
    add_format(plan, ("text", "json", "markdown"))
    add_verbose(plan, "show every DaemonSet and every deferred node")
    plan.set_defaults(func=run_plan)

    reconcile = sub.add_parser(
        "reconcile",
        help="apply the desired state to the cluster",
        description="Validate SOURCE, observe the cluster, plan and apply: one pass with "
        "--once, else a pass every --interval seconds until SIGTERM/SIGINT. An invalid desired "
        "state is never applied, not even partly.",
    )
    reconcile.add_argument("path", metavar="SOURCE", help="desired-state folder or git URL")
    add_git_source(reconcile)
    add_cluster(reconcile)
    mode = reconcile.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="run one pass and exit")
    mode.add_argument(
        "--interval",
        type=seconds,
        default=60.0,
        metavar="SECONDS",
        help="loop: a pass every SECONDS (default 60); a node turning Ready or a changed local "
        "folder triggers one sooner",
    )
    add_log_options(reconcile, what="loop")
    reconcile.add_argument(
        "--metrics-addr",
        metavar="[HOST]:PORT",
        default=None,
        help="loop: serve Prometheus metrics on this address (off by default; :PORT is every "
        "interface)",
    )
    reconcile.add_argument(
        "--health-addr",
        metavar="HOST:PORT",
        default=None,
        help="loop: serve /healthz and /readyz on this address (off by default; :PORT is every "
        "interface, as kubelet probes need); /healthz fails once a pass is 3 x --interval + "
        "--git-timeout late or running; /readyz once a pass has completed",
    )
    reconcile.add_argument(
        "--no-status",
        action="store_true",
        help="do not commit status files back to a git SOURCE after each pass",
    )
    reconcile.add_argument(
        "--no-events",
        action="store_true",
        help="record no Kubernetes Events (Applied, Pruned, RolloutHalted, RolledBack, "
        "…Failed) on the objects a pass changes",
    )
    reconcile.add_argument(
        "--no-watch-cache",
        action="store_true",
        help="loop on kube: list nodes, DaemonSets and pods on every pass instead of keeping "
        "them current with watches between passes",
    )
    add_leader_election(reconcile)
    add_format(reconcile, ("text", "json"))
    add_verbose(reconcile, "also print the plan of each round")
    reconcile.set_defaults(func=run_reconcile)


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


def git_cache(args: argparse.Namespace) -> Path:
    return Path(args.cache_dir) if args.cache_dir is not None else cache_dir("git")


def load_source(args: argparse.Namespace) -> tuple[DesiredState, GitPublisher | None] | int:
    """The desired state (and, for a git source, its publisher), or an exit code."""
    source: str = args.path
    if is_git_url(source):
        log = make_logger("text")
        publisher = GitPublisher(
            source=GitSource(
                source,
                branch=args.branch,
                subpath=args.subpath,
                cache_dir=git_cache(args),
                timeout=args.git_timeout,
                on_repair=log_repairs(log),
            ),
            log=log,
            enabled=not getattr(args, "no_status", True),
        )
        try:
            loaded = publisher.load()
        except GitSourceError as exc:
            return fail(str(exc))
        if loaded.desired is None:
            return _invalid(redact(source), loaded.diagnostics, f" at {loaded.revision[:12]}")
        return loaded.desired, publisher
    root = Path(source)
    if not root.exists():
        return fail(f"{root}: no such file or folder")
    try:
        return load_desired(root, revision=LOCAL_REVISION), None
    except InvalidRevisionError as exc:
        return _invalid(source, exc.diagnostics, "")


def _invalid(shown: str, diagnostics: tuple[Diagnostic, ...], at: str) -> int:
    print(diag.render_text(list(diagnostics)), file=sys.stderr)
    return fail(
        f"{shown}: the desired state{at} is invalid; nothing was done "
        "(run `gitops-edge validate` on it)",
        EXIT_INVALID,
    )


def run_plan(args: argparse.Namespace) -> int:
    loaded = load_source(args)
    if isinstance(loaded, int):
        return loaded
    desired, _ = loaded
    try:
        with open_cluster(args.cluster, read_only=True) as cluster:
            plan = plan_once(desired, cluster)
    except (ClusterSpecError, ClusterError, OSError, ValueError) as exc:
        return fail(str(exc))
    print(plan_format.render(plan, args.format, verbose=args.verbose))
    return EXIT_INVALID if plan.errors else EXIT_OK


def _result_line(result: ActionResult) -> str:
    mark = {DONE: "ok  ", FAILED: "FAIL"}.get(result.outcome, "skip")
    detail = f" ({result.detail})" if result.detail else ""
    return f"{mark} {result.action.reason}{detail}"


def _lead(args: argparse.Namespace) -> LeaderElector | int:
    """`--once --leader-elect`: the elector once this process leads; else an exit code: 0
    when another reconciler keeps the lease for two lease durations (it does the work), 2 for
    a usage error."""
    elector = start_elector(args)
    if isinstance(elector, str):
        return fail(elector)
    timings = elector.timings
    if elector.wait_leading(2 * timings.lease_duration):  # a dead holder's runs out in one
        return elector
    elector.stop(release=False)
    holder = elector.holder or "nobody (it could not be acquired: " + elector.last_error + ")"
    print(
        f"standing by: the lease {elector.store.describe} is held by {holder}; nothing was done",
        file=sys.stderr,
    )
    return EXIT_OK


def run_reconcile(args: argparse.Namespace) -> int:
    if not args.once:
        from gitops_edge.cli.loop_cmd import run_reconcile_loop

        return run_reconcile_loop(args)
    loaded = load_source(args)
    if isinstance(loaded, int):
        return loaded
    desired, publisher = loaded
    elector = _lead(args) if args.leader_elect else None
    if isinstance(elector, int):
        return elector
    try:
        guard = elector.check if elector is not None else None
        with open_cluster(args.cluster) as cluster:
            outcome = reconcile_once(desired, cluster, guard=guard)
            EventRecorder(enabled=not args.no_events, log=make_logger(args.log_format)).record(
                outcome, cluster=cluster, revision=desired.revision
            )
            after = plan_once(desired, cluster) if publisher and publisher.enabled else None
        if publisher is not None and after is not None:
            if guard is not None:
                guard()
            publisher.publish(desired, after, drift=outcome.drift)
    except NotLeaderError as exc:
        return fail(str(exc), EXIT_INVALID)
    except (ClusterSpecError, ClusterError, OSError, ValueError, GitSourceError) as exc:
        return fail(str(exc))  # the cluster could not be observed: nothing was planned
    finally:
        if elector is not None:
            elector.stop(release=True)
    failed = [r for r in outcome.results if r.outcome == FAILED]
    if args.format == "json":
        print(
            json.dumps(
                {
                    "plans": [plan_format.plan_to_dict(p) for p in outcome.plans],
                    "results": [
                        {"reason": r.action.reason, "outcome": r.outcome, "detail": r.detail}
                        for r in outcome.results
                    ],
                },
                indent=2,
            )
        )
    else:
        if args.verbose:
            for number, round_plan in enumerate(outcome.plans, 1):
                print(f"round {number} plan:")
                print(plan_format.render_text(round_plan, verbose=True))
                print()
        for result in outcome.results:
            print(_result_line(result))
        done = sum(r.outcome == DONE for r in outcome.results)
        skipped = len(outcome.results) - done - len(failed)
        print(
            f"pass over revision {desired.revision}: {done} done, {skipped} skipped, "
            f"{len(failed)} failed" + ("" if outcome.results else " (nothing to do)")
        )
        for orphan in outcome.last_plan.orphans:
            print(f"orphan: {orphan.reason}")
        for what, error in outcome.last_plan.errors:
            print(f"ERROR {what}: {error}", file=sys.stderr)
    return EXIT_INVALID if failed or outcome.last_plan.errors else EXIT_OK
