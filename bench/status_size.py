"""Benchmark: the status one pass writes, and the time to commit it, at fleet scale.

Builds a simulated fleet (default 10,000 nodes in 100 groups, 5% NotReady), a repository of
EdgeDaemonSets over every group and a NodeUpgradeJob over every node, rolls out a new version
and runs the job part way, then renders the status files of that pass (`status_files`) and
measures:

- size: bytes of the summary (README.md), of the largest workload JSON file and of the job
  file, and the total, against the same fleet rendered the old way (every node listed, no cap:
  the status folder's caps switched off) and against a baseline fleet of 1/10 the nodes;
- commit time per pass: `GitSource.write_status` into a clone of a local bare remote (the
  default status branch; the first pass creates it), best of --repeat passes whose content
  changed, against the same for the old rendering and for the baseline fleet.

Prints the figures and the ratios; the target is a summary under 60,000 characters whatever
the fleet size.

Usage: python bench/status_size.py [--nodes 10000] [--groups 100] [--workloads 5] [--repeat 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from plan_scale import write_repo

import gitops_edge.source.status as status_module
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model.desired import DesiredState
from gitops_edge.model.plan import Plan
from gitops_edge.reconciler.reconcile import load_desired, plan_once, reconcile_once
from gitops_edge.reports.job_format import job_markdown_lines, job_to_dict
from gitops_edge.source.gitsource import GitSource
from gitops_edge.source.status import status_files

JOB = """apiVersion: operations.kubeedge.io/v1alpha1
kind: NodeUpgradeJob
metadata:
  name: upgrade-all
spec:
  version: v1.17.0
  image: kubeedge/installation-package
  labelSelector:
    matchExpressions:
      - key: apps.openyurt.io/nodepool
        operator: Exists
  concurrency: 50
  timeoutSeconds: 600
"""
LIMIT = 60_000


@contextmanager
def old_rendering() -> Iterator[None]:
    """The status module as it was before the caps: every row, every node, no cut."""
    saved = {name: getattr(status_module, name) for name in _UNCAPPED}
    for name, value in _UNCAPPED.items():
        setattr(status_module, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(status_module, name, value)


_UNCAPPED: dict[str, Any] = {
    "DETAIL_NODES": 10**9,
    "SUMMARY_ROWS": 10**9,
    "SUMMARY_JOBS": 10**9,
    "SUMMARY_ITEMS": 10**9,
    "job_status_dict": job_to_dict,
    "job_markdown_lines": lambda job, limit=None: job_markdown_lines(job),
    "fit_summary": lambda lines, tail: "\n".join([*lines, *tail]) + "\n",
}


def fleet(*, nodes: int, groups: int, workloads: int, tmp: Path) -> tuple[DesiredState, list[Plan]]:
    """The desired state (version 2) and the plans of two successive passes rolling it out."""
    per_group = nodes // groups
    names = [f"g{i:03d}" for i in range(groups)]
    cluster = SimCluster.create(groups=[(g, per_group) for g in names], not_ready=nodes // 20)
    write_repo(tmp / "v1", groups=names, workloads=workloads, version="1.0.0")
    write_repo(tmp / "v2", groups=names, workloads=workloads, version="1.1.0")
    (tmp / "v2" / "upgrade.yaml").write_text(JOB)
    for root in (tmp / "v1", tmp / "v2"):
        text = (root / "gitops-edge.yaml").read_text()
        (root / "gitops-edge.yaml").write_text(text + "  status:\n    path: status\n")
    reconcile_once(load_desired(tmp / "v1", revision="1" * 40), cluster)
    cluster.tick(60)
    desired = load_desired(tmp / "v2", revision="2" * 40)
    plans = []
    for _ in range(2):
        reconcile_once(desired, cluster)
        cluster.tick(30)
        plans.append(plan_once(desired, cluster))
    return desired, plans


def sizes(files: dict[str, str]) -> dict[str, int]:
    return {
        "README.md": len(files["README.md"].encode()),
        "largest workload JSON": max(
            len(text.encode()) for n, text in files.items() if "/" not in n and n.endswith(".json")
        ),
        "job file": len(files["jobs/nodeupgradejob-upgrade-all.json"].encode()),
        "total": sum(len(t.encode()) for t in files.values()),
    }


def commit_time(
    desired: DesiredState, plans: list[Plan], *, tmp: Path, repeat: int, render: Callable[[], Any]
) -> float:
    """Best time of write_status for a pass whose content changed (the first creates the
    status branch and is not counted)."""
    remote, work = tmp / "remote.git", tmp / "spec"
    git = ["git", "-c", "user.name=b", "-c", "user.email=b@x"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    (work / "gitops-edge.yaml").write_text("# the spec\n")
    subprocess.run([*git, "-C", str(work), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(work), "commit", "-qm", "spec"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(remote)], check=True)
    source = GitSource(remote.as_uri(), branch="main", subpath=".", cache_dir=tmp / "cache")
    source.sync()
    best = float("inf")
    with render():
        rendered = [status_files(desired, p) for p in plans]
    for attempt in range(repeat + 1):
        files = rendered[attempt % 2]
        start = time.perf_counter()
        pushed = source.write_status(
            files, status_dir="status", message=f"status {attempt}", status_branch="s/b"
        )
        elapsed = time.perf_counter() - start
        assert pushed is not None or rendered[0] == rendered[1]
        if attempt:
            best = min(best, elapsed)
    return best


@contextmanager
def new_rendering() -> Iterator[None]:
    yield


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--workloads", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, tuple[dict[str, int], float]] = {}
    with tempfile.TemporaryDirectory(prefix="gitops-edge-bench-") as tmp:
        for nodes, renderings in (
            (args.nodes // 10, (("baseline", new_rendering),)),
            (args.nodes, (("new", new_rendering), ("old", old_rendering))),
        ):
            t0 = time.perf_counter()
            where = Path(tmp) / str(nodes)
            where.mkdir()
            desired, plans = fleet(
                nodes=nodes, groups=args.groups, workloads=args.workloads, tmp=where
            )
            for label, render in renderings:
                with render():
                    measured = sizes(status_files(desired, plans[-1]))
                (where / label).mkdir()
                seconds = commit_time(
                    desired, plans, tmp=where / label, repeat=args.repeat, render=render
                )
                figures[label] = (measured, seconds)
            print(
                f"setup and runs, {nodes} nodes: {time.perf_counter() - t0:.1f} s", file=sys.stderr
            )
    base, new, old = figures["baseline"], figures["new"], figures["old"]
    print(
        f"fleet: {args.nodes} nodes in {args.groups} groups, {args.workloads} workloads, one "
        f"NodeUpgradeJob over every node; baseline: {args.nodes // 10} nodes"
    )
    print(f"{'bytes':<24}{'new':>10}{'baseline':>10}{'old':>11}  new/baseline  new/old")
    for key in new[0]:
        n, b, o = new[0][key], base[0][key], old[0][key]
        print(f"{key:<24}{n:>10,}{b:>10,}{o:>11,}  {n / b:>12.2f}  {n / o:>7.3f}")
    tn, tb, to = new[1], base[1], old[1]
    row = f"{'commit time per pass':<24}{tn:>9.3f}s{tb:>9.3f}s{to:>10.3f}s"
    print(f"{row}  {tn / tb:>12.2f}  {tn / to:>7.3f}")
    ok = new[0]["README.md"] < LIMIT
    print(f"summary: {new[0]['README.md']:,} bytes ({'meets' if ok else 'misses'} < {LIMIT:,})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
