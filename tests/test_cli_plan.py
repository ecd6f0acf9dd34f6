"""`gitops-edge plan` and `gitops-edge reconcile --once` against a simulated cluster file:
formats, exit codes, "plan changes nothing", an invalid revision is never applied."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gitops_edge.cli.main import main

EXAMPLE = Path(__file__).resolve().parent.parent / "example-repo"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "repo"
    shutil.copytree(EXAMPLE, target)
    return target


@pytest.fixture
def sim(tmp_path: Path) -> Path:
    state = tmp_path / "fleet.json"
    code = main(
        [
            "sim",
            "init",
            str(state),
            "--groups",
            "hangzhou=4,shanghai=5,beijing=3",
            "--group-label",
            "apps.openyurt.io/nodepool",
            "--group-label",
            "apps.kubeedge.io/belonging-to",
        ]
    )
    assert code == 0
    return state


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_changes_nothing_and_lists_creations(
    repo: Path, sim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    before = (sim.read_bytes(), sim.stat().st_mtime_ns)
    code, out, _ = run(capsys, "plan", str(repo), "--cluster", f"sim:{sim}")
    assert code == 0
    assert "create DaemonSet edge-system/log-agent-hangzhou" in out
    assert (sim.read_bytes(), sim.stat().st_mtime_ns) == before  # not even rewritten


def test_plan_json_and_markdown(repo: Path, sim: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code, out, _ = run(capsys, "plan", str(repo), "--cluster", f"sim:{sim}", "--format", "json")
    assert code == 0
    data = json.loads(out)
    names = {d["name"] for d in data["daemonsets"]}
    assert {"log-agent-hangzhou", "node-exporter-beijing", "nginx-daemonset"} <= names
    code, out, _ = run(capsys, "plan", str(repo), "--cluster", f"sim:{sim}", "--format", "markdown")
    assert code == 0
    assert out.lstrip().startswith(("#", "|", "**"))
    assert "log-agent-hangzhou" in out


def test_reconcile_once_applies_then_converges(
    repo: Path, sim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    code, out, _ = run(capsys, "reconcile", str(repo), "--cluster", f"sim:{sim}", "--once")
    assert code == 0, out
    assert "ok   create DaemonSet edge-system/log-agent-hangzhou" in out
    code, out, _ = run(capsys, "sim", "show", str(sim), "--format", "json")
    state = json.loads(out)
    names = {d["name"] for d in state["daemonsets"]}
    assert names >= {"log-agent-hangzhou", "ota-updater-shanghai"}
    assert any(p["owner"] == "log-agent-hangzhou" for p in state["pods"])
    # A second pass with nothing changed in the repository creates nothing.
    run(capsys, "sim", "tick", str(sim), "--seconds", "60")
    code, out, _ = run(capsys, "reconcile", str(repo), "--cluster", f"sim:{sim}", "--once")
    assert code == 0
    assert "create DaemonSet" not in out


def test_version_bump_plans_budgeted_deletions(
    repo: Path, sim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "reconcile", str(repo), "--cluster", f"sim:{sim}", "--once")
    run(capsys, "sim", "tick", str(sim), "--seconds", "60")
    workload = repo / "workloads" / "log-agent.yaml"
    workload.write_text(workload.read_text().replace("log-agent:1.4.2", "log-agent:1.4.9"))
    code, out, _ = run(capsys, "reconcile", str(repo), "--cluster", f"sim:{sim}", "--once")
    assert code == 0
    assert "update DaemonSet edge-system/log-agent-shanghai" in out
    # shanghai: 5 nodes, 30% → budget 2: two pods deleted in this pass, no more.
    deleted = [
        line for line in out.splitlines() if "delete pod edge-system/log-agent-shanghai" in line
    ]
    assert len(deleted) == 2, out


def test_invalid_revision_is_never_applied(
    repo: Path, sim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    (repo / "workloads" / "broken.yaml").write_text("apiVersion: apps/v1\nkind: DaemonSet\n")
    before = sim.read_bytes()
    code, _, err = run(capsys, "reconcile", str(repo), "--cluster", f"sim:{sim}", "--once")
    assert code == 1
    assert "broken.yaml:" in err
    assert "nothing was done" in err
    assert sim.read_bytes() == before


@pytest.mark.parametrize(
    ("cluster", "needle"),
    [
        ("kube", "no usable Kubernetes configuration"),
        ("kube:prod", "--cluster kube:prod"),
        ("nonsense", "sim:FILE"),
        ("sim:/nope/x.json", "sim init"),
    ],
)
def test_bad_cluster_is_a_usage_error(
    repo: Path,
    cluster: str,
    needle: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    code, _, err = run(capsys, "plan", str(repo), "--cluster", cluster)
    assert code == 2
    assert needle in err


def test_missing_path_is_a_usage_error(sim: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "plan", "/nonexistent/repo", "--cluster", f"sim:{sim}")
    assert code == 2
    assert "no such file" in err


def test_workload_that_left_the_repository_is_pruned_foreign_objects_never(
    repo: Path, sim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gitops_edge.cluster.sim import SimCluster

    run(capsys, "reconcile", str(repo), "--cluster", f"sim:{sim}", "--once")
    with SimCluster.open(sim) as cluster:  # someone else's DaemonSet, not labelled as ours
        cluster.apply_daemonset(
            {
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "metadata": {"name": "node-exporter-legacy", "namespace": "monitoring"},
                "spec": {
                    "selector": {"matchLabels": {"app": "legacy"}},
                    "template": {
                        "metadata": {"labels": {"app": "legacy"}},
                        "spec": {"containers": [{"name": "x", "image": "x/y:1"}]},
                    },
                },
            }
        )
    (repo / "workloads" / "node-exporter.yaml").unlink()
    code, out, _ = run(capsys, "reconcile", str(repo), "--cluster", f"sim:{sim}", "--once")
    assert code == 0
    assert "ok   prune DaemonSet monitoring/node-exporter-hangzhou, and its 4 pods (" in out
    assert "created by owner edge-fleet for workload node-exporter group hangzhou" in out
    _, shown, _ = run(capsys, "sim", "show", str(sim), "--format", "json")
    left = {d["name"] for d in json.loads(shown)["daemonsets"] if d["namespace"] == "monitoring"}
    assert left == {"node-exporter-legacy"}


def test_verbose_reconcile_prints_each_round(
    repo: Path, sim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    code, out, _ = run(capsys, "reconcile", str(repo), "--cluster", f"sim:{sim}", "--once", "-v")
    assert code == 0
    assert "round 1 plan:" in out and "round 2 plan:" in out
