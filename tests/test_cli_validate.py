"""`gitops-edge validate`: formats, exit codes, file handling (links, size, broken files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from repo_config import write_config

from gitops_edge.cli.main import main

EXAMPLE = Path(__file__).resolve().parent.parent / "example-repo"

BAD_DS = """apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: bad-ds
  annotations:
    apps.openyurt.io/update-strategy: AdvancedRollingUpdate
spec:
  selector:
    matchLabels: {app: bad}
  updateStrategy:
    type: RollingUpdate
  template:
    metadata:
      labels: {app: bad}
    spec:
      containers:
        - name: bad
          image: nginx:1.19.4
"""
GOOD_DS = BAD_DS.replace("type: RollingUpdate", "type: OnDelete").replace("bad-ds", "good-ds")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    write_config(tmp_path)
    (tmp_path / "good.yaml").write_text(GOOD_DS)
    (tmp_path / "bad.yaml").write_text(BAD_DS)
    return tmp_path


def test_example_repo_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "validate", str(EXAMPLE))
    assert code == 0, out + err
    assert "0 errors" in err


def test_text_format(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", str(repo))
    assert code == 1
    assert out.splitlines() == [
        f"{repo.as_posix()}/bad.yaml:11:11: spec.updateStrategy.type: "
        "apps.openyurt.io/update-strategy needs spec.updateStrategy.type OnDelete, not "
        "RollingUpdate; OpenYurt silently ignores this DaemonSet otherwise "
        "(hint: set spec.updateStrategy.type: OnDelete)"
    ]


def test_github_format(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", str(repo), "--format", "github")
    assert code == 1
    line = out.strip()
    assert line.startswith(f"::error file={repo.as_posix()}/bad.yaml,line=11,col=11,title=")
    assert "::spec.updateStrategy.type: apps.openyurt.io/update-strategy needs" in line


def test_json_format(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", str(repo), "--format", "json")
    assert code == 1
    items = json.loads(out)
    assert items == [
        {
            "file": "bad.yaml",
            "line": 11,
            "col": 11,
            "path": "spec.updateStrategy.type",
            "message": items[0]["message"],
            "hint": "set spec.updateStrategy.type: OnDelete",
            "rule": "openyurt-ondelete",
            "severity": "error",
        }
    ]


def test_valid_json_is_empty_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_config(tmp_path)
    (tmp_path / "good.yaml").write_text(GOOD_DS)
    code, out, _ = run(capsys, "validate", str(tmp_path), "--format", "json")
    assert (code, json.loads(out)) == (0, [])


def test_single_file(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(capsys, "validate", str(repo / "good.yaml"))
    assert code == 0
    code, out, _ = run(capsys, "validate", str(repo / "bad.yaml"))
    assert code == 1 and "bad.yaml:11:11" in out


def test_missing_path_is_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "validate", str(tmp_path / "nope"))
    assert code == 2
    assert "no such file or folder" in err


def test_bad_format_is_usage_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["validate", str(repo), "--format", "xml"])
    assert exc.value.code == 2


def test_broken_file_does_not_stop_the_others(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "broken.yaml").write_text("a: [\n")
    code, out, _ = run(capsys, "validate", str(repo))
    assert code == 1
    assert "broken.yaml:2:1: cannot parse YAML" in out
    assert "bad.yaml:11:11" in out


def test_large_file_reported_not_read(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "huge.yaml").write_text("# padding\n" * 110_000)
    code, out, _ = run(capsys, "validate", str(repo))
    assert code == 1
    assert "huge.yaml:1:1: file is 1100000 bytes, over the 1 MiB limit; not read" in out


def test_symlink_outside_repository_not_followed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    repo.mkdir()
    outside.mkdir()
    (outside / "secret.yaml").write_text("a: [\n")
    (repo / "good.yaml").write_text(GOOD_DS)
    os.symlink(outside / "secret.yaml", repo / "link.yaml")
    os.symlink(outside, repo / "linkdir")
    code, out, _ = run(capsys, "validate", str(repo))
    assert code == 1
    assert "link.yaml:1:1: symbolic link points outside the repository; not followed" in out
    assert "linkdir:1:1: symbolic link points outside the repository; not followed" in out
    assert "secret" not in out  # never read


def test_warnings_pass_unless_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = GOOD_DS.replace(
        "    apps.openyurt.io/update-strategy: AdvancedRollingUpdate\n",
        "    apps.openyurt.io/update-strategy: OTA\n    apps.openyurt.io/max-unavailable: 30%\n",
    )
    write_config(tmp_path)
    (tmp_path / "ota.yaml").write_text(text)
    code, out, _ = run(capsys, "validate", str(tmp_path))
    assert code == 0 and "warning: metadata.annotations" in out
    code, _, _ = run(capsys, "validate", str(tmp_path), "--warnings-as-errors")
    assert code == 1


def test_console_script_runs(repo: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gitops_edge", "validate", str(repo), "--format", "github"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout.startswith("::error file=")


def test_a_folder_without_gitops_edge_yaml_is_invalid_but_a_single_file_is_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 14 item 5: a revision that deleted gitops-edge.yaml is not valid (else a commit
    removing every file would prune every workload); one file on its own is still checked."""
    (tmp_path / "good.yaml").write_text(GOOD_DS)
    code, out, _ = run(capsys, "validate", str(tmp_path))
    assert code == 1
    assert "gitops-edge.yaml:1:1: gitops-edge.yaml at the root of the repository is missing" in out
    assert "(hint: add gitops-edge.yaml with apiVersion: gitops-edge.io/v1alpha1" in out
    assert run(capsys, "validate", str(tmp_path / "good.yaml"))[0] == 0
    (tmp_path / "gitops-edge.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n")
    code, out, _ = run(capsys, "validate", str(tmp_path))
    assert code == 1 and "gitops-edge.yaml at the root of the repository holds no" in out


def test_the_owner_identity_must_fit_a_label_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long_name = "fleet-" + "x" * 60
    write_config(tmp_path, name=long_name)
    code, out, _ = run(capsys, "validate", str(tmp_path))
    assert code == 1 and "gitops-edge.yaml:4:9: metadata.name: metadata.name is the owner" in out
    assert "hint: set spec.owner to a shorter name" in out
    config = tmp_path / "gitops-edge.yaml"
    config.write_text(config.read_text().replace("spec: {}", "spec:\n  owner: fleet-a"))
    assert run(capsys, "validate", str(tmp_path))[0] == 0
    config.write_text(config.read_text().replace("owner: fleet-a", "owner: Fleet_A"))
    code, out, _ = run(capsys, "validate", str(tmp_path))
    assert code == 1 and "spec.owner" in out
