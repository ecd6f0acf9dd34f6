"""`gitops-edge plan`: preview what a reconcile pass would do; changes nothing.

Side effects: reads the repository (syncs a git SOURCE) and the cluster. Prints the plan to
stdout, problems to stderr.
"""

from __future__ import annotations

import argparse

from gitops_edge.cli.common import EXIT_INVALID, EXIT_OK, add_cluster, add_format, add_verbose, fail
from gitops_edge.cli.pipeline_args import add_git_source, load_source, source_argument
from gitops_edge.cluster.base import ClusterError
from gitops_edge.cluster.open import ClusterSpecError, open_cluster
from gitops_edge.reconciler.reconcile import plan_once
from gitops_edge.reports import plan_format


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plan = sub.add_parser(
        "plan",
        help="show what a reconcile pass would do (changes nothing)",
        description="Validate PATH, observe the cluster and print the rollout plan per "
        "workload and node group. Changes nothing.",
    )
    plan.add_argument(
        "path", metavar="SOURCE", type=source_argument, help="desired-state folder or git URL"
    )
    add_git_source(plan)
    add_cluster(plan)
    add_format(plan, ("text", "json", "markdown"))
    add_verbose(plan, "show every DaemonSet and every deferred node")
    plan.set_defaults(func=run_plan)


def run_plan(args: argparse.Namespace) -> int:
    loaded = load_source(args)
    if isinstance(loaded, int):
        return loaded
    desired, _ = loaded
    try:
        with open_cluster(args.cluster, kubeconfig=args.kubeconfig, read_only=True) as cluster:
            plan = plan_once(desired, cluster)
    except (ClusterSpecError, ClusterError, OSError, ValueError) as exc:
        return fail(str(exc))
    print(plan_format.render(plan, args.format, verbose=args.verbose))
    return EXIT_INVALID if plan.errors else EXIT_OK
