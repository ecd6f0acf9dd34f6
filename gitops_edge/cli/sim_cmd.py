"""`gitops-edge sim …`: create and drive a simulated edge cluster kept in one JSON file.

Subcommands: init, node, add-node, checks, upgrade-fails, confirm, job-versions, config-fails,
tick, image, set-image, show, events.
Each subcommand that changes the state is a function of the opened cluster (`mutating`); `show`
and `events` are in `sim_view`.
Side effects: read and write the state file (under its lock); print to stdout, errors to stderr.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path

from gitops_edge.cli.common import EXIT_OK, add_format, fail
from gitops_edge.cli.sim_view import run_events, run_show
from gitops_edge.cluster.base import NotFoundError
from gitops_edge.cluster.sim import POOL_LABEL, SimCluster

Command = Callable[[argparse.Namespace], int]

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def parse_groups(text: str) -> list[tuple[str, int]]:
    """`hangzhou=6,shanghai=4` → [("hangzhou", 6), ("shanghai", 4)]; ValueError says what to fix."""
    out: list[tuple[str, int]] = []
    for part in text.split(","):
        name, sep, count = part.strip().partition("=")
        if not sep or not count.strip().isdigit():
            raise ValueError(f"--groups: {part.strip()!r} is not NAME=COUNT (e.g. hangzhou=6)")
        if not _DNS_LABEL.fullmatch(name) or len(name) > 50:
            raise ValueError(
                f"--groups: group name {name!r} must be a DNS label: lowercase letters, digits "
                "and '-', at most 50 characters"
            )
        if int(count) < 1:
            raise ValueError(f"--groups: group {name} needs at least 1 node")
        if any(name == seen for seen, _ in out):
            raise ValueError(f"--groups: group {name} is listed twice")
        out.append((name, int(count)))
    return out


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = sub.add_parser(
        "sim",
        help="create and drive a simulated edge cluster (a JSON state file)",
        description="A simulated edge cluster for demos and tests: nodes with readiness, a "
        "DaemonSet controller, pods that turn Ready over a logical clock.",
    )
    commands = sim.add_subparsers(dest="sim_command", metavar="SUBCOMMAND", required=True)

    init = commands.add_parser("init", help="create a fleet of nodes in groups")
    init.add_argument("file", type=Path, help="state file to create")
    init.add_argument(
        "--groups", required=True, metavar="NAME=COUNT[,NAME=COUNT…]", help="node groups"
    )
    init.add_argument("--not-ready", type=int, default=0, metavar="N", help="N NotReady nodes")
    init.add_argument("--seed", type=int, default=0, help="seed for names and NotReady picks")
    init.add_argument(
        "--ready-delay", type=float, default=5.0, metavar="SECONDS", help="pod start-up time"
    )
    init.add_argument(
        "--group-label",
        action="append",
        metavar="KEY",
        help=f"label key set to the group name on each node (repeatable; default {POOL_LABEL})",
    )
    init.add_argument(
        "--openyurt",
        action="store_true",
        help="the cluster has OpenYurt installed (its yurt-manager drives DaemonSets annotated "
        "with apps.openyurt.io/update-strategy; the simulation does not model yurt-manager itself)",
    )
    init.add_argument(
        "--namespaces",
        default="",
        metavar="A,B",
        help="namespaces to create besides default, kube-system, kube-public and "
        "kube-node-lease (as `kubectl create namespace` would)",
    )
    init.add_argument("--force", action="store_true", help="replace an existing file")
    init.set_defaults(func=run_init)

    node = commands.add_parser("node", help="set a node Ready or NotReady")
    node.add_argument("file", type=Path)
    node.add_argument("node")
    state = node.add_mutually_exclusive_group(required=True)
    state.add_argument("--ready", dest="ready", action="store_true")
    state.add_argument("--not-ready", dest="ready", action="store_false")
    node.set_defaults(func=run_node)

    add = commands.add_parser("add-node", help="add an edge node (Ready) with labels")
    add.add_argument("file", type=Path)
    add.add_argument("node", help="node name, e.g. edgenode1")
    add.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a label (repeatable); edge and agent role labels are always set",
    )
    add.add_argument("--not-ready", action="store_true", help="add it NotReady")
    add.set_defaults(func=run_add_node)

    checks = commands.add_parser(
        "checks", help="make a node fail (or pass) node-job pre-checks (cpu, mem, disk)"
    )
    checks.add_argument("file", type=Path)
    checks.add_argument("node")
    verdict = checks.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--fail", metavar="ITEMS", help="comma-separated: cpu,mem,disk")
    verdict.add_argument("--pass", dest="pass_all", action="store_true", help="pass every check")
    checks.set_defaults(func=run_checks)

    upgrades = commands.add_parser(
        "upgrade-fails",
        help="make a node's v1alpha2 NodeUpgradeJob Upgrade action fail (then RollBack runs)",
    )
    upgrades.add_argument("file", type=Path)
    upgrades.add_argument("node")
    outcome = upgrades.add_mutually_exclusive_group(required=True)
    outcome.add_argument("--fail", dest="failing", action="store_true", help="Upgrade fails")
    outcome.add_argument("--pass", dest="failing", action="store_false", help="Upgrade succeeds")
    upgrades.set_defaults(func=run_upgrade_fails)

    confirm = commands.add_parser(
        "confirm",
        help="confirm a v1alpha2 NodeUpgradeJob with requireConfirmation on its waiting nodes",
    )
    confirm.add_argument("file", type=Path)
    confirm.add_argument("job", help="the NodeUpgradeJob's name")
    confirm.add_argument("--node", action="append", default=[], help="only this node (repeatable)")
    confirm.set_defaults(func=run_confirm)

    versions = commands.add_parser(
        "job-versions", help="which operations.kubeedge.io versions the cluster serves"
    )
    versions.add_argument("file", type=Path)
    versions.add_argument("versions", help="v1alpha1,v1alpha2 (default), v1alpha1, or none")
    versions.set_defaults(func=run_job_versions)

    config = commands.add_parser(
        "config-fails", help="make a ConfigUpdateJob's Update fail (or pass) on a node"
    )
    config.add_argument("file", type=Path)
    config.add_argument("node")
    config_verdict = config.add_mutually_exclusive_group(required=True)
    config_verdict.add_argument(
        "--fields", metavar="KEYS", help="comma-separated updateFields keys that fail there"
    )
    config_verdict.add_argument("--pass", dest="pass_all", action="store_true", help="all pass")
    config.set_defaults(func=run_config_fails)

    tick = commands.add_parser("tick", help="advance the clock; controllers run")
    tick.add_argument("file", type=Path)
    tick.add_argument("--seconds", type=float, default=10.0, help="default 10")
    tick.set_defaults(func=run_tick)

    image = commands.add_parser(
        "image", help="mark an image broken (never Ready), unschedulable (never bound) or ok"
    )
    image.add_argument("file", type=Path)
    image.add_argument("image")
    mark = image.add_mutually_exclusive_group(required=True)
    mark.add_argument("--broken", dest="mark", action="store_const", const="broken")
    mark.add_argument("--unschedulable", dest="mark", action="store_const", const="unschedulable")
    mark.add_argument("--ok", dest="mark", action="store_const", const="ok")
    image.set_defaults(func=run_image)

    controller = commands.add_parser(
        "controller", help="stop or start the DaemonSet controller (stopped: no pod is created)"
    )
    controller.add_argument("file", type=Path)
    controller.add_argument("state", choices=("stop", "start"))
    controller.set_defaults(func=run_controller)

    scheduler = commands.add_parser(
        "scheduler", help="how long new pods wait, Pending and unbound, for the scheduler"
    )
    scheduler.add_argument("file", type=Path)
    scheduler.add_argument("--delay", type=float, required=True, help="seconds (0: at once)")
    scheduler.set_defaults(func=run_scheduler)

    set_image = commands.add_parser(
        "set-image",
        help="change a DaemonSet's image by hand, as `kubectl set image` would (drift)",
        description="Change the image of a container of a DaemonSet in the cluster, keeping its "
        "annotations, as `kubectl set image daemonset/NAME CONTAINER=IMAGE -n NAMESPACE` does: "
        "the next reconcile pass reports the drift and restores the repository's image.",
    )
    set_image.add_argument("file", type=Path)
    set_image.add_argument("daemonset", metavar="NAMESPACE/NAME")
    set_image.add_argument("change", metavar="CONTAINER=IMAGE")
    set_image.set_defaults(func=run_set_image)

    show = commands.add_parser("show", help="print nodes, DaemonSets and pods")
    show.add_argument("file", type=Path)
    add_format(show, ("text", "json"))
    show.set_defaults(func=run_show)

    events = commands.add_parser(
        "events", help="list the Kubernetes Events recorded (as `kubectl get events`)"
    )
    events.add_argument("file", type=Path)
    add_format(events, ("text", "json"))
    events.set_defaults(func=run_events)


def run_init(args: argparse.Namespace) -> int:
    try:
        groups = parse_groups(args.groups)
        cluster = SimCluster.create(
            groups=groups,
            not_ready=args.not_ready,
            seed=args.seed,
            ready_delay=args.ready_delay,
            group_label_keys=tuple(args.group_label or (POOL_LABEL,)),
            openyurt_installed=args.openyurt,
            namespaces=tuple(n.strip() for n in args.namespaces.split(",") if n.strip()),
        )
        SimCluster.init_file(args.file, cluster, force=args.force)
    except (ValueError, OSError) as exc:
        return fail(str(exc))
    total = sum(count for _, count in groups)
    print(f"{args.file}: {total} nodes in {len(groups)} groups, {args.not_ready} NotReady")
    return EXIT_OK


def mutating(change: Callable[[SimCluster, argparse.Namespace], str]) -> Command:
    """A subcommand that changes the state file: `change` does it on the opened cluster (under
    the file's lock) and says what it did; a missing object or a bad value is an error."""

    def run(args: argparse.Namespace) -> int:
        try:
            with SimCluster.open(args.file) as cluster:
                done = change(cluster, args)
        except (NotFoundError, ValueError, OSError) as exc:
            return fail(str(exc))
        print(f"{args.file}: {done}")
        return EXIT_OK

    return run


@mutating
def run_node(cluster: SimCluster, args: argparse.Namespace) -> str:
    cluster.set_node_ready(args.node, args.ready)
    return f"{args.node} is {'Ready' if args.ready else 'NotReady'}"


@mutating
def run_add_node(cluster: SimCluster, args: argparse.Namespace) -> str:
    labels = dict(_label(text) for text in args.label)
    cluster.add_node(args.node, labels, ready=not args.not_ready)
    return f"node {args.node} added"


@mutating
def run_checks(cluster: SimCluster, args: argparse.Namespace) -> str:
    items = [] if args.pass_all else [i.strip() for i in args.fail.split(",")]
    cluster.set_failing_checks(args.node, [i for i in items if i])
    return f"{args.node} fails {', '.join(items)}" if items else f"{args.node} passes"


@mutating
def run_upgrade_fails(cluster: SimCluster, args: argparse.Namespace) -> str:
    cluster.set_failing_upgrade(args.node, args.failing)
    return f"{args.node}: Upgrade {'fails' if args.failing else 'succeeds'}"


@mutating
def run_confirm(cluster: SimCluster, args: argparse.Namespace) -> str:
    confirmed = cluster.confirm_node_job(args.job, args.node)
    if not confirmed:
        raise ValueError(
            f"NodeUpgradeJob {args.job}: no node is waiting at WaitingConfirmation "
            "(only a v1alpha2 job with requireConfirmation: true waits there)"
        )
    return f"NodeUpgradeJob {args.job} confirmed on {', '.join(confirmed)}"


@mutating
def run_job_versions(cluster: SimCluster, args: argparse.Namespace) -> str:
    wanted = [] if args.versions == "none" else args.versions.split(",")
    cluster.set_job_versions([v.strip() for v in wanted])
    return f"serves {args.versions}"


@mutating
def run_config_fails(cluster: SimCluster, args: argparse.Namespace) -> str:
    keys = [] if args.pass_all else [k.strip() for k in args.fields.split(",")]
    cluster.set_failing_config_fields(args.node, [k for k in keys if k])
    return f"{args.node} fails an update of {', '.join(keys)}" if keys else "passes"


@mutating
def run_set_image(cluster: SimCluster, args: argparse.Namespace) -> str:
    namespace, name, container, image = _image_change(args.daemonset, args.change)
    cluster.set_image(namespace, name, container=container, image=image)
    return f"DaemonSet {namespace}/{name}: container {container} now runs {image}"


@mutating
def run_tick(cluster: SimCluster, args: argparse.Namespace) -> str:
    cluster.tick(args.seconds)
    return f"clock advanced {args.seconds:g} s"


@mutating
def run_controller(cluster: SimCluster, args: argparse.Namespace) -> str:
    cluster.set_controller_stopped(args.state == "stop")
    return f"DaemonSet controller {'stopped' if args.state == 'stop' else 'running'}"


@mutating
def run_scheduler(cluster: SimCluster, args: argparse.Namespace) -> str:
    cluster.set_schedule_delay(args.delay)
    return f"new pods wait {args.delay:g} s for the scheduler"


@mutating
def run_image(cluster: SimCluster, args: argparse.Namespace) -> str:
    cluster.set_image_broken(args.image, args.mark == "broken")
    cluster.set_image_unschedulable(args.image, args.mark == "unschedulable")
    return f"{args.image} is {args.mark}"


def _label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--label {text!r}: write KEY=VALUE, e.g. region=north")
    return key, value


def _image_change(daemonset: str, change: str) -> tuple[str, str, str, str]:
    namespace, slash, name = daemonset.partition("/")
    if not slash or not namespace or not name:
        raise ValueError(f"{daemonset!r}: write NAMESPACE/NAME, e.g. edge-system/log-agent-north")
    container, equals, image = change.partition("=")
    if not equals or not container or not image:
        raise ValueError(f"{change!r}: write CONTAINER=IMAGE, e.g. agent=nginx:1.26")
    return namespace, name, container, image
