"""`gitops-edge status SOURCE [--cluster …] [--watch] [--format text|json]`: per-group progress.

From the cluster (a read-only plan of the current revision) when `--cluster` is given, else
from the status files the reconciler committed to the repository (for a git source, on its
status branch, `spec.status.branch`, when that is not the spec branch). `--watch` redraws every
`--every` seconds until Ctrl-C. Side effects: reads the source (and the cluster); prints.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from gitops_edge.cli.common import EXIT_INVALID, EXIT_OK, add_cluster, add_format, fail
from gitops_edge.cli.logs import make_logger
from gitops_edge.cli.pipeline_args import (
    add_git_source,
    git_cache,
    load_source,
    source_argument,
)
from gitops_edge.cluster.base import ClusterError
from gitops_edge.cluster.open import ClusterSpecError, open_cluster
from gitops_edge.model import nodejobs as nj
from gitops_edge.model.plan import held_by_window
from gitops_edge.reconciler.reconcile import plan_once
from gitops_edge.reports.job_format import count_words, job_to_dict
from gitops_edge.reports.plan_format import all_jobs, progress_bar
from gitops_edge.repository.validation import validate_repository
from gitops_edge.source.clone_repair import log_repairs
from gitops_edge.source.gitsource import GitSource, GitSourceError, is_git_url
from gitops_edge.source.status import JOBS_DIR, rows_from_status_file, status_rows


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = sub.add_parser(
        "status",
        help="show rollout progress per workload and group",
        description="Per-group progress, from the cluster (--cluster) or from the status files "
        "the reconciler committed to SOURCE.",
    )
    status.add_argument(
        "path", metavar="SOURCE", type=source_argument, help="desired-state folder or git URL"
    )
    add_git_source(status)
    add_cluster(status, required=False)
    add_format(status, ("text", "json"))
    status.add_argument("--watch", action="store_true", help="redraw until Ctrl-C")
    status.add_argument(
        "--every", type=float, default=2.0, metavar="SECONDS", help="--watch period (default 2)"
    )
    status.set_defaults(func=run)


Report = tuple[list[dict[str, Any]], list[dict[str, Any]]]  # rows, node jobs (job JSON)


def collect(args: argparse.Namespace) -> Report | int:
    """One row per (workload, group) and the node jobs, or an exit code."""
    if args.cluster:
        loaded = load_source(args)
        if isinstance(loaded, int):
            return loaded
        desired, _ = loaded
        try:
            with open_cluster(args.cluster, kubeconfig=args.kubeconfig, read_only=True) as cluster:
                plan = plan_once(desired, cluster)
        except (ClusterSpecError, ClusterError, OSError, ValueError) as exc:
            return fail(str(exc))
        return status_rows(desired, plan), [job_to_dict(j) for j in all_jobs(plan)]
    return _from_status_files(args)


def _from_status_files(args: argparse.Namespace) -> Report | int:
    if is_git_url(args.path):
        source = GitSource(
            args.path,
            branch=args.branch,
            subpath=args.subpath,
            cache_dir=git_cache(args),
            timeout=args.git_timeout,
            on_repair=log_repairs(make_logger("text")),
        )
        try:
            root = source.sync().root
            config = validate_repository(root).config
            branch = config.status_branch if config.status_branch != source.branch else ""
            if branch:  # status on a branch of its own (the default): read it there
                head = source.fetch_branch(branch)
                if head is None:
                    return fail(
                        f"{args.path}: no status branch {branch!r} yet (the reconciler creates "
                        "it at its first pass); or give --cluster to ask the cluster",
                        EXIT_INVALID,
                    )
                with source.revision_tree(head) as tree:
                    return _read_status_folder(tree / config.status_path)
        except GitSourceError as exc:
            return fail(str(exc))
    else:
        root = Path(args.path)
        if not root.is_dir():
            return fail(f"{root}: no such folder")
    return _read_status_folder(root / validate_repository(root).config.status_path)


def _read_status_folder(folder: Path) -> Report | int:
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    job_files = sorted((folder / JOBS_DIR).glob("*.json")) if folder.is_dir() else []
    if not files and not job_files:
        return fail(
            f"{folder}: no status files yet (the reconciler writes them after its first pass "
            "over a git source); or give --cluster to ask the cluster",
            EXIT_INVALID,
        )
    rows = []
    for file in files:
        try:
            rows += rows_from_status_file(file.read_text(encoding="utf-8"))
        except (ValueError, KeyError, TypeError) as exc:
            return fail(f"{file}: not a gitops-edge status file ({exc})", EXIT_INVALID)
    jobs = []
    for file in job_files:
        try:
            job = json.loads(file.read_text(encoding="utf-8"))
            job["counts"]["nodes"]
        except (ValueError, KeyError, TypeError) as exc:
            return fail(f"{file}: not a gitops-edge job status file ({exc})", EXIT_INVALID)
        jobs.append(job)
    return rows, jobs


def render_jobs(jobs: list[dict[str, Any]]) -> str:
    lines = [f"{'NODE JOB':48} {'VERSION':9} {'PHASE':11} NODES"]
    for job in jobs:
        c = job["counts"]
        words = [f"{c['successful']}/{c['nodes']} successful"]
        words += count_words(c)
        version = nj.version_of(str(job["apiVersion"]))
        phase = "error" if job.get("errors") else job.get("phase") or "to be created"
        lines.append(
            f"{job['kind'] + '/' + job['name']:48} {version:9} {phase:11} {', '.join(words)}"
        )
    return "\n".join(lines)


def render_rows(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'WORKLOAD':22} {'GROUP':14} {'MODEL':22} {'PROGRESS':30} DEFERRED  OTA  ROLLOUT"]
    for row in rows:
        nodes = row["nodes"]
        line = (
            f"{row['workload']:22} {row['group'] or '-':14} {row['model']:22} "
            f"{progress_bar(nodes['current'], nodes['total']):30} "
            f"{nodes['deferredNotReady']:>8}  {row['otaPending']:>3}  {_rollout(row)}"
        )
        lines.append(line.rstrip())
    return "\n".join(lines)


def _rollout(row: dict[str, Any]) -> str:
    """Wave and state from a status row (older status files lack these fields)."""
    words = [f"wave {row['wave']}"] if row.get("wave") else []
    if row.get("rolledBack"):
        words.append(f"rolled back {row['rolledBack']}")
    elif row.get("halted"):
        words.append("HALTED")
    elif row.get("held"):
        words.append("waiting (window)" if held_by_window(row["held"]) else "waiting (wave)")
    return ", ".join(words)


def run(args: argparse.Namespace) -> int:
    while True:
        report = collect(args)
        if isinstance(report, int):
            return report
        rows, jobs = report
        if args.format == "json":
            text = json.dumps(rows, indent=2)
        else:
            text = render_rows(rows) + (f"\n\n{render_jobs(jobs)}" if jobs else "")
        if args.watch and sys.stdout.isatty():
            print("\033[2J\033[H", end="")
        print(text, flush=True)
        if not args.watch:
            return EXIT_OK
        try:
            time.sleep(args.every)
        except KeyboardInterrupt:
            return EXIT_OK
