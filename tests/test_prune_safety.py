"""Issue 14, items 4 and 5: pruning touches only what this source owns, and never everything by
accident. Planner rules on hand-built values, then whole passes of the command line against
one simulated cluster shared by two repositories (and two folders of one repository)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from planner_fixtures import OURS, desired_ds, fleet, observed, observed_ds, pod, state
from repo_config import write_config

from gitops_edge.cli.main import main
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model.desired import (
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    OWNER_LABEL,
    DesiredState,
    RepoConfig,
)
from gitops_edge.model.observed import JobObs, Observed
from gitops_edge.planner import plan
from gitops_edge.reconciler.reconcile import load_desired
from gitops_edge.reports.plan_format import plan_to_dict, render_markdown, render_text
from gitops_edge.source.status import summary_markdown

EXAMPLE = Path(__file__).resolve().parent.parent / "example-repo"

# ── planner rules ────────────────────────────────────────────────────────────────────────────


def test_only_daemonsets_carrying_this_owner_are_pruned() -> None:
    nodes, pods = fleet(2)
    mine = observed_ds("gone")
    other_repo = observed_ds("theirs", labels={**OURS, OWNER_LABEL: "team-b"})
    legacy = observed_ds("legacy", labels={MANAGED_BY_LABEL: MANAGED_BY_VALUE})
    unmanaged = observed_ds("foreign", labels={})
    result = plan(state(), observed(nodes, pods, mine, other_repo, legacy, unmanaged))
    # `state()` defines no DaemonSet: that would prune everything, refused by default.
    assert result.prunes == () and len(result.prune_errors) == 1
    assert "would prune every workload owner test-repo has" in result.prune_errors[0]
    assert "spec.prune.allowEmpty: true" in result.prune_errors[0]
    assert ("pruning for owner test-repo", result.prune_errors[0]) in result.errors
    allowed = plan(
        state(allow_empty=True), observed(nodes, pods, mine, other_repo, legacy, unmanaged)
    )
    assert [p.name for p in allowed.prunes] == ["gone"]
    assert allowed.prune_errors == ()
    assert [o.name for o in allowed.orphans] == ["legacy"]
    assert f"label it {OWNER_LABEL}=test-repo" in allowed.orphans[0].reason


def test_a_prune_names_the_pods_it_removes() -> None:
    nodes, _ = fleet(3)
    gone = observed_ds("gone")
    kept = observed_ds("app")
    pods = tuple(pod(n.name, owner="gone") for n in nodes)
    result = plan(state(desired_ds("app")), observed(nodes, pods, kept, gone))
    (prune,) = result.prunes
    assert prune.pods == ("gone-n00-old", "gone-n01-old", "gone-n02-old")
    assert "and its 3 pods (gone-n00-old, gone-n01-old, gone-n02-old)" in prune.reason
    assert plan_to_dict(result)["prunes"][0]["pods"] == list(prune.pods)


def test_a_daemonset_of_another_owner_is_never_taken_over() -> None:
    nodes, pods = fleet(3)
    theirs = observed_ds("app", labels={**OURS, OWNER_LABEL: "team-b"}, spec_hash="other")
    result = plan(state(desired_ds("app")), observed(nodes, pods, theirs))
    (ds,) = result.daemonsets
    assert ds.actions == ()
    assert "belongs to owner team-b" in ds.errors[0]


def test_node_jobs_of_another_owner_or_none_are_never_pruned() -> None:
    def job(name: str, labels: dict[str, str]) -> JobObs:
        return JobObs(
            api_version="operations.kubeedge.io/v1alpha1",
            kind="NodeUpgradeJob",
            name=name,
            spec_hash="h",
            managed=True,
            labels=labels,
        )

    jobs = (
        job("mine", dict(OURS)),
        job("theirs", {**OURS, OWNER_LABEL: "team-b"}),
        job("legacy", {MANAGED_BY_LABEL: MANAGED_BY_VALUE}),
    )
    desired = DesiredState(
        revision="r",
        config=RepoConfig(owner="test-repo", prune_jobs=True),
        groups=(),
        daemonsets=(),
    )
    cluster = Observed(
        now=0.0, nodes=(), daemonsets=(), pods=(), jobs=jobs, job_versions=("v1alpha1",)
    )
    pruning = plan(desired, cluster)
    by_name = {j.name: j for j in pruning.jobs}
    assert set(by_name) == {"mine", "legacy"}  # another owner's job is not ours to report
    assert by_name["mine"].actions and not by_name["legacy"].actions
    assert "never pruned" in by_name["legacy"].notes[0]


def test_plan_formats_and_status_show_orphans_and_a_refused_prune() -> None:
    nodes, pods = fleet(1)
    legacy = observed_ds("legacy", labels={MANAGED_BY_LABEL: MANAGED_BY_VALUE})
    result = plan(state(), observed(nodes, pods, observed_ds("gone"), legacy))
    text = render_text(result)
    assert "error: this revision would prune every workload" in text
    assert "orphan: DaemonSet edge/legacy is managed by gitops-edge" in text
    body = plan_to_dict(result)
    assert body["owner"] == "test-repo" and body["summary"]["errors"] == 1
    assert [o["name"] for o in body["orphans"]] == ["legacy"]
    assert "**Orphans** (never pruned)" in render_markdown(result)
    summary = summary_markdown(state(), result)
    assert "## Pruning (owner `test-repo`)" in summary and "- **refused**:" in summary


# ── whole passes: two sources, one cluster ───────────────────────────────────────────────────

DAEMONSET = """apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {name}
  annotations:
    apps.openyurt.io/update-strategy: AdvancedRollingUpdate
spec:
  selector:
    matchLabels: {{app: {name}}}
  updateStrategy:
    type: OnDelete
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: main
          image: nginx:1.19.4
"""


def source(root: Path, *, name: str, daemonsets: list[str]) -> Path:
    write_config(root, name=name)
    for ds in daemonsets:
        (root / f"{ds}.yaml").write_text(DAEMONSET.format(name=ds))
    return root


def reconcile(
    root: Path, sim: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str]:
    code = main(["reconcile", str(root), "--cluster", f"sim:{sim}", "--once", *extra])
    out, err = capsys.readouterr()
    return code, out + err


def names(sim: Path) -> set[str]:
    with SimCluster.open(sim, read_only=True) as cluster:
        return {d.name for d in cluster.observe().daemonsets}


@pytest.fixture
def sim(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.json"
    SimCluster.init_file(path, SimCluster.create(groups=[("edge", 3)]))
    return path


def test_two_repositories_in_one_cluster_never_prune_each_other(
    tmp_path: Path, sim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = source(tmp_path / "a", name="team-a", daemonsets=["app-a", "app-a2"])
    b = source(tmp_path / "b", name="team-b", daemonsets=["app-b"])
    for root in (a, b, a, b):
        assert reconcile(root, sim, capsys)[0] == 0
    assert names(sim) == {"app-a", "app-a2", "app-b"}
    with SimCluster.open(sim, read_only=True) as cluster:
        owners = {d.name: d.labels[OWNER_LABEL] for d in cluster.observe().daemonsets}
    assert owners == {"app-a": "team-a", "app-a2": "team-a", "app-b": "team-b"}
    (a / "app-a2.yaml").unlink()  # A prunes its own, and only its own
    code, out = reconcile(a, sim, capsys)
    assert code == 0 and "prune DaemonSet default/app-a2, and its 3 pods" in out
    assert names(sim) == {"app-a", "app-b"}


def test_two_folders_of_one_repository_never_prune_each_other(
    tmp_path: Path, sim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "fleet"
    north = source(repo / "north", name="fleet-north", daemonsets=["agent-north"])
    south = source(repo / "south", name="fleet-south", daemonsets=["agent-south"])
    for root in (north, south, north):
        assert reconcile(root, sim, capsys)[0] == 0
    assert names(sim) == {"agent-north", "agent-south"}


def test_a_revision_removing_every_workload_prunes_nothing_unless_allowed(
    tmp_path: Path, sim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = source(tmp_path / "a", name="team-a", daemonsets=["app-a", "app-a2"])
    assert reconcile(a, sim, capsys)[0] == 0
    for ds in ("app-a", "app-a2"):
        (a / f"{ds}.yaml").unlink()
    code, out = reconcile(a, sim, capsys)
    assert code == 1
    assert "would prune every workload owner team-a has in the cluster (2 DaemonSets" in out
    assert names(sim) == {"app-a", "app-a2"}
    config = a / "gitops-edge.yaml"
    config.write_text(
        config.read_text().replace("spec: {}", "spec:\n  prune:\n    allowEmpty: true")
    )
    code, out = reconcile(a, sim, capsys)
    assert code == 0 and names(sim) == set()


def test_a_revision_without_gitops_edge_yaml_applies_nothing(
    tmp_path: Path, sim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = source(tmp_path / "a", name="team-a", daemonsets=["app-a"])
    assert reconcile(a, sim, capsys)[0] == 0
    (a / "gitops-edge.yaml").unlink()
    (a / "app-a.yaml").unlink()
    code, out = reconcile(a, sim, capsys)
    assert code == 1 and "gitops-edge.yaml at the root of the repository is missing" in out
    assert names(sim) == {"app-a"}


def test_daemonsets_from_before_owner_identities_are_orphans_never_pruned(
    tmp_path: Path, sim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = source(tmp_path / "a", name="team-a", daemonsets=["app-a"])
    with SimCluster.open(sim) as cluster:  # as an earlier gitops-edge created it
        manifest = json.loads(json.dumps(DAEMONSET_OBJ))
        cluster.apply_daemonset(manifest)
    code, out = reconcile(a, sim, capsys)
    assert code == 0
    assert "orphan: DaemonSet default/old-agent is managed by gitops-edge but carries no" in out
    assert names(sim) == {"app-a", "old-agent"}


DAEMONSET_OBJ = {
    "apiVersion": "apps/v1",
    "kind": "DaemonSet",
    "metadata": {
        "name": "old-agent",
        "namespace": "default",
        "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE},
    },
    "spec": {
        "selector": {"matchLabels": {"app": "old"}},
        "updateStrategy": {"type": "OnDelete"},
        "template": {
            "metadata": {"labels": {"app": "old"}},
            "spec": {"containers": [{"name": "x", "image": "x/y:1"}]},
        },
    },
}


def test_example_repo_objects_carry_its_owner_identity(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo)
    desired = load_desired(repo, revision="r")
    assert desired.config.owner == "edge-fleet"
    for ds in desired.daemonsets:
        labels = json.loads(ds.manifest_json)["metadata"]["labels"]
        assert labels[OWNER_LABEL] == "edge-fleet" and ds.owner == "edge-fleet"
    for job in desired.jobs:
        assert json.loads(job.manifest_json)["metadata"]["labels"][OWNER_LABEL] == "edge-fleet"
