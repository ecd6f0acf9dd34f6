"""Status on a branch of its own by default (issue 17 item 5): `spec.status.branch` absent is
`gitops-edge/status`, created from the spec head so its history keeps the user's commits;
`branch: ""` writes on the spec branch; a name git refuses is a validation error."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from test_git_source import run
from test_status_writeback import World

from gitops_edge.repository.config import repo_config_from
from gitops_edge.repository.validation import validate_repository

DEFAULT = "gitops-edge/status"


def _config(status: str) -> str:
    return (
        "apiVersion: gitops-edge.io/v1alpha1\nkind: RepositoryConfig\nmetadata:\n  name: f\n"
        f"spec:\n  status:\n    path: status\n{status}"
    )


def test_the_status_branch_defaults_to_a_branch_of_its_own() -> None:
    assert repo_config_from({"spec": {}}).status_branch == DEFAULT
    assert repo_config_from({"spec": {"status": {"path": "s"}}}).status_branch == DEFAULT
    assert repo_config_from({"spec": {"status": {"branch": ""}}}).status_branch == ""
    assert repo_config_from({"spec": {"status": {"branch": "ops/st"}}}).status_branch == "ops/st"


@pytest.mark.parametrize(
    "branch",
    ["status.lock", "ops//status", "status/", "ops/.hidden", "status.", "a.lock/b"],
)
def test_a_status_branch_git_refuses_is_an_error_with_its_position_and_a_hint(
    tmp_path: Path, branch: str
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "gitops-edge.yaml").write_text(_config(f"    branch: {branch!r}\n"))
    result = validate_repository(root)
    assert not result.valid
    errors = [d for d in result.diagnostics if d.severity == "error"]
    assert [(d.file, d.line, d.col, d.path) for d in errors] == [
        ("gitops-edge.yaml", 8, 13, "spec.status.branch")
    ]
    assert "git refuses it" in errors[0].message and "gitops-edge/status" in errors[0].hint
    # git agrees: each is refused by git check-ref-format --branch
    refused = subprocess.run(["git", "check-ref-format", "--branch", branch], capture_output=True)
    assert refused.returncode != 0
    # and the revision's config falls back to the default branch, never to a name git refuses
    assert repo_config_from({"spec": {"status": {"branch": branch}}}).status_branch == DEFAULT


@pytest.mark.parametrize("branch", ["", "gitops-status", "ops/status-1.2", DEFAULT])
def test_a_status_branch_git_accepts_or_the_spec_branch_is_valid(
    tmp_path: Path, branch: str
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "gitops-edge.yaml").write_text(_config(f"    branch: {branch!r}\n"))
    result = validate_repository(root)
    assert result.valid, result.diagnostics


def _remote_ref(world: World, ref: str) -> str:
    run("fetch", "-q", "origin", "+refs/heads/*:refs/remotes/origin/*", cwd=world.remote.work)
    return run("rev-parse", f"origin/{ref}", cwd=world.remote.work)


def test_status_goes_to_the_default_branch_grown_from_the_spec_head(tmp_path: Path) -> None:
    world = World(tmp_path, status_branch=None)  # the example repository sets no branch
    world.one_pass()
    assert _remote_ref(world, "main") == world.spec  # the spec branch is never written
    head = _remote_ref(world, DEFAULT)
    log = run("log", "--format=%s", f"origin/{DEFAULT}", cwd=world.remote.work).splitlines()
    assert log[0].startswith("status: ") and f"(spec {world.spec[:12]})" in log[0]
    # grown from the spec head, not an orphan: the user's commits are in its history
    run("merge-base", "--is-ancestor", world.spec, head, cwd=world.remote.work)
    summary = run("show", f"origin/{DEFAULT}:fleet/status/README.md", cwd=world.remote.work)
    assert "| log-agent | hangzhou |" in summary
    for _ in range(2):
        world.one_pass()  # later passes stack on the same branch
    assert _remote_ref(world, "main") == world.spec
    run("merge-base", "--is-ancestor", head, _remote_ref(world, DEFAULT), cwd=world.remote.work)


def test_an_empty_status_branch_writes_on_the_spec_branch(tmp_path: Path) -> None:
    world = World(tmp_path, status_branch="")
    world.one_pass()
    assert _remote_ref(world, "main") != world.spec
    assert run("log", "-1", "--format=%s", "origin/main", cwd=world.remote.work).startswith(
        "status: "
    )
    assert "| log-agent | hangzhou |" in world.remote_file("fleet/status/README.md")
    listed = run("ls-remote", "--heads", "origin", cwd=world.remote.work)
    assert DEFAULT not in listed


def test_the_status_command_reads_the_status_branch_and_says_when_there_is_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gitops_edge.cli.main import main

    world = World(tmp_path)
    common = [world.remote.url, "--path", "fleet", "--cache-dir", str(tmp_path / "c2")]
    assert main(["status", *common]) == 1  # no pass yet: no status branch
    assert f"no status branch {DEFAULT!r} yet" in capsys.readouterr().err
    world.one_pass()
    assert main(["status", *common, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {(r["workload"], r["group"]) for r in rows} >= {("log-agent", "hangzhou")}
