"""`reconcile --leader-elect` and its options: only the holder of a `coordination.k8s.io/v1`
Lease plans and applies (`leader_election`, `leader_elector`).

Builds the elector from the options: the Lease `--leader-elect-lease` (default
`gitops-edge-reconciler`) in `--leader-elect-namespace` (default the pod's namespace: the
`POD_NAMESPACE` variable, else the service account's namespace file, else
`gitops-edge-system`), controller-runtime's timings unless set, this process's identity (host
name and a random suffix). The Lease lives in the API server (`--cluster kube[:CONTEXT]`), or
beside a simulated cluster's state file (`sim:FILE`, `cluster.sim_lease`), so that reconcilers
sharing a simulated fleet elect a leader the same way.
Side effects: `start_elector` connects to the API server (or reads and writes the simulated
cluster's leases file) and starts the election thread.
"""

from __future__ import annotations

import argparse
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gitops_edge.cli.common import seconds
from gitops_edge.reconciler.leader_election import Timings
from gitops_edge.reconciler.leader_elector import LeaderElector, LeaseStore, new_identity

DEFAULT_LEASE = "gitops-edge-reconciler"
DEFAULT_NAMESPACE = "gitops-edge-system"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULTS = Timings()


def add_leader_election(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("leader election")
    group.add_argument(
        "--leader-elect",
        action="store_true",
        help="plan and apply only while holding a coordination.k8s.io/v1 Lease, so that two "
        "reconcilers (replicas, or a CronJob beside the Deployment) never drive the fleet at once",
    )
    group.add_argument(
        "--leader-elect-lease",
        metavar="NAME",
        default=DEFAULT_LEASE,
        help=f"the Lease's name (default {DEFAULT_LEASE}); one per fleet",
    )
    group.add_argument(
        "--leader-elect-namespace",
        metavar="NAMESPACE",
        default=None,
        help="the Lease's namespace (default: the pod's, from POD_NAMESPACE or the service "
        f"account, else {DEFAULT_NAMESPACE})",
    )
    for name, default, what in (
        ("lease-duration", DEFAULTS.lease_duration, "a standby waits before taking over"),
        ("renew-deadline", DEFAULTS.renew_deadline, "the leader may go without renewing"),
        ("retry-period", DEFAULTS.retry_period, "between tries to acquire or renew"),
    ):
        group.add_argument(
            f"--leader-elect-{name}",
            type=seconds,
            default=default,
            metavar="SECONDS",
            help=f"seconds {what} (default {default:g})",
        )


def timings(args: argparse.Namespace) -> Timings:
    return Timings(
        lease_duration=args.leader_elect_lease_duration,
        renew_deadline=args.leader_elect_renew_deadline,
        retry_period=args.leader_elect_retry_period,
    )


def lease_namespace(
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str] = os.environ,
    account_file: Path = SERVICE_ACCOUNT_NAMESPACE,
) -> str:
    """The namespace of the Lease: the option, else the pod's, else DEFAULT_NAMESPACE."""
    if args.leader_elect_namespace:
        return str(args.leader_elect_namespace)
    if environ.get("POD_NAMESPACE"):
        return environ["POD_NAMESPACE"]
    try:
        return account_file.read_text(encoding="utf-8").strip() or DEFAULT_NAMESPACE
    except OSError:
        return DEFAULT_NAMESPACE


def start_elector(
    args: argparse.Namespace, *, on_change: Callable[[bool, str], None] | None = None
) -> LeaderElector | str:
    """The running elector the options describe, or why there can be none (a usage error)."""
    chosen = timings(args)
    problem = chosen.problem()
    if problem is not None:
        return f"--leader-elect: {problem}"
    kind, _, rest = str(args.cluster).partition(":")
    store: LeaseStore
    if kind == "sim" and rest:
        from gitops_edge.cluster.sim_lease import SimLeaseStore

        store = SimLeaseStore(
            Path(rest), namespace=lease_namespace(args), name=args.leader_elect_lease
        )
    elif kind == "kube":
        from gitops_edge.cluster.kube import KubeConfigError
        from gitops_edge.cluster.kube_lease import KubeLeaseStore

        try:
            store = KubeLeaseStore.connect(
                rest or None,
                namespace=lease_namespace(args),
                name=args.leader_elect_lease,
                timeout=max(chosen.retry_period, chosen.renew_deadline / 2),
                kubeconfig=args.kubeconfig,
            )
        except KubeConfigError as exc:
            return str(exc)
    else:
        return f"--leader-elect needs --cluster kube[:CONTEXT] or sim:FILE, not {args.cluster}"
    elector = LeaderElector(store, identity=new_identity(), timings=chosen, on_change=on_change)
    return elector.start()


def log_changes(log: Any, *, lease: str, wake: threading.Event) -> Callable[[bool, str], None]:
    """An `on_change` that logs each change of leadership and wakes the loop on acquiring."""

    def changed(now_leading: bool, holder: str) -> None:
        if now_leading:
            log("info", "acquired the lease: leading", lease=lease, identity=holder)
            wake.set()
        else:
            log("warning", "not leading: the lease is lost or held by another", holder=holder)

    return changed
