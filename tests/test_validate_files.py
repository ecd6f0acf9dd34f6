"""`gitops-edge validate FILE...` as pre-commit runs it (issue 18 item 4): several paths, each
file checked within the repository that holds it (references resolved from the folder with
`gitops-edge.yaml`), only the given files reported; the shipped `.pre-commit-hooks.yaml`; the
short "not a supported kind" hint."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from repo_config import write_config
from ruamel.yaml import YAML

from gitops_edge.cli.main import main
from gitops_edge.model.kinds import supported_kinds_text
from gitops_edge.repository import selection
from gitops_edge.repository.validation import ValidatedRepo, validate_repository

PROJECT = Path(__file__).resolve().parent.parent
EXAMPLE = PROJECT / "example-repo"

GROUP = """apiVersion: gitops-edge.io/v1alpha1
kind: NodeGroup
metadata:
  name: hangzhou
spec:
  selector:
    matchLabels: {apps.openyurt.io/nodepool: hangzhou}
"""
WORKLOAD = """apiVersion: gitops-edge.io/v1alpha1
kind: EdgeDaemonSet
metadata:
  name: {name}
  namespace: edge-system
spec:
  strategy: {{type: AdvancedRollingUpdate}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: agent
          image: registry.example.com/agent:1.0.0
  groups:
    - name: hangzhou
"""
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with a group, two valid workloads using it and one invalid file."""
    root = tmp_path / "fleet"
    write_config(root)
    (root / "groups").mkdir()
    (root / "groups" / "hangzhou.yaml").write_text(GROUP)
    (root / "workloads").mkdir()
    (root / "workloads" / "a.yaml").write_text(WORKLOAD.format(name="a"))
    (root / "workloads" / "b.yaml").write_text(WORKLOAD.format(name="b"))
    (root / "broken.yaml").write_text(CONFIGMAP)
    return root


def test_one_file_of_the_example_repo_resolves_its_groups(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "validate", str(EXAMPLE / "workloads" / "log-agent.yaml"))
    assert (code, out) == (0, ""), out + err
    assert err.strip() == "1 file, 1 object: 0 errors, 0 warnings"


def test_several_files_report_only_their_own_diagnostics(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b, broken = (
        repo / "workloads" / "a.yaml",
        repo / "workloads" / "b.yaml",
        repo / "broken.yaml",
    )
    code, out, err = run(capsys, "validate", str(a), str(b))
    assert (code, out) == (0, ""), out + err  # broken.yaml is not among them
    assert err.strip() == "2 files, 2 objects: 0 errors, 0 warnings"
    code, out, err = run(capsys, "validate", str(a), str(broken))
    assert code == 1
    assert out.splitlines() == [
        f"{broken.as_posix()}:2:7: kind: unsupported kind 'ConfigMap' (hint: "
        "gitops-edge reads only its own kinds (see `gitops-edge validate --help`); "
        "list files of other tools in spec.ignore of gitops-edge.yaml)"
    ]
    assert err.strip() == "2 files, 1 object: 1 error, 0 warnings"


def test_several_paths_in_json_name_files_as_given(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = repo.parent / "other"
    write_config(other)
    (other / "cm.yaml").write_text(CONFIGMAP)
    code, out, _ = run(
        capsys, "validate", str(repo / "workloads" / "a.yaml"), str(other), "--format", "json"
    )
    assert code == 1
    assert [(d["file"], d["rule"]) for d in json.loads(out)] == [
        (f"{other.as_posix()}/cm.yaml", "kind")
    ]


def test_a_reference_error_in_the_given_file_is_reported(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "groups" / "hangzhou.yaml").unlink()
    code, out, _ = run(capsys, "validate", str(repo / "workloads" / "a.yaml"), "--format", "json")
    assert code == 1
    assert {(d["file"], d["rule"]) for d in json.loads(out)} == {
        ((repo / "workloads" / "a.yaml").as_posix(), "group-ref")
    }


def test_files_the_repository_does_not_read_are_skipped(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pre-commit passes every changed YAML file: its own config, CI files, ignored ones."""
    (repo / ".pre-commit-config.yaml").write_text("repos: []\n")
    (repo / "ci").mkdir()
    (repo / "ci" / "job.yaml").write_text("on: push\n")
    config = repo / "gitops-edge.yaml"
    config.write_text(config.read_text().replace("spec: {}", "spec:\n  ignore: [ci/*.yaml]"))
    code, out, err = run(
        capsys,
        "validate",
        str(repo / ".pre-commit-config.yaml"),
        str(repo / "ci" / "job.yaml"),
        str(repo / "workloads" / "a.yaml"),
    )
    assert (code, out) == (0, ""), out + err
    assert f"{(repo / 'ci' / 'job.yaml').as_posix()}: not read by the repository" in err
    assert err.strip().endswith("1 file, 1 object: 0 errors, 0 warnings (2 files not read)")


def test_the_root_is_not_searched_past_the_git_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder holding `.git` ends the walk up: an unrelated gitops-edge.yaml above it is not
    this file's repository; the file is then checked on its own."""
    write_config(tmp_path)
    (tmp_path / "hangzhou.yaml").write_text(GROUP)
    inner = tmp_path / "project"
    inner.mkdir()
    (inner / "w.yaml").write_text(WORKLOAD.format(name="w"))
    assert run(capsys, "validate", str(inner / "w.yaml"))[0] == 0  # resolved from tmp_path
    (inner / ".git").mkdir()
    code, out, _ = run(capsys, "validate", str(inner / "w.yaml"))
    assert code == 1 and "no NodeGroup named 'hangzhou'" in out


def test_a_missing_path_among_several_is_a_usage_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "validate", str(repo / "workloads" / "a.yaml"), str(repo / "x"))
    assert (code, out) == (2, "")
    assert f"{(repo / 'x').as_posix()}: no such file or folder" in err


def test_the_unsupported_kind_hint_is_short_and_the_list_is_in_help(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(tmp_path)
    (tmp_path / "cm.yaml").write_text(CONFIGMAP)
    (tmp_path / "thing.yaml").write_text("metadata:\n  name: x\n")
    code, out, _ = run(capsys, "validate", str(tmp_path), "--format", "json")
    assert code == 1
    hints = [d["hint"] for d in json.loads(out)]
    assert len(hints) == 2
    for hint in hints:
        assert "spec.ignore" in hint and "validate --help" in hint
        assert len(hint) < 160 and "ImagePrePullJob" not in hint
    with pytest.raises(SystemExit):
        main(["validate", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for kind in supported_kinds_text().split(", "):
        assert kind in help_text


def test_pre_commit_hook_manifest() -> None:
    hooks = YAML(typ="safe").load((PROJECT / ".pre-commit-hooks.yaml").read_text())
    assert [h["id"] for h in hooks] == ["gitops-edge-validate"]
    hook = hooks[0]
    assert {"id", "name", "entry", "language"} <= set(hook)
    assert (hook["entry"], hook["language"], hook["pass_filenames"]) == (
        "gitops-edge validate",
        "python",
        True,
    )
    pattern = re.compile(hook["files"])
    assert [bool(pattern.search(f)) for f in ("a.yaml", "b/c.yml", "d.json", "yaml.txt")] == [
        True,
        True,
        False,
        False,
    ]


def test_the_hook_entry_runs_on_a_list_of_files_as_pre_commit_passes_them(repo: Path) -> None:
    """pre-commit runs `entry` with the changed files appended, from the repository's top."""
    hook = YAML(typ="safe").load((PROJECT / ".pre-commit-hooks.yaml").read_text())[0]
    command = shlex.split(hook["entry"])
    assert command[0] == "gitops-edge"
    argv = [sys.executable, "-m", "gitops_edge", *command[1:]]
    files = ["workloads/a.yaml", "workloads/b.yaml", "broken.yaml"]
    proc = subprocess.run(
        [*argv, *files], cwd=repo, capture_output=True, text=True, check=False, timeout=60
    )
    assert proc.returncode == 1
    assert proc.stdout.startswith("broken.yaml:2:7: kind: unsupported kind 'ConfigMap'")
    proc = subprocess.run(
        [*argv, *files[:2]], cwd=repo, capture_output=True, text=True, check=False, timeout=60
    )
    assert (proc.returncode, proc.stdout) == (0, ""), proc.stderr


def test_a_repository_named_by_several_files_is_read_once(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    roots: list[Path] = []

    def counting(root: Path) -> ValidatedRepo:
        roots.append(root)
        return validate_repository(root)

    monkeypatch.setattr(selection, "validate_repository", counting)
    files = [str(repo / "workloads" / n) for n in ("a.yaml", "b.yaml")]
    assert run(capsys, "validate", *files, str(repo / "groups" / "hangzhou.yaml"))[0] == 0
    assert roots == [repo]


def test_a_named_file_that_is_not_a_regular_file_is_reported_not_skipped(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A FIFO or a dangling link inside a repository is named by the repository's own reading
    rules (never opened), not passed over as a file it does not read."""
    os.mkfifo(repo / "pipe.yaml")
    os.symlink(repo / "gone.yaml", repo / "dangling.yaml")
    code, out, err = run(capsys, "validate", str(repo / "pipe.yaml"), str(repo / "dangling.yaml"))
    assert code == 1, out + err
    assert f"{(repo / 'pipe.yaml').as_posix()}:1:1: a named pipe (FIFO), not a regular file" in out
    assert f"{(repo / 'dangling.yaml').as_posix()}:1:1: symbolic link points to nothing" in out
