"""`gitops-edge reconcile SOURCE`: apply the desired state to the cluster, one pass with
`--once` (also what the CronJob runs), else the loop (`cli.loop_cmd`).

Parses the options, builds the reconcile pipeline (`cli.pipeline_args`, `pipeline`), runs one
pass of it (once this process leads, with --leader-elect) and renders what was done.
Side effects: reads the source and the cluster, writes to the cluster (and the status back to
a git SOURCE); prints what was done to stdout, problems to stderr; while a `--once` pass runs
on a terminal, a live progress line on stderr (`cli.progress_line`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from gitops_edge.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    add_cluster,
    add_format,
    add_verbose,
    fail,
    passes,
    seconds,
)
from gitops_edge.cli.leader_opts import add_leader_election, start_elector
from gitops_edge.cli.logs import add_log_options, logger
from gitops_edge.cli.loop_cmd import run_reconcile_loop
from gitops_edge.cli.pipeline_args import (
    add_apply_options,
    add_git_source,
    load_or_resume,
    pipeline_from_args,
    source_argument,
)
from gitops_edge.cli.progress_line import pass_progress
from gitops_edge.cluster.base import ClusterError
from gitops_edge.cluster.open import ClusterSpecError, open_cluster
from gitops_edge.reconciler.apply import DONE, FAILED, ActionResult
from gitops_edge.reconciler.incremental import DEFAULT_FULL_EVERY
from gitops_edge.reconciler.leader_election import NotLeaderError
from gitops_edge.reconciler.leader_elector import LeaderElector
from gitops_edge.reconciler.reconcile import PassResult
from gitops_edge.reports import plan_format
from gitops_edge.source.gitsource import GitSourceError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    reconcile = sub.add_parser(
        "reconcile",
        help="apply the desired state to the cluster",
        description="Validate SOURCE, observe the cluster, plan and apply: one pass with "
        "--once, else a pass every --interval seconds until SIGTERM/SIGINT. An invalid desired "
        "state is never applied, not even partly.",
    )
    reconcile.add_argument(
        "path", metavar="SOURCE", type=source_argument, help="desired-state folder or git URL"
    )
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
    add_log_options(reconcile, what="reconcile's")
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
    add_apply_options(reconcile)
    reconcile.add_argument(
        "--full-replan-every",
        type=passes,
        default=DEFAULT_FULL_EVERY,
        metavar="PASSES",
        help="loop: a pass replans only the DaemonSets whose inputs changed since the previous "
        f"one; every PASSES passes it replans everything anyway (default {DEFAULT_FULL_EVERY}; "
        "1: every pass)",
    )
    add_leader_election(reconcile)
    add_format(reconcile, ("text", "json"))
    add_verbose(reconcile, "also print the plan of each round")
    reconcile.set_defaults(func=run_reconcile)


def run_reconcile(args: argparse.Namespace) -> int:
    if not args.once:
        return run_reconcile_loop(args)
    pipeline = pipeline_from_args(
        args,
        log=logger(args),
        source_log=logger(args),
        clusters=lambda: open_cluster(args.cluster, kubeconfig=args.kubeconfig),
    )
    if pipeline is None:
        return fail(f"{args.path}: no such file or folder")
    loaded = load_or_resume(args, pipeline, log=logger(args))
    if isinstance(loaded, int):
        return loaded
    desired, head_invalid = loaded
    elector = _lead(args) if args.leader_elect else None
    if isinstance(elector, int):
        return elector
    if elector is not None:
        pipeline = dataclasses.replace(pipeline, guard=elector.check)
    try:
        with pass_progress(sys.stderr) as progress:  # a live line on a terminal only
            outcome = dataclasses.replace(pipeline, progress=progress).run_pass(desired)
    except NotLeaderError as exc:
        return fail(str(exc), EXIT_INVALID)
    except (ClusterSpecError, ClusterError, OSError, ValueError, GitSourceError) as exc:
        return fail(str(exc))  # the cluster could not be observed: nothing was planned
    finally:
        if elector is not None:
            elector.stop(release=True)
    code = _render(args, outcome, revision=desired.revision)
    return max(code, EXIT_INVALID) if head_invalid else code


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


def _render(args: argparse.Namespace, outcome: PassResult, *, revision: str) -> int:
    """Print what the pass did (text or JSON); the exit code."""
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
            f"pass over revision {revision}: {done} done, {skipped} skipped, "
            f"{len(failed)} failed" + ("" if outcome.results else " (nothing to do)")
        )
        for orphan in outcome.last_plan.orphans:
            print(f"orphan: {orphan.reason}")
        for what, error in outcome.last_plan.errors:
            print(f"ERROR {what}: {error}", file=sys.stderr)
    return EXIT_INVALID if failed or outcome.last_plan.errors else EXIT_OK


def _result_line(result: ActionResult) -> str:
    mark = {DONE: "ok  ", FAILED: "FAIL"}.get(result.outcome, "skip")
    detail = f" ({result.detail})" if result.detail else ""
    return f"{mark} {result.action.reason}{detail}"
