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
    fail,
)
from gitops_edge.cluster.open import ClusterSpecError, open_cluster
from gitops_edge.desired import DesiredState
from gitops_edge.reconcile import InvalidRevisionError, load_desired, plan_once, reconcile_once

LOCAL_REVISION = "worktree"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plan = sub.add_parser(
        "plan",
        help="show what a reconcile pass would do (changes nothing)",
        description="Validate PATH, observe the cluster and print the rollout plan per "
        "workload and node group. Changes nothing.",
    )
    plan.add_argument("path", help="desired-state folder")
    add_cluster(plan)
    add_format(plan, ("text", "json", "markdown"))
    add_verbose(plan, "show every DaemonSet and every deferred node")
    plan.set_defaults(func=run_plan)

    reconcile = sub.add_parser(
        "reconcile",
        help="apply the desired state to the cluster",
        description="Validate PATH, observe the cluster, plan and apply one pass. An invalid "
        "desired state is never applied, not even partly.",
    )
    reconcile.add_argument("path", help="desired-state folder")
    add_cluster(reconcile)
    reconcile.add_argument(
        "--once", action="store_true", required=True, help="run one pass and exit (required)"
    )
    add_format(reconcile, ("text", "json"))
    add_verbose(reconcile, "also print the plan of each round")
    reconcile.set_defaults(func=run_reconcile)


def _load(path: str) -> DesiredState | int:
    root = Path(path)
    if not root.exists():
        return fail(f"{root}: no such file or folder")
    try:
        return load_desired(root, revision=LOCAL_REVISION)
    except InvalidRevisionError as exc:
        print(diag.render_text(list(exc.diagnostics)), file=sys.stderr)
        return fail(
            f"{root}: the desired state is invalid; nothing was done "
            f"(run `gitops-edge validate {root}`)",
            EXIT_INVALID,
        )


def run_plan(args: argparse.Namespace) -> int:
    desired = _load(args.path)
    if isinstance(desired, int):
        return desired
    try:
        with open_cluster(args.cluster, read_only=True) as cluster:
            plan = plan_once(desired, cluster)
    except (ClusterSpecError, OSError, ValueError) as exc:
        return fail(str(exc))
    print(plan_format.render(plan, args.format, verbose=args.verbose))
    return EXIT_INVALID if any(ds.errors for ds in plan.daemonsets) else EXIT_OK


def _result_line(result: ActionResult) -> str:
    mark = {DONE: "ok  ", FAILED: "FAIL"}.get(result.outcome, "skip")
    detail = f" ({result.detail})" if result.detail else ""
    return f"{mark} {result.action.reason}{detail}"


def run_reconcile(args: argparse.Namespace) -> int:
    desired = _load(args.path)
    if isinstance(desired, int):
        return desired
    try:
        with open_cluster(args.cluster) as cluster:
            outcome = reconcile_once(desired, cluster)
    except (ClusterSpecError, OSError, ValueError) as exc:
        return fail(str(exc))
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
        for ds in outcome.last_plan.daemonsets:
            for error in ds.errors:
                print(f"ERROR {ds.namespace}/{ds.name}: {error}", file=sys.stderr)
    errors = any(ds.errors for ds in outcome.last_plan.daemonsets)
    return EXIT_INVALID if failed or errors else EXIT_OK
