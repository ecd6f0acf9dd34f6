"""`gitops-edge diff` exit codes (issue 18 item 5): by default 0 on success whether or not
something changes (the pull-request check runs `diff` for its preview); with `--exit-code`, as
`kubectl diff`, `flux diff` and `git diff --exit-code`, 0 when nothing changes and 1 when
something does; errors are 2 in both modes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gitops_edge.cli.main import main

EXAMPLE = Path(__file__).resolve().parent.parent / "example-repo"
WORKLOAD = Path("workloads") / "log-agent.yaml"


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        timeout=60,
    )


def repository(tmp_path: Path, change: str) -> Path:
    """example-repo committed, then a second commit making `change`."""
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    workload = repo / WORKLOAD
    if change == "bump":
        workload.write_text(workload.read_text().replace("log-agent:1.4.2", "log-agent:1.4.3"))
    elif change == "invalid":
        text = workload.read_text().replace("maxUnavailable: 30%", "maxUnavailable: thirty")
        workload.write_text(text)
    else:  # a comment: nothing to roll out
        workload.write_text("# reviewed\n" + workload.read_text())
    git(repo, "commit", "-qam", change)
    return repo


@pytest.mark.parametrize("fmt", ["markdown", "json", "text"])
@pytest.mark.parametrize(
    ("change", "plain", "with_exit_code"),
    [("bump", 0, 1), ("comment", 0, 0), ("invalid", 2, 2)],
)
def test_exit_codes(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fmt: str,
    change: str,
    plain: int,
    with_exit_code: int,
) -> None:
    repo = repository(tmp_path, change)
    argv = ["diff", str(repo), "--base", "HEAD~1", "-o", fmt]
    assert main(argv) == plain
    first = capsys.readouterr()
    assert main([*argv, "--exit-code"]) == with_exit_code
    assert capsys.readouterr() == first  # the same output either way
    if change == "invalid":
        assert first.err.endswith(" is invalid\n")


def test_errors_are_2_with_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = repository(tmp_path, "bump")
    assert main(["diff", str(repo), "--base", "no-such-rev", "--exit-code"]) == 2
    assert "cannot read revision 'no-such-rev'" in capsys.readouterr().err
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    assert main(["diff", str(outside), "--base", "HEAD~1", "--exit-code"]) == 2
    assert "not inside a git repository" in capsys.readouterr().err
