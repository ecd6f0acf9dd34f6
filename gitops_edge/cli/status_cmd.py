"""`gitops-edge status SOURCE [--cluster …] [--watch] [--format text|json]`: per-group progress.

From the cluster (a read-only plan of the current revision) when `--cluster` is given, else
from the status files the reconciler committed to the repository (for a git source, on its
status branch, `spec.status.branch`, when that is not the spec branch). Tables sized to their
content (`reports.status_table`): styled on a terminal, plain and unwrapped otherwise. `--watch`
redraws every `--every` seconds under a line naming the revision shown and when it was read
(on a terminal in place, otherwise one report after another) until Ctrl-C, which exits 0.
Side effects: reads the source (and the cluster); prints.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import UTC, datetime
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
from gitops_edge.reconciler.reconcile import plan_once
from gitops_edge.reports.job_format import job_to_dict
from gitops_edge.reports.plan_format import all_jobs
from gitops_edge.reports.status_table import render_status
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


# rows, node jobs (job JSON), the spec revision they report
Report = tuple[list[dict[str, Any]], list[dict[str, Any]], str]


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
        jobs = [job_to_dict(j) for j in all_jobs(plan)]
        return status_rows(desired, plan), jobs, desired.revision
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
    revisions = set()
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
            rows += rows_from_status_file(text)
            revisions.add(str(json.loads(text).get("specRevision", "")))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return fail(f"{file}: not a gitops-edge status file ({exc})", EXIT_INVALID)
    jobs = []
    for file in job_files:
        try:
            job = json.loads(file.read_text(encoding="utf-8"))
            job["counts"]["nodes"]
        except (ValueError, KeyError, TypeError) as exc:
            return fail(f"{file}: not a gitops-edge job status file ({exc})", EXIT_INVALID)
        jobs.append(job)
        revisions.add(str(job.get("specRevision", "")))
    return rows, jobs, ", ".join(sorted(revisions - {""}))


def watch_header(revision: str, *, every: float, now: datetime) -> str:
    """The line above each `--watch` redraw: what it shows and when it was read."""
    shown = revision[:12] if len(revision) == 40 else revision
    return (
        f"revision {shown or 'unknown'}, updated {now.strftime('%Y-%m-%dT%H:%M:%SZ')} "
        f"(every {every:g} s; Ctrl-C to stop)"
    )


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except KeyboardInterrupt:  # Ctrl-C ends --watch: its normal way out, whatever it was doing
        if not args.watch:
            raise
        print(flush=True)
        return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    terminal = sys.stdout.isatty()
    while True:
        report = collect(args)
        if isinstance(report, int):
            return report
        rows, jobs, revision = report
        if args.format == "json":
            text = json.dumps(rows, indent=2)
        else:
            width = shutil.get_terminal_size().columns if terminal else None
            text = render_status(rows, jobs, terminal=terminal, width=width)
        if args.watch and args.format != "json":  # JSON stays JSON: no header line
            header = watch_header(revision, every=args.every, now=datetime.now(UTC))
            print(("\033[2J\033[H" if terminal else "") + header + "\n", flush=True)
        print(text, flush=True)
        if not args.watch:
            return EXIT_OK
        time.sleep(args.every)
        if not terminal:
            print(flush=True)  # a blank line between two reports of a log
