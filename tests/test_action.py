"""The GitHub Action's steps, executed as the runner does: each `run:` of action.yml in bash,
with its `${{ … }}` expressions substituted, GITHUB_OUTPUT / GITHUB_STEP_SUMMARY / GITHUB_ENV
as temporary files and GITHUB_WORKSPACE a real git repository with a base and a head commit.
(`actions/setup-python` and the pip install step are replaced by this test's own environment.)
Golden Markdown for a one-line version bump and for an invalid change (commit hashes
normalised; `GOLDEN_UPDATE=1` rewrites them)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from github_standin import TOKEN
from workflow_expressions import substitute

from gitops_edge.cluster.sim import SimCluster
from gitops_edge.reconciler.reconcile import load_desired, plan_once, reconcile_once
from gitops_edge.repository.yamldoc import load_documents
from gitops_edge.source.status import status_files

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden" / "diff"
GE = str(Path(sys.executable).with_name("gitops-edge"))
RUNNER_TOKEN = TOKEN  # the workflow's token (`github.token`), as the stand-in API accepts it


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
    elif change == "comment":  # nothing to roll out
        workload.write_text("# reviewed\n" + workload.read_text())
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


def run_action(
    tmp: Path, repo: Path, inputs: dict[str, str], runner_env: dict[str, str] | None = None
) -> dict[str, Any]:
    """The steps in order, as the runner runs a composite action: after a failed step only the
    steps whose `if:` is `always()` run (any other condition is refused here rather than
    guessed); each step has its own GITHUB_OUTPUT; the action's outputs are its `value`
    expressions over the steps' outputs. `runner_env` is what the runner sets for every step
    (GITHUB_EVENT_PATH, GITHUB_REPOSITORY, GITHUB_API_URL …); `${{ github.token }}` is
    RUNNER_TOKEN."""
    files = {name: tmp / name for name in ("output", "summary", "env")}
    for file in files.values():
        file.write_text("")
    spec = action()
    values = {k: str(v.get("default", "")) for k, v in spec["inputs"].items()} | inputs
    outputs: dict[str, str] = {}
    steps: dict[str, dict[str, Any]] = {}
    logs = []
    failed = False
    for step in spec["runs"]["steps"]:
        if "uses" in step or step.get("id") == "install":
            continue
        condition = str(step.get("if", "")).strip()
        assert condition in ("", "always()"), f"unsupported step condition {condition!r}"
        if failed and condition != "always()":
            continue

        def expand(text: str) -> str:
            text = re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: values[m[1]], text)
            text = text.replace("${{ github.workspace }}", str(repo))
            text = text.replace("${{ github.base_ref }}", "")
            text = text.replace("${{ github.token }}", RUNNER_TOKEN)
            return substitute(text, {"steps": steps})

        files["output"].write_text("")
        env = {
            **os.environ,
            "GE": GE,
            "RUNNER_TEMP": str(tmp),
            "GITHUB_OUTPUT": str(files["output"]),
            "GITHUB_STEP_SUMMARY": str(files["summary"]),
            "GITHUB_ENV": str(files["env"]),
            "GITHUB_WORKSPACE": str(repo),
            **(runner_env or {}),
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
        failed = failed or done.returncode != 0
        logs.append((step.get("id"), done.returncode, done.stdout, ""))
        step_outputs = dict(read_outputs(files["output"].read_text()))
        outputs.update(step_outputs)
        if step.get("id"):
            steps[step["id"]] = {"outputs": step_outputs}
    action_outputs = {
        name: substitute(str(spec_output["value"]), {"steps": steps})
        for name, spec_output in spec["outputs"].items()
    }
    return {
        "outputs": outputs,
        "action_outputs": action_outputs,
        "failed": failed,
        "summary": files["summary"].read_text(),
        "logs": logs,
    }


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
    assert set(spec["inputs"]) == {
        "path",
        "base-ref",
        "python-version",
        "fail-on-warnings",
        "comment",
        "github-token",
    }
    assert spec["inputs"]["comment"]["default"] == "false"
    assert spec["inputs"]["github-token"]["default"] == "${{ github.token }}"
    assert set(spec["outputs"]) == {
        "valid",
        "changed",
        "diff-json",
        "plan-json",
        "comment",
        "error",
    }
    deprecated = spec["outputs"]["plan-json"]
    assert "deprecated" in deprecated["description"].lower()
    assert deprecated["value"] == spec["outputs"]["diff-json"]["value"]


def test_version_bump_preview(tmp_path: Path) -> None:
    repo = workspace(tmp_path, "bump")
    result = run_action(tmp_path, repo, {"base-ref": "HEAD~1"})
    assert [code for _, code, _, _ in result["logs"]] == [0, 0, 0, 0]
    assert not result["failed"]
    outputs = result["action_outputs"]
    assert outputs["valid"] == "true"
    assert outputs["changed"] == "log-agent/beijing,log-agent/shanghai"
    assert outputs["error"] == ""
    assert outputs["plan-json"] == outputs["diff-json"]
    preview = json.loads(Path(outputs["diff-json"]).read_text())
    assert "error" not in preview and len(preview["changes"]) == 2
    assert "::error" not in "".join(out for _, _, out, _ in result["logs"])
    check_golden("version-bump.md", normalised(result["summary"]))


def test_the_preview_runs_diff_with_exit_code() -> None:
    """1 (something changes) is the preview's normal result, not a failure (tests below)."""
    diff_step = next(s for s in action()["runs"]["steps"] if s.get("id") == "diff")
    assert "--format json --exit-code" in diff_step["run"]


def test_a_change_with_nothing_to_roll_out_is_green_and_unchanged(tmp_path: Path) -> None:
    repo = workspace(tmp_path, "comment")
    result = run_action(tmp_path, repo, {"base-ref": "HEAD~1"})
    assert [code for _, code, _, _ in result["logs"]] == [0, 0, 0, 0]
    assert not result["failed"]
    outputs = result["action_outputs"]
    assert (outputs["valid"], outputs["changed"], outputs["error"]) == ("true", "", "")
    assert json.loads(Path(outputs["diff-json"]).read_text())["changes"] == []
    assert "### gitops-edge failed" not in result["summary"]


def test_invalid_change_annotates_and_fails(tmp_path: Path) -> None:
    repo = workspace(tmp_path, "invalid")
    result = run_action(tmp_path, repo, {"base-ref": "HEAD~1"})
    (_, _, validate_out, _) = result["logs"][0]
    assert "::error file=workloads/log-agent.yaml,line=" in validate_out
    assert result["outputs"]["valid"] == "false"
    assert result["outputs"]["changed"] == ""
    assert result["logs"][-1][1] == 1  # the final step fails the job
    check_golden("invalid-change.md", normalised(result["summary"]))


def error_annotations(result: dict[str, Any]) -> list[str]:
    """The messages of the `::error::` commands the steps printed (data unescaped)."""
    found = []
    for _, _, out, _ in result["logs"]:
        for line in out.splitlines():
            if line.startswith("::error::"):
                data = line.removeprefix("::error::")
                found.append(data.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%"))
    return found


@pytest.mark.parametrize(
    ("change", "inputs", "message"),
    [
        ("bump", {"base-ref": "no-such-rev"}, "cannot read revision 'no-such-rev'"),
        ("bump", {"base-ref": "HEAD~1", "path": "no-such-folder"}, "no-such-folder: no such file"),
        ("invalid", {"base-ref": "HEAD~1"}, "the desired state is invalid"),
    ],
    ids=["bad-base-ref", "bad-path", "invalid-repository"],
)
def test_every_failure_fails_the_action_and_says_why(
    tmp_path: Path, change: str, inputs: dict[str, str], message: str
) -> None:
    repo = workspace(tmp_path, change)
    result = run_action(tmp_path, repo, inputs)
    assert result["failed"]
    assert result["logs"][-1][0] == "report" and result["logs"][-1][1] == 1
    found = [m for m in error_annotations(result) if message in m]
    assert len(found) == 1, error_annotations(result)
    section = result["summary"].split("### gitops-edge failed\n", 1)
    assert len(section) == 2 and message in section[1]
    outputs = result["action_outputs"]
    assert outputs["changed"] == ""
    assert message in outputs["error"]  # the explicit failure beside an empty `changed`
    assert outputs["plan-json"] == outputs["diff-json"] != ""
    preview = json.loads(Path(outputs["diff-json"]).read_text())
    assert message in preview["error"]


def test_example_workflow_uses_the_action_and_reconciles_on_a_schedule() -> None:
    text = (ROOT / "example-repo" / ".github" / "workflows" / "gitops-edge.yaml").read_text()
    docs, problems = load_documents("workflow", text)
    assert problems == []
    workflow = docs[0].data
    assert "pull_request" in workflow["on"] and workflow["on"]["schedule"]
    steps = workflow["jobs"]["reconcile"]["steps"]
    assert any("--once" in str(s.get("run", "")) for s in steps)
    assert any(
        str(s.get("uses", "")).endswith("gitops-edge@v0.1.0") and s["with"]["comment"] is True
        for s in workflow["jobs"]["preview"]["steps"]
    )
    assert workflow["jobs"]["preview"]["permissions"]["pull-requests"] == "write"


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
