"""The GitHub Action's steps, executed as the runner does: each `run:` of action.yml in bash,
with its `${{ … }}` expressions substituted, GITHUB_OUTPUT / GITHUB_STEP_SUMMARY / GITHUB_ENV
as temporary files and GITHUB_WORKSPACE a real git repository with a base and a head commit.
(`actions/setup-python` and the pip install step are replaced by this test's own environment.)
Golden Markdown for a one-line version bump and for an invalid change (commit hashes
normalised; `GOLDEN_UPDATE=1` rewrites them)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gitops_edge.cluster.sim import SimCluster
from gitops_edge.reconciler.reconcile import load_desired, plan_once, reconcile_once
from gitops_edge.repository.yamldoc import load_documents
from gitops_edge.source.status import status_files

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden" / "diff"
GE = str(Path(sys.executable).with_name("gitops-edge"))


def action() -> dict[str, Any]:
    docs, problems = load_documents("action.yml", (ROOT / "action.yml").read_text())
    assert problems == []
    data: dict[str, Any] = docs[0].data
    return data


def git(*args: str, cwd: Path) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "u",
        "GIT_AUTHOR_EMAIL": "u@x",
        "GIT_COMMITTER_NAME": "u",
        "GIT_COMMITTER_EMAIL": "u@x",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout


def write_status(repo: Path) -> None:
    """The status the reconciler would have committed: one real pass over a simulated fleet
    (shanghai has 2 NotReady nodes)."""
    cluster = SimCluster.create(
        groups=[("hangzhou", 4), ("shanghai", 5), ("beijing", 3)],
        group_label_keys=("apps.openyurt.io/nodepool", "apps.kubeedge.io/belonging-to"),
    )
    desired = load_desired(repo, revision="base")
    reconcile_once(desired, cluster)
    cluster.tick(30)
    cluster.set_node_ready("shanghai-02", False)
    cluster.set_node_ready("shanghai-04", False)
    (repo / "status").mkdir()
    for name, content in status_files(desired, plan_once(desired, cluster)).items():
        (repo / "status" / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / "status" / name).write_text(content)


def workspace(tmp: Path, change: str) -> Path:
    repo = tmp / "workspace"
    shutil.copytree(ROOT / "example-repo", repo)
    write_status(repo)
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "base", cwd=repo)
    workload = repo / "workloads" / "log-agent.yaml"
    if change == "bump":
        workload.write_text(workload.read_text().replace("log-agent:1.4.2", "log-agent:1.4.3"))
    else:
        workload.write_text(
            workload.read_text().replace("maxUnavailable: 30%", "maxUnavailable: thirty")
        )
    git("commit", "-qam", change, cwd=repo)
    return repo


def read_outputs(text: str) -> list[tuple[str, str]]:
    """GITHUB_OUTPUT as the runner reads it: NAME=VALUE lines and NAME<<DELIMITER blocks."""
    found = []
    lines = iter(text.splitlines())
    for line in lines:
        equals, heredoc = line.find("="), line.find("<<")
        if equals >= 0 and (heredoc < 0 or equals < heredoc):
            found.append((line[:equals], line[equals + 1 :]))
        elif heredoc >= 0:
            name, delimiter = line[:heredoc], line[heredoc + 2 :]
            value = []
            for block_line in lines:
                if block_line == delimiter:
                    break
                value.append(block_line)
            else:
                raise AssertionError(f"{name}: no closing delimiter {delimiter!r}")
            found.append((name, "\n".join(value)))
    return found


def run_action(tmp: Path, repo: Path, inputs: dict[str, str]) -> dict[str, Any]:
    files = {name: tmp / name for name in ("output", "summary", "env")}
    for file in files.values():
        file.write_text("")
    spec = action()
    values = {k: str(v.get("default", "")) for k, v in spec["inputs"].items()} | inputs
    outputs: dict[str, str] = {}
    logs = []
    for step in spec["runs"]["steps"]:
        if "uses" in step or step.get("id") == "install":
            continue
        condition = str(step.get("if", ""))
        if "steps.validate.outputs.valid != 'true'" in condition and outputs.get("valid") == "true":
            continue

        def expand(text: str) -> str:
            text = re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: values[m[1]], text)
            text = text.replace("${{ github.workspace }}", str(repo))
            return text.replace("${{ github.base_ref }}", "")

        env = {
            **os.environ,
            "GE": GE,
            "RUNNER_TEMP": str(tmp),
            "GITHUB_OUTPUT": str(files["output"]),
            "GITHUB_STEP_SUMMARY": str(files["summary"]),
            "GITHUB_ENV": str(files["env"]),
            "GITHUB_WORKSPACE": str(repo),
            **{k: expand(str(v)) for k, v in (step.get("env") or {}).items()},
        }
        done = subprocess.run(  # one stream, in order, as the runner reads it
            ["bash", "-e", "-o", "pipefail", "-c", expand(step["run"])],
            cwd=expand(step.get("working-directory", str(repo))),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=300,
        )
        logs.append((step.get("id"), done.returncode, done.stdout, ""))
        outputs.update(read_outputs(files["output"].read_text()))
    return {"outputs": outputs, "summary": files["summary"].read_text(), "logs": logs}


def normalised(markdown: str) -> str:
    return re.sub(r"`[0-9a-f]{12}`", "`<sha>`", markdown)


def check_golden(name: str, actual: str) -> None:
    golden = GOLDEN / name
    if os.environ.get("GOLDEN_UPDATE"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual)
    assert actual == golden.read_text()


def test_action_is_composite_with_the_documented_inputs_and_outputs() -> None:
    spec = action()
    assert spec["runs"]["using"] == "composite"
    assert set(spec["inputs"]) == {"path", "base-ref", "python-version", "fail-on-warnings"}
    assert set(spec["outputs"]) == {"valid", "changed", "plan-json"}


def test_version_bump_preview(tmp_path: Path) -> None:
    repo = workspace(tmp_path, "bump")
    result = run_action(tmp_path, repo, {"base-ref": "HEAD~1"})
    assert [code for _, code, _, _ in result["logs"]] == [0, 0]
    outputs = result["outputs"]
    assert outputs["valid"] == "true"
    assert outputs["changed"] == "log-agent/beijing,log-agent/shanghai"
    assert Path(outputs["plan-json"]).is_file()
    check_golden("version-bump.md", normalised(result["summary"]))


def test_invalid_change_annotates_and_fails(tmp_path: Path) -> None:
    repo = workspace(tmp_path, "invalid")
    result = run_action(tmp_path, repo, {"base-ref": "HEAD~1"})
    (_, _, validate_out, _) = result["logs"][0]
    assert "::error file=workloads/log-agent.yaml,line=" in validate_out
    assert result["outputs"]["valid"] == "false"
    assert result["outputs"]["changed"] == ""
    assert result["logs"][-1][1] == 1  # the final step fails the job
    check_golden("invalid-change.md", normalised(result["summary"]))


def test_example_workflow_uses_the_action_and_reconciles_on_a_schedule() -> None:
    text = (ROOT / "example-repo" / ".github" / "workflows" / "gitops-edge.yaml").read_text()
    docs, problems = load_documents("workflow", text)
    assert problems == []
    workflow = docs[0].data
    assert "pull_request" in workflow["on"] and workflow["on"]["schedule"]
    steps = workflow["jobs"]["reconcile"]["steps"]
    assert any("--once" in str(s.get("run", "")) for s in steps)
    assert any(
        str(s.get("uses", "")).endswith("gitops-edge@v0.1.0")
        for s in workflow["jobs"]["preview"]["steps"]
    )


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_diff_formats(tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    from gitops_edge.cli.main import main

    repo = workspace(tmp_path, "bump")
    assert main(["diff", str(repo), "--base", "HEAD~1", "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert "log-agent:1.4.3" in out


def test_diff_bad_input_is_a_clear_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gitops_edge.cli.main import main

    repo = workspace(tmp_path, "bump")
    before = git("rev-parse", "HEAD", cwd=repo)
    assert main(["diff", str(repo), "--base", "no-such-rev"]) == 2
    assert "cannot read revision 'no-such-rev'" in capsys.readouterr().err
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    assert main(["diff", str(outside), "--base", "HEAD~1"]) == 2
    assert "not inside a git repository" in capsys.readouterr().err
    assert git("rev-parse", "HEAD", cwd=repo) == before
    assert git("status", "--porcelain", cwd=repo) == ""  # the working tree is untouched
