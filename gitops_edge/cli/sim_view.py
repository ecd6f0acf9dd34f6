"""`gitops-edge sim show` and `sim events`: what the simulated cluster holds, read only (the
state file's lock is taken shared).

Side effects: read the state file; print to stdout, errors to stderr.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

from gitops_edge.cli.common import EXIT_OK, fail
from gitops_edge.cluster.sim import POOL_LABEL, SimCluster


def run_show(args: argparse.Namespace) -> int:
    try:
        with SimCluster.open(args.file, read_only=True) as cluster:
            snapshot = cluster.snapshot()
    except (ValueError, OSError) as exc:
        return fail(str(exc))
    if args.format == "json":
        print(json.dumps(snapshot, indent=2))
    else:
        print(render_snapshot(snapshot))
    return EXIT_OK


def run_events(args: argparse.Namespace) -> int:
    """The Events still alive (an hour on the simulated clock), oldest last seen first: as JSON
    the core/v1 Event objects, as text `kubectl get events` columns."""
    try:
        with SimCluster.open(args.file, read_only=True) as cluster:
            events = cluster.events()
    except (ValueError, OSError) as exc:
        return fail(str(exc))
    if args.format == "json":
        print(json.dumps(events, indent=2))
        return EXIT_OK
    rows = [("LAST SEEN", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE")]
    for event in events:
        ref = event["involvedObject"]
        where = f"{ref.get('namespace')}/" if ref.get("namespace") else ""
        rows.append(
            (
                event["lastTimestamp"],
                event["type"],
                event["reason"],
                f"{ref['kind'].lower()}/{where}{ref['name']}",
                str(event["count"]),
                event["message"],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row[:5], widths, strict=True)) + "  " + row[5])
    return EXIT_OK


def render_snapshot(snapshot: dict[str, object]) -> str:
    nodes = snapshot["nodes"]
    daemonsets = snapshot["daemonsets"]
    pods = snapshot["pods"]
    assert isinstance(nodes, list) and isinstance(daemonsets, list) and isinstance(pods, list)
    groups: dict[str, list[dict[str, object]]] = defaultdict(list)
    for node in nodes:
        labels = node["labels"]
        group = next((v for k, v in labels.items() if k == POOL_LABEL), None) or "(no pool)"
        groups[group].append(node)
    lines = [f"time {snapshot['now']}", "", f"{'GROUP':16} {'NODES':>5} {'READY':>5}  NOT READY"]
    for group, members in sorted(groups.items()):
        down = [str(n["name"]) for n in members if not n["ready"]]
        ready = len(members) - len(down)
        lines.append(f"{group:16} {len(members):>5} {ready:>5}  {', '.join(down)}")
    if daemonsets:
        lines += [
            "",
            f"{'DAEMONSET':40} {'REVISION':10} {'DESIRED':>7} {'READY':>5} {'UPDATED':>7}",
        ]
        for ds in daemonsets:
            name = f"{ds['namespace']}/{ds['name']}"
            lines.append(
                f"{name:40} {ds['currentRevision']:10} {ds['desired']:>7} {ds['ready']:>5} "
                f"{ds['updated']:>7}"
            )
    jobs = snapshot.get("nodeJobs") or []
    assert isinstance(jobs, list)
    if jobs:
        lines += ["", f"{'NODE JOB':48} {'VERSION':9} {'PHASE':11} NODES"]
        for job in jobs:
            phases: dict[str, int] = defaultdict(int)
            for entry in job["nodes"]:
                phases[entry["phase"]] += 1
            counts = ", ".join(f"{n} {phase}" for phase, n in sorted(phases.items()))
            name = f"{job['kind']}/{job['name']}"
            version = job["apiVersion"].rpartition("/")[2]
            lines.append(f"{name:48} {version:9} {job['phase'] or '-':11} {counts or '-'}")
    namespaces = snapshot.get("namespaces") or []
    assert isinstance(namespaces, list)
    lines += ["", f"namespaces: {', '.join(str(n) for n in namespaces)}"]
    terminating = sum(1 for p in pods if p["deleting"])
    lines += ["", f"{len(pods)} pods, {terminating} Terminating"]
    return "\n".join(lines)
