"""Issue 16 item 7: nothing the GitHub Action prints from the repository is a workflow command.

The Actions runner reads every output line of a step, stdout and stderr alike, and executes it
as a workflow command when, after leading whitespace, it starts with `::` (`::error::`,
`::add-mask::`, `::stop-commands::TOKEN` …), or when it holds the legacy `##[command]` form
anywhere (actions/runner `ActionCommand.TryParseV2` / `TryParse`, tried in that order by
`ActionCommandManager.TryProcessCommand`). `runner_commands` below replays those rules, with
`stop-commands` pausing everything until its token, over what gitops-edge and the Action print
for a pull request whose file names, YAML keys and values are workflow commands.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import test_action
from test_action import git, read_outputs, run_action

import gitops_edge
from gitops_edge.cli.main import main
from gitops_edge.reports import diff
from gitops_edge.repository.validation import validate_repository
from gitops_edge.repository.yamldoc import load_documents

# The checkout under test (its action.yml and example-repo go with its code)
ROOT = Path(gitops_edge.__file__).resolve().parents[1]

# actions/runner: every command extension plus stop-commands (ActionCommandManager)
REGISTERED = {
    "set-env",
    "set-output",
    "save-state",
    "add-mask",
    "add-path",
    "add-matcher",
    "remove-matcher",
    "debug",
    "notice",
    "warning",
    "error",
    "group",
    "endgroup",
    "echo",
    "stop-commands",
}

# The pull request's new files: each name is (or hides) a workflow command.
HOSTILE_NAMES = (
    "::error::x",
    "a\n::set-output name=valid::true",
    "::add-mask::x",
    "::stop-commands::t",
    "%0A::warning::",
    "a|b`c`<script>x",
    " ::notice::leading-space",
    "\t::echo::on",
    "\u3000::save-state name=s::v",  # .NET TrimStart() drops Unicode spaces too
    "\u2028::group::line-separator",
    "x\r::debug::carriage-return",
    "##[endgroup]legacy-anywhere",
    "```<img src=x onerror=alert(1)>",
)
# The files as every output shows them (annotations included): what is not printable escaped.
SHOWN_FILES = {
    "::error::x.yaml",
    "a\\n::set-output name=valid::true.yaml",
    "::add-mask::x.yaml",
    "::stop-commands::t.yaml",
    "%0A::warning::.yaml",
    "a|b`c`<script>x.yaml",
    " ::notice::leading-space.yaml",
    "\\t::echo::on.yaml",
    "\\u3000::save-state name=s::v.yaml",
    "\\u2028::group::line-separator.yaml",
    "x\\r::debug::carriage-return.yaml",
    "##[endgroup]legacy-anywhere.yaml",
    "```<img src=x onerror=alert(1)>.yaml",
    "keys.yaml",
}
# YAML keys and values that reach messages and JSON paths
HOSTILE_YAML = """\
apiVersion: gitops-edge.io/v1alpha1
kind: NodeGroup
metadata:
  name: "bad\\n::error::name"
spec:
  "\\n::error::key": 1
  "##[warning]legacy-key": "v"
  nodes: ["::add-mask::node\\n::set-output name=valid::true"]
"""


@dataclass(frozen=True)
class Command:
    name: str
    properties: dict[str, str] = field(default_factory=dict)
    data: str = ""


def _unescape(text: str, pairs: tuple[tuple[str, str], ...]) -> str:
    for escaped, raw in pairs:
        text = text.replace(escaped, raw)
    return text


_DATA = (("%0D", "\r"), ("%0A", "\n"), ("%25", "%"))
_PROPERTY = (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%"))
_LEGACY = (("%3B", ";"), ("%0D", "\r"), ("%0A", "\n"), ("%5D", "]"), ("%25", "%"))


def _parse_v2(line: str, registered: set[str]) -> Command | None:
    message = line.lstrip()  # C# TrimStart(): any Unicode whitespace
    if not message.startswith("::"):
        return None
    end = message.find("::", 2)
    if end < 0:
        return None
    info = message[2:end]
    name, _, props = info.partition(" ")
    if name.lower() not in registered:
        return None
    properties = {}
    for prop in (p for p in props.strip().split(",") if p):
        key, sep, value = prop.partition("=")
        if key and sep and value:
            properties[key] = _unescape(value, _PROPERTY)
    return Command(name.lower(), properties, _unescape(message[end + 2 :], _DATA))


def _parse_v1(line: str, registered: set[str]) -> Command | None:
    start = line.find("##[")
    if start < 0:
        return None
    end = line.find("]", start)
    if end < 0:
        return None
    name, _, props = line[start + 3 : end].partition(" ")
    if name.lower() not in registered:
        return None
    properties = {}
    for prop in (p for p in props.split(";") if p):
        key, sep, value = prop.partition("=")
        if key and sep and value:
            properties[key] = _unescape(value, _LEGACY)
    return Command(name.lower(), properties, _unescape(line[end + 1 :], _LEGACY))


def runner_commands(output: str) -> list[Command]:
    """The workflow commands the runner executes for this output (lines split like .NET's
    ReadLine: at \\r\\n, \\r or \\n); `stop-commands` and its resume token included."""
    registered = set(REGISTERED)
    stop_token: str | None = None
    executed = []
    for line in output.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        command = _parse_v2(line, registered) or _parse_v1(line, registered)
        if command is None:
            continue
        if stop_token is not None:
            if command.name == stop_token.lower():
                registered.discard(stop_token.lower())
                stop_token = None
                executed.append(command)
            continue
        if command.name == "stop-commands":
            stop_token = command.data
            registered.add(stop_token.lower())
        executed.append(command)
    return executed


def assert_paused(*commands: Command) -> None:
    """`::stop-commands::TOKEN` then `::TOKEN::`, with a token no one can guess."""
    pause, resume = commands
    assert pause.name == "stop-commands" and len(pause.data) >= 32
    assert resume == Command(pause.data.lower())


def lines_starting_with_colons(text: str) -> list[str]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [line for line in lines if line.lstrip().startswith("::")]


def commit_all(repo: Path, message: str) -> None:
    git("add", "-A", cwd=repo)
    git("commit", "-qm", message, cwd=repo)


@pytest.fixture(scope="module")
def hostile_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """example-repo as the base commit; the pull request adds the hostile files."""
    repo = tmp_path_factory.mktemp("hostile") / "workspace"
    shutil.copytree(ROOT / "example-repo", repo)
    git("init", "-q", "-b", "main", cwd=repo)
    commit_all(repo, "base")
    for name in HOSTILE_NAMES:
        (repo / f"{name}.yaml").write_text("apiVersion: v1\nkind: Bogus\n")
    (repo / "keys.yaml").write_text(HOSTILE_YAML)
    commit_all(repo, "hostile pull request")
    return repo


@pytest.mark.parametrize("fmt", ["markdown", "json", "text"])
def test_diff_of_hostile_names_prints_no_workflow_command(
    hostile_repo: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # an invalid head is an error, 2 (it was 1 before `diff --exit-code` gave 1 to "changes")
    assert main(["diff", str(hostile_repo), "--base", "HEAD~1", "--format", fmt]) == 2
    out, err = capsys.readouterr()
    assert runner_commands(out) == []
    assert runner_commands(err) == []
    assert lines_starting_with_colons(out + "\n" + err) == []
    # every problem is still reported, one line each, names shown escaped
    assert "./::error::x.yaml:2:7: kind: unsupported kind 'Bogus'" in err
    assert "a\\n::set-output name=valid::true.yaml:2:7:" in err
    assert "x\\r::debug::carriage-return.yaml:2:7:" in err
    assert "./ ::notice::leading-space.yaml:2:7:" in err
    assert "\\u3000::save-state name=s::v.yaml:2:7:" in err
    assert "#\\x23[endgroup]legacy-anywhere.yaml:2:7:" in err
    assert "spec.\\n::error::key: unknown field" in err
    problems = validate_repository(hostile_repo).diagnostics
    assert len(err.splitlines()) == len(problems) + 1  # + the closing error line


def test_diff_error_naming_a_hostile_folder_is_not_a_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "a\n::add-mask::p\n  ::error::q"
    folder.mkdir()
    assert main(["diff", str(folder), "--base", "HEAD~1"]) == 2
    err = capsys.readouterr().err
    assert runner_commands(err) == []
    assert lines_starting_with_colons(err) == []
    assert "\n\\x3a:add-mask::p\n  \\x3a:error::q: not inside a git repository" in err


def test_invalid_head_in_the_job_summary_stays_in_its_code_block(
    hostile_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["diff", str(hostile_repo), "--base", "HEAD~1", "--format", "markdown"])
    lines = capsys.readouterr().out.splitlines()
    fences = [i for i, line in enumerate(lines) if re.fullmatch(r"`{3,}(text)?", line)]
    assert len(fences) == 2  # the file named ```… does not close the block early
    start, end = fences
    assert lines[start] == lines[end] + "text" and len(lines[end]) > 3
    assert end == len(lines) - 1
    assert any(line.startswith("```<img src=x") for line in lines[start + 1 : end])


def _hostile_report() -> diff.DiffReport:
    evil = "evil|`tick`<script>alert(1)</script>\n::error::x ##[add-mask]y ***bold** [l](u)"
    change = diff.Change(
        kind="changed",
        namespace="ns\n::set-output name=valid::true",
        name=evil,
        workload=evil,
        group="g|\r::warning::g",
        details=(f"image a → {evil}", "##[stop-commands]t"),
        images_before=("a",),
        images_after=(evil,),
        impact=diff.Impact(nodes=3, deferred=1, max_down=1, passes=2),
    )
    return diff.DiffReport(
        base="0" * 40,
        head="1" * 40,
        changes=(change,),
        jobs=(f"NodeUpgradeJob {evil} added: created on the next pass",),
        has_status=True,
    )


@pytest.mark.parametrize("fmt", ["markdown", "json", "text"])
def test_diff_renders_hostile_values_without_commands_or_broken_markup(
    tmp_path: Path,
    fmt: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Defence in depth: names that validation refuses today must still print safely."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "example-repo", repo)
    git("init", "-q", "-b", "main", cwd=repo)
    commit_all(repo, "base")
    (repo / "README").write_text("x\n")
    commit_all(repo, "head")
    report = _hostile_report()
    monkeypatch.setattr(diff, "compare", lambda *_args, **_kw: report)
    assert main(["diff", str(repo), "--base", "HEAD~1", "--format", fmt]) == 0
    out, err = capsys.readouterr()
    assert runner_commands(out + "\n" + err) == []
    assert lines_starting_with_colons(out + "\n" + err) == []
    if fmt == "json":
        assert json.loads(out) == diff.to_dict(report)  # the data itself is unchanged
    elif fmt == "text":
        assert len(out.splitlines()) == 3  # change, impact, job: one line each
    else:
        rows = [line for line in out.splitlines() if line.startswith("|")]
        assert len(rows) == 3  # header, rule, the one change
        cells = rows[2].replace("\\|", "").split("|")
        assert len(cells) == 9  # 7 cells between 8 pipes
        assert "<script" not in out and "`tick`" not in out
        assert "&lt;script&gt;" in out and "\\`tick\\`" in out
        job_lines = [line for line in out.splitlines() if line.startswith("- ")]
        assert len(job_lines) == 1 and "<script" not in job_lines[0]


def test_validate_github_annotations_are_the_only_commands(
    hostile_repo: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "checkout"
    shutil.copytree(hostile_repo, folder, ignore=shutil.ignore_patterns(".git"))
    undecodable = os.fsdecode(b"\xff::error::not-utf8.yaml")
    (folder / undecodable).write_text("apiVersion: v1\nkind: Bogus\n")
    done = subprocess.run(
        [sys.executable, "-m", "gitops_edge", "validate", ".", "--format", "github"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert done.returncode == 1, done.stderr
    commands = runner_commands(done.stdout + "\n" + done.stderr)
    problems = validate_repository(folder).diagnostics
    assert len(commands) == len(problems)
    assert {c.name for c in commands} == {"error"}
    files = {c.properties["file"] for c in commands}
    assert files == SHOWN_FILES | {"\\xff::error::not-utf8.yaml"}
    assert any(c.data.startswith("spec.\n::error::key: unknown field") for c in commands)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_validate_text_and_json_print_no_workflow_command(
    hostile_repo: Path, tmp_path: Path, fmt: str
) -> None:
    """Outside the Action too (a CI step running `validate`), a hostile file name or YAML key
    never starts a line with `::` nor holds `##[`."""
    folder = tmp_path / "checkout"
    shutil.copytree(hostile_repo, folder, ignore=shutil.ignore_patterns(".git"))
    (folder / "##[error]legacy.yaml").write_text("apiVersion: v1\nkind: Bogus\n")
    done = subprocess.run(
        [sys.executable, "-m", "gitops_edge", "validate", ".", "--format", fmt],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert done.returncode == 1, done.stderr
    output = done.stdout + "\n" + done.stderr
    assert runner_commands(output) == []
    assert lines_starting_with_colons(output) == []


def test_action_runs_only_its_own_commands(
    hostile_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(test_action, "ROOT", ROOT)  # the action.yml of the checkout under test
    result = run_action(tmp_path, hostile_repo, {"base-ref": "HEAD~1"})
    assert [step for step, *_ in result["logs"]] == ["validate", "diff", "comment", "report"]
    executed = {step: runner_commands(out + "\n" + err) for step, _, out, err in result["logs"]}
    problems = validate_repository(hostile_repo).diagnostics
    *annotations, pause, resume = executed["validate"]
    assert len(annotations) == len(problems)
    assert {c.name for c in annotations} == {"error"}
    assert {c.properties["file"] for c in annotations} == SHOWN_FILES
    assert_paused(pause, resume)  # around anything else validate printed (its summary)
    # the diff step pauses command processing around the tool's free-form output
    assert_paused(*executed["diff"])
    assert executed["comment"] == []  # comment: false (the default) posts and prints nothing
    assert executed["report"] == [
        Command("error", {}, "the desired state is invalid (see the annotations)")
    ]
    assert result["outputs"] == {
        "valid": "false",
        "changed": "",
        "diff-json": str(tmp_path / "gitops-edge-diff.json"),
        "comment": "disabled",
        "error": "the desired state is invalid (see the annotations)",
    }
    assert lines_starting_with_colons(result["summary"]) == []
    assert runner_commands(result["summary"]) == []


def run_step_with_stub(
    tmp_path: Path, *, step_id: str, stub: str
) -> tuple[subprocess.CompletedProcess[str], list[tuple[str, str]]]:
    """One step of the checkout's action.yml, with `$GE` a stub gitops-edge (shell script)
    standing for output the tool must never produce; stdout and stderr as one stream."""
    program = tmp_path / "gitops-edge"
    program.write_text("#!/bin/sh\n" + stub)
    program.chmod(program.stat().st_mode | stat.S_IEXEC)
    repo = tmp_path / "repo"
    repo.mkdir()
    (output := tmp_path / "output").write_text("")
    spec = load_documents("action.yml", (ROOT / "action.yml").read_text())[0][0].data
    step: dict[str, Any] = next(s for s in spec["runs"]["steps"] if s.get("id") == step_id)
    env = {
        **os.environ,
        "GE": str(program),
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        "INPUT_PATH": ".",
        "INPUT_FAIL_ON_WARNINGS": "false",
        "INPUT_BASE": "HEAD~1",
        "BASE_BRANCH": "",
    }
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", step["run"]],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
    )
    return done, read_outputs(output.read_text())


def test_a_value_with_a_newline_cannot_inject_action_outputs(tmp_path: Path) -> None:
    """A workload name holding newlines (validation refuses it today) stays inside `changed`."""
    injected = "x\nplan-json=/etc/passwd\nvalid=true\nchanged<<EOF"
    preview = {"changes": [{"workload": injected, "group": None}]}
    done, outputs = run_step_with_stub(
        tmp_path,
        step_id="diff",
        stub=f"case \"$*\" in *json*) printf '%s' '{json.dumps(preview)}' ;; *) echo x ;; esac\n",
    )
    assert done.returncode == 0, done.stdout
    assert [name for name, _ in outputs] == ["changed", "diff-json"]
    assert dict(outputs) == {
        "changed": f"{injected}/-",
        "diff-json": str(tmp_path / "gitops-edge-diff.json"),
    }


def test_validate_step_runs_only_the_annotations(tmp_path: Path) -> None:
    """Whatever else `validate` might print (a traceback naming a file, a line it failed to
    escape) is shown in the log but issues no command; the annotations still do."""
    done, outputs = run_step_with_stub(
        tmp_path,
        step_id="validate",
        stub="echo '::error file=a.yaml,line=1,col=2,title=gitops-edge kind::bad kind'\n"
        "echo '::add-mask::x'\n"
        "echo 'text ##[set-output name=valid;]true'\n"
        "echo '::set-output name=valid::true' >&2\n"
        "echo '::stop-commands::t' >&2\n"
        "exit 1\n",
    )
    assert done.returncode == 0, done.stdout
    annotation, pause, resume = runner_commands(done.stdout)
    assert annotation == Command(
        "error",
        {"file": "a.yaml", "line": "1", "col": "2", "title": "gitops-edge kind"},
        "bad kind",
    )
    assert_paused(pause, resume)
    for line in ("::add-mask::x", "##[set-output", "::set-output", "::stop-commands::t"):
        assert line in done.stdout  # shown, not run
    assert outputs == [("valid", "false")]


def test_scheduled_reconcile_step_runs_no_command_from_the_tool_output(tmp_path: Path) -> None:
    """example-repo's workflow runs `reconcile --once` in Actions: what the pass prints (here
    what it printed for a merged file named `a\\n::error::rec.yaml`) issues no command."""
    workflow = (ROOT / "example-repo" / ".github" / "workflows" / "gitops-edge.yaml").read_text()
    steps = load_documents("workflow", workflow)[0][0].data["jobs"]["reconcile"]["steps"]
    step = next(s for s in steps if "--once" in str(s.get("run", "")))
    script = re.sub(r"\$\{\{[^}]*\}\}", "x", step["run"])
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "gitops-edge"
    stub.write_text(
        "#!/bin/sh\n"
        "printf 'a\\n::error::rec.yaml:2:7: kind: unsupported kind\\n::add-mask::x\\n' >&2\n"
        "echo '##[stop-commands]legacy'\n"
        "exit 1\n"
    )
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "RUNNER_TEMP": str(tmp_path),
        "HOME": str(tmp_path),  # the step sets a global git credential helper
        "GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig"),
        "KUBECONFIG_DATA": "",
        "GIT_TOKEN": "",
    }
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1  # the pass failed, and the step with it
    assert "::error::rec.yaml" in done.stdout
    pause, resume = runner_commands(done.stdout)
    assert_paused(pause, resume)


def test_report_step_annotates_a_hostile_error_as_one_command(tmp_path: Path) -> None:
    """An error message holding newlines, `::` commands, `##[` and `%` escapes (a folder name,
    a traceback) is one `::error::` annotation whose text is the message, and the `error`
    output cannot set another output."""
    message = "a\n::add-mask::x\r##[set-output name=valid;]true %0A 100%\nerror<<EOF"
    errors = tmp_path / "gitops-edge-errors"
    errors.mkdir()
    (errors / "2-diff").write_bytes(message.encode())
    done, outputs = run_step_with_stub(tmp_path, step_id="report", stub="exit 0\n")
    assert done.returncode == 1, done.stdout
    shown = message.replace("\r", "\n")  # read as text: universal newlines
    assert runner_commands(done.stdout) == [Command("error", {}, shown)]
    assert outputs == [("error", shown)]
    assert json.loads((tmp_path / "gitops-edge-diff.json").read_text()) == {"error": shown}
