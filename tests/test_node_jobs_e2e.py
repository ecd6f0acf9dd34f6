"""Node jobs end to end: the seed's NodeUpgradeJob and (corrected) ImagePrePullJob run to
completion in the simulated cluster from a git repository, with per-node results in the pushed
status; and a workload's pre-pull before its rollout, through real reconcile passes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from repo_config import write_config
from test_git_source import EXAMPLE, Remote, run

from gitops_edge.cli.main import main
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model import nodejobs as nj
from gitops_edge.model.plan import DeletePod
from gitops_edge.reconciler.reconcile import load_desired, plan_once, reconcile_once

CONFIG = """\
apiVersion: gitops-edge.io/v1alpha1
kind: RepositoryConfig
metadata:
  name: fleet
spec:
  cloudVersion: v1.16.0
"""


def reconcile(url: str, sim: Path, cache: Path) -> int:
    return main(["reconcile", url, "--cluster", f"sim:{sim}", "--once", "--cache-dir", str(cache)])


def test_seed_jobs_run_to_completion_from_git_with_per_node_results_in_the_pushed_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    remote = Remote(tmp_path)
    (remote.work / "jobs").mkdir()
    (remote.work / "gitops-edge.yaml").write_text(CONFIG)
    for name in ("upgrade-example.yaml", "imageprepull-example.yaml"):
        shutil.copy(EXAMPLE / "jobs" / name, remote.work / "jobs" / name)
    spec = remote.commit("node jobs")
    sim = tmp_path / "sim.json"
    cluster = SimCluster.create(namespaces=("edge",), groups=[("edge", 4)])
    cluster.add_node("edgenode1", {})
    cluster.add_node("edgenode2", {})
    cluster.set_node_ready("edge-02", False)
    cluster.set_failing_checks("edge-03", ["disk"])
    SimCluster.init_file(sim, cluster)

    assert reconcile(remote.url, sim, tmp_path / "cache") == 0
    assert "create NodeUpgradeJob upgrade-example" in capsys.readouterr().out
    with SimCluster.open(sim) as cluster:
        cluster.tick(600)
    assert reconcile(remote.url, sim, tmp_path / "cache") == 0

    run("fetch", "-q", "origin", cwd=remote.work)

    def pushed(path: str) -> str:
        return run("show", f"origin/gitops-edge/status:{path}", cwd=remote.work)

    upgrade = json.loads(pushed("status/jobs/nodeupgradejob-upgrade-example.json"))
    assert upgrade["specRevision"] == spec and upgrade["apiVersion"].endswith("v1alpha1")
    assert upgrade["phase"] == nj.JOB_COMPLETED  # 1 failed of 5 < 30%
    # per-node detail for the nodes not successful only, counts for the rest
    by_node = {n["node"]: n for n in upgrade["nodes"]}
    assert set(by_node) == {"edge-03"}  # v1alpha1 skips the NotReady node edge-02
    assert by_node["edge-03"]["phase"] == "Failure" and "disk" in by_node["edge-03"]["reason"]
    assert upgrade["nodesNotListed"] == {"successful": 4, "more": 0}
    assert upgrade["counts"] == {
        "nodes": 5,
        "successful": 4,
        "failed": 1,
        "unknown": 0,
        "inProgress": 0,
        "pending": 0,
    }
    prepull = json.loads(pushed("status/jobs/imageprepulljob-imageprepull-example.json"))
    assert prepull["phase"] == nj.JOB_COMPLETED
    assert prepull["nodes"] == []  # both successful: counted, not listed
    assert prepull["nodesNotListed"] == {"successful": 2, "more": 0}
    assert prepull["counts"]["successful"] == prepull["counts"]["nodes"] == 2
    summary = pushed("status/README.md")
    assert "## Node jobs" in summary
    assert "| `upgrade-example` | NodeUpgradeJob | v1alpha1 | Completed | 4/5 | 1 |" in summary
    assert "| `edge-03` | Failure |" in summary
    subject = run("log", "-1", "--format=%s", "origin/gitops-edge/status", cwd=remote.work)
    assert "node jobs 2/2 finished (0 failed)" in subject
    capsys.readouterr()
    assert main(["status", remote.url, "--cache-dir", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    assert "NodeUpgradeJob/upgrade-example" in out and "4/5 successful, 1 failed" in out
    with SimCluster.open(sim, read_only=True) as cluster:
        versions = {n.name: n.edge_version for n in cluster.observe().nodes}
    assert versions["edge-01"].endswith("kubeedge-v1.16.0") and "edge-02" in versions


WORKLOAD = """\
apiVersion: gitops-edge.io/v1alpha1
kind: EdgeDaemonSet
metadata:
  name: agent
  namespace: edge
spec:
  strategy:
    type: AdvancedRollingUpdate
    maxUnavailable: 2
  prePull:
    concurrency: 2
    failureTolerate: "0"
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
        - name: agent
          image: registry.example.com/agent:IMAGE
  groups:
    - name: north
---
apiVersion: gitops-edge.io/v1alpha1
kind: NodeGroup
metadata:
  name: north
spec:
  selector:
    matchLabels: {apps.openyurt.io/nodepool: north}
"""


def write_repo(root: Path, image: str) -> None:
    write_config(root)
    (root / "agent.yaml").write_text(WORKLOAD.replace("IMAGE", image))


def test_prepull_before_rollout_holds_deletions_until_the_images_are_on_the_nodes(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    write_repo(repo, "1")
    cluster = SimCluster.create(namespaces=("edge",), groups=[("north", 4)], ready_delay=10)
    reconcile_once(load_desired(repo, revision="r1"), cluster)
    cluster.tick(30)
    assert plan_once(load_desired(repo, revision="r1"), cluster).daemonsets[0].prepull == ()

    write_repo(repo, "2")
    desired = load_desired(repo, revision="r2")
    result = reconcile_once(desired, cluster)
    assert not any(isinstance(r.action, DeletePod) for r in result.results)
    (job,) = cluster.observe().jobs
    assert job.kind == nj.PREPULL and job.name.startswith("gitops-edge-prepull-edge-agent-north-")
    while cluster.observe().jobs[0].phase != nj.JOB_COMPLETED:
        assert not any(isinstance(a, DeletePod) for a in plan_once(desired, cluster).actions)
        cluster.tick(5)
    deletions = [a for a in reconcile_once(desired, cluster).plans[-1].actions]
    assert sum(isinstance(a, DeletePod) for a in deletions) == 2  # the budget
    # The new pods start on nodes that already hold the image: 2 s instead of 10 s.
    cluster.tick(2)
    observed = cluster.observe()
    revision = observed.daemonsets[0].current_revision
    new = [p for p in observed.pods if p.revision_hash == revision and not p.deleting]
    assert len(new) == 2 and all(p.ready for p in new)
    for _ in range(10):
        reconcile_once(desired, cluster)
        cluster.tick(2)
    (ds,) = plan_once(desired, cluster).daemonsets
    assert ds.progress.current == 4 and ds.errors == ()


def test_a_failed_prepull_halts_the_group_and_the_status_says_why(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_repo(repo, "1")
    cluster = SimCluster.create(namespaces=("edge",), groups=[("north", 3)])
    reconcile_once(load_desired(repo, revision="r1"), cluster)
    cluster.tick(30)
    cluster.set_image_broken("registry.example.com/agent:bad", True)
    write_repo(repo, "bad")
    desired = load_desired(repo, revision="r2")
    reconcile_once(desired, cluster)
    cluster.tick(120)
    for _ in range(3):
        result = reconcile_once(desired, cluster)
        assert not any(isinstance(r.action, DeletePod) for r in result.results)
        cluster.tick(30)
    (ds,) = plan_once(desired, cluster).daemonsets
    assert "halted" in ds.errors[0] and "3/3 nodes failed" in ds.errors[0]
    assert ds.progress.outdated == 3  # every old pod is still there and serving


def test_a_job_in_a_version_the_cluster_does_not_serve_fails_the_pass_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = tmp_path / "sim.json"
    cluster = SimCluster.create(namespaces=("edge",), groups=[("hangzhou", 2)])
    cluster.set_job_versions(["v1alpha1"])  # KubeEdge 1.16-1.20
    SimCluster.init_file(sim, cluster)
    code = main(["reconcile", str(EXAMPLE), "--cluster", f"sim:{sim}", "--once"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "ERROR NodeUpgradeJob upgrade-hangzhou-v1.17.0:" in err
    assert "v1alpha2 (KubeEdge >= 1.21) is not served" in err
    assert "create NodeUpgradeJob upgrade-example" in out  # the v1alpha1 jobs are created
    with SimCluster.open(sim, read_only=True) as cluster:
        names = sorted(j.name for j in cluster.observe().jobs)
    assert names == ["imageprepull-example", "upgrade-example"]
