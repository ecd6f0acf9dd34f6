"""Benchmark: `gitops-edge validate` against `check-jsonschema` on the same 1,000 workload files.

Generates a desired-state repository (config, 3 NodeGroups, 1,000 EdgeDaemonSet files) in a
temporary folder, then times, in the same run, each tool as a command (start-up included, best of
--repeat runs): `gitops-edge validate REPO` and `check-jsonschema --schemafile <EdgeDaemonSet
schema> <the 1,000 files>`. Prints files/second for each and the ratio of time per file
(gitops-edge / check-jsonschema; target ≤ 1.0). gitops-edge also runs its semantic and
cross-file rules; check-jsonschema only the schema.

Usage: python bench/validate.py [--files N] [--repeat R]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schemas" / "edgedaemonset.gitops-edge.io.v1alpha1.schema.json"
GROUPS = ("hangzhou", "shanghai", "beijing")

CONFIG = """apiVersion: gitops-edge.io/v1alpha1
kind: RepositoryConfig
metadata:
  name: bench
spec:
  cloudVersion: v1.16.0
"""
GROUP = """apiVersion: gitops-edge.io/v1alpha1
kind: NodeGroup
metadata:
  name: {name}
spec:
  selector:
    matchLabels:
      apps.openyurt.io/nodepool: {name}
"""
WORKLOAD = """apiVersion: gitops-edge.io/v1alpha1
kind: EdgeDaemonSet
metadata:
  name: app-{i:04d}
  namespace: edge-apps
  labels:
    team: team-{team}
spec:
  strategy:
    type: AdvancedRollingUpdate
    maxUnavailable: 30%
  minReadySeconds: 10
  template:
    metadata:
      labels:
        app: app-{i:04d}
    spec:
      containers:
        - name: main
          image: registry.example.com/edge/app-{i:04d}:1.{minor}.0
          args: ["--log-level=info"]
          env:
            - name: MODE
              value: edge
          resources:
            limits:
              cpu: 200m
              memory: 128Mi
          volumeMounts:
            - name: data
              mountPath: /data
      volumes:
        - name: data
          hostPath:
            path: /var/lib/app-{i:04d}
      tolerations:
        - operator: Exists
  groups:
    - name: hangzhou
      image: registry.example.com/edge/app-{i:04d}:1.{next}.0
    - name: shanghai
      env:
        - name: REGION
          value: sh
    - name: beijing
"""


def generate(repo: Path, files: int) -> list[Path]:
    (repo / "groups").mkdir(parents=True)
    (repo / "workloads").mkdir()
    (repo / "gitops-edge.yaml").write_text(CONFIG)
    for name in GROUPS:
        (repo / "groups" / f"{name}.yaml").write_text(GROUP.format(name=name))
    out = []
    for i in range(files):
        path = repo / "workloads" / f"app-{i:04d}.yaml"
        path.write_text(WORKLOAD.format(i=i, team=i % 7, minor=i % 9, next=i % 9 + 1))
        out.append(path)
    return out


def best_time(cmd: list[str], *, repeat: int, expect: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - start
        if proc.returncode != expect:
            sys.exit(f"{cmd[0]} exited {proc.returncode}: {(proc.stdout + proc.stderr)[-500:]}")
        best = min(best, elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    bindir = Path(sys.executable).parent
    ge, cj = shutil.which("gitops-edge", path=bindir), shutil.which("check-jsonschema", path=bindir)
    if not ge or not cj:
        sys.exit("run from the project's virtual environment (make bench): tools not found")
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        workloads = generate(repo, args.files)
        ge_files = args.files + 1 + len(GROUPS)
        t_ge = best_time([ge, "validate", str(repo)], repeat=args.repeat, expect=0)
        t_cj = best_time(
            [cj, "--no-cache", "--schemafile", str(SCHEMA), *map(str, workloads)],
            repeat=args.repeat,
            expect=0,
        )
    ge_rate, cj_rate = ge_files / t_ge, args.files / t_cj
    ratio = (t_ge / ge_files) / (t_cj / args.files)
    print(f"gitops-edge validate: {ge_files} files in {t_ge:.2f} s = {ge_rate:.0f} files/s")
    print(f"check-jsonschema:     {args.files} files in {t_cj:.2f} s = {cj_rate:.0f} files/s")
    verdict = "meets" if ratio <= 1.0 else "misses"
    print(f"ratio of time per file (gitops-edge / check-jsonschema): {ratio:.2f} ({verdict} ≤ 1.0)")


if __name__ == "__main__":
    main()
