"""The status folder can touch nothing but itself (issue 14 item 6), with real git repositories
in temporary folders: a `spec.status.path` over desired state is a validation error and a pass
deletes no workload file and prunes nothing; a committed `status` link to a folder outside the
clone, or a status file that is a link, makes the pass fail with a message naming the link,
and nothing outside the clone is written or deleted."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
from test_git_source import run
from test_status_writeback import World

from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model.desired import DesiredState
from gitops_edge.reconciler.loop import LoopSettings, run_loop
from gitops_edge.reconciler.reconcile import PassResult, plan_once, reconcile_once
from gitops_edge.source.gitsource import GitSourceError


@pytest.fixture
def world(tmp_path: Path) -> World:
    """Status written on the spec branch (spec.status.branch: ""): where a person's commits,
    a link or desired state, share the tree the status pass writes."""
    return World(tmp_path, status_branch="")


def _daemonsets(world: World) -> set[str]:
    with SimCluster.open(world.sim, read_only=True) as cluster:
        return {ds.name for ds in cluster.observe().daemonsets}


def _outside(tmp_path: Path) -> Path:
    """A folder outside the clone holding a sentinel file."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "sentinel.txt").write_text("keep me\n")
    return outside


def _untouched(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["sentinel.txt"]
    assert (outside / "sentinel.txt").read_text() == "keep me\n"


def _loop_pass(world: World, passes: int = 1) -> list[tuple[str, str, dict[str, Any]]]:
    """Passes of the real loop (as `reconcile` without --once runs them) over the git source."""
    last: list[DesiredState] = []

    def reconcile(desired: DesiredState) -> PassResult:
        last.append(desired)
        with SimCluster.open(world.sim) as cluster:
            outcome = reconcile_once(desired, cluster)
            after = plan_once(desired, cluster)
        world.publisher.publish(desired, after)
        return outcome

    world.logs.clear()
    run_loop(
        load=world.publisher.load,
        reconcile=reconcile,
        settings=LoopSettings(interval=0.01, max_passes=passes),
        stop=threading.Event(),
        wake=threading.Event(),
        log=world.log,
        transient=(GitSourceError, OSError),
        resume=world.publisher.resume,  # as the command wires it: each call is a restart
    )
    return world.logs


# ── (a) status.path over desired state ────────────────────────────────────────────────────────


def test_status_path_over_the_workloads_is_invalid_and_deletes_nothing(world: World) -> None:
    world.one_pass()
    workloads = world.remote_file("fleet/workloads/log-agent.yaml")
    before = _daemonsets(world)
    assert "log-agent-hangzhou" in before
    config = world.remote.work / "fleet" / "gitops-edge.yaml"
    config.write_text(config.read_text().replace("    path: status\n", "    path: workloads\n"))
    bad = world.remote.commit("status into workloads")

    assert world.one_pass() == world.spec  # the invalid revision is never reconciled
    assert world.one_pass() == world.spec
    run("fetch", "-q", "origin", cwd=world.remote.work)
    commits = len(world.remote_log())
    world.one_pass()  # its label stays put: no status commit after status commit
    run("fetch", "-q", "origin", cwd=world.remote.work)
    assert len(world.remote_log()) == commits
    assert world.remote_file("fleet/workloads/log-agent.yaml") == workloads
    listed = run("ls-tree", "--name-only", "origin/main", "fleet/workloads/", cwd=world.remote.work)
    assert listed.splitlines() == [
        "fleet/workloads/log-agent.yaml",
        "fleet/workloads/node-exporter.yaml",
        "fleet/workloads/ota-updater.yaml",
    ]
    assert _daemonsets(world) == before  # nothing pruned
    summary = world.remote_file("fleet/status/README.md")  # the last good status folder
    assert f"## Revision `{bad}` is invalid and was not applied" in summary
    assert "gitops-edge.yaml:" in summary and "spec.status.path" in summary


def test_the_loop_keeps_the_last_good_revision_when_status_path_overlaps(world: World) -> None:
    logs = _loop_pass(world)
    assert ("info", "new revision", {"revision": world.spec}) in logs
    config = world.remote.work / "fleet" / "gitops-edge.yaml"
    config.write_text(config.read_text().replace("    path: status\n", "    path: groups\n"))
    world.remote.commit("status into groups")
    logs = _loop_pass(world)
    assert any(m == "revision is invalid; keeping the last good one" for _, m, _ in logs)
    invalid = [f["diagnostic"] for _, m, f in logs if m == "invalid desired state"]
    assert any("spec.status.path" in d and "groups" in d for d in invalid)
    run("fetch", "-q", "origin", cwd=world.remote.work)
    groups = run("ls-tree", "--name-only", "origin/main", "fleet/groups/", cwd=world.remote.work)
    assert len(groups.splitlines()) == 4  # every NodeGroup file is still there


# ── (b) a committed status link to a folder outside the clone ─────────────────────────────────


def test_a_status_link_out_of_the_clone_fails_the_pass_and_touches_nothing(
    world: World, tmp_path: Path
) -> None:
    outside = _outside(tmp_path)
    os.symlink(outside, world.remote.work / "fleet" / "status")
    world.remote.commit("status is a link")
    with pytest.raises(GitSourceError, match=r"fleet/status is a symbolic link .*remove the link"):
        world.one_pass()
    _untouched(outside)
    logs = _loop_pass(world)  # the loop reports it and carries on
    failed = [f for level, m, f in logs if m == "pass failed; backing off"]
    assert failed and "fleet/status is a symbolic link" in failed[0]["error"]
    assert "remove the link from the repository" in failed[0]["error"]
    _untouched(outside)
    run("fetch", "-q", "origin", cwd=world.remote.work)
    assert not world.remote_log()[0].startswith("status: ")  # nothing committed


def test_a_status_link_inherited_by_the_default_status_branch_fails_the_pass(
    tmp_path: Path,
) -> None:
    """The default status branch grows from the spec head: a link committed there is refused
    the same way, and the branch is not even created."""
    world = World(tmp_path)
    outside = _outside(tmp_path)
    os.symlink(outside, world.remote.work / "fleet" / "status")
    spec = world.remote.commit("status is a link")
    with pytest.raises(GitSourceError, match=r"fleet/status is a symbolic link .*remove the link"):
        world.one_pass()
    _untouched(outside)
    assert "gitops-edge/status" not in run("ls-remote", "--heads", "origin", cwd=world.remote.work)
    assert run("ls-remote", "origin", "refs/heads/main", cwd=world.remote.work).split()[0] == spec


# ── (c) a status file that is a link, inside a real status folder ─────────────────────────────


@pytest.mark.parametrize("link", ["README.md", "log-agent.json", "jobs"])
def test_a_linked_status_file_fails_the_pass_and_touches_nothing(
    world: World, tmp_path: Path, link: str
) -> None:
    world.one_pass()
    run("pull", "-q", "--rebase", "origin", "main", cwd=world.remote.work)
    outside = _outside(tmp_path)
    target = world.remote.work / "fleet" / "status" / link
    if target.is_dir():
        run("rm", "-rq", str(target), cwd=world.remote.work)
    else:
        target.unlink()
    os.symlink(outside if link == "jobs" else outside / "sentinel.txt", target)
    world.remote.commit(f"status/{link} is a link")
    with pytest.raises(GitSourceError, match=rf"fleet/status/{link} is a symbolic link"):
        world.one_pass()
    _untouched(outside)


# ── validation of spec.status.path ────────────────────────────────────────────────────────────

DAEMONSET = """apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:1.19.4
"""
GROUP = """apiVersion: gitops-edge.io/v1alpha1
kind: NodeGroup
metadata:
  name: pool
spec:
  nodes: [edge-01]
"""


def _repository(root: Path, status: str | None) -> Path:
    """gitops-edge.yaml (with `status.path: <status>` unless None), web.yaml at the root,
    workloads/ds.yaml, deploy/apps/group.yaml, and ci/check.yaml (ignored: not desired state)."""
    spec = "spec:\n  defaultNamespace: edge\n  ignore: [ci/*.yaml]\n"
    if status is not None:
        spec += f"  status:\n    path: {status!r}\n"
    root.mkdir(parents=True, exist_ok=True)
    (root / "gitops-edge.yaml").write_text(
        "apiVersion: gitops-edge.io/v1alpha1\nkind: RepositoryConfig\nmetadata:\n  name: f\n" + spec
    )
    for rel, text in (
        ("web.yaml", DAEMONSET.replace("web", "root-web")),
        ("workloads/ds.yaml", DAEMONSET),
        ("deploy/apps/group.yaml", GROUP),
        ("ci/check.yaml", "not: [a, kubernetes object]\n"),
    ):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.mark.parametrize(
    ("status", "rule", "says"),
    [
        ("workloads", "status-path", "workloads/ds.yaml"),
        ("workloads/", "status-path", "workloads/ds.yaml"),
        ("workloads/status", "status-path", "inside workloads/"),
        ("deploy", "status-path", "deploy/apps/group.yaml"),
        ("deploy/apps/status/x", "status-path", "inside deploy/apps/"),
        (".git/status", "status-path", ".git"),
        ("status/.GIT", "status-path", ".git"),
        (".", "schema", ""),
        ("", "schema", ""),
        ("/srv/status", "schema", ""),
        ("../status", "schema", ""),
        ("a/../../status", "schema", ""),
    ],
)
def test_a_status_path_over_desired_state_or_out_of_the_repository_is_an_error(
    tmp_path: Path, status: str, rule: str, says: str
) -> None:
    from gitops_edge.repository.validation import validate_repository

    result = validate_repository(_repository(tmp_path / "repo", status))
    assert not result.valid
    errors = [d for d in result.diagnostics if d.severity == "error"]
    assert [(d.file, d.line, d.path, d.rule) for d in errors] == [
        ("gitops-edge.yaml", 9, "spec.status.path", rule)
    ]
    assert says in errors[0].message and errors[0].hint


@pytest.mark.parametrize("status", [None, "status", "reports/status", "ci"])
def test_a_status_path_apart_from_desired_state_is_valid(tmp_path: Path, status: str) -> None:
    from gitops_edge.repository.validation import validate_repository

    result = validate_repository(_repository(tmp_path / "repo", status))
    assert result.valid, result.diagnostics


def test_yaml_in_the_default_status_folder_is_an_error_at_the_file(tmp_path: Path) -> None:
    """Never read as desired state, and status write-back would delete it."""
    from gitops_edge.repository.validation import validate_repository

    root = _repository(tmp_path / "repo", None)
    (root / "status").mkdir()
    (root / "status" / "extra.yaml").write_text(GROUP)
    result = validate_repository(root)
    assert [(d.file, d.rule) for d in result.diagnostics] == [("status/extra.yaml", "status-path")]
    assert "spec.status.path" in result.diagnostics[0].hint


# ── the writer, on its own ────────────────────────────────────────────────────────────────────


def test_a_linked_folder_on_the_way_to_the_status_folder_is_refused(tmp_path: Path) -> None:
    from gitops_edge.source.status_folder import StatusFolderError, replace_status_files

    outside = _outside(tmp_path)
    clone = tmp_path / "clone"
    (clone / "fleet").mkdir(parents=True)
    os.symlink(outside, clone / "fleet" / "reports")
    with pytest.raises(StatusFolderError, match=r"^fleet/reports is a symbolic link \(to "):
        replace_status_files(str(clone), "fleet/reports/status", {"README.md": "x\n"})
    _untouched(outside)


def test_a_link_anywhere_in_the_status_folder_fails_before_anything_changes(
    tmp_path: Path,
) -> None:
    from gitops_edge.source.status_folder import StatusFolderError, replace_status_files

    outside = _outside(tmp_path)
    status = tmp_path / "clone" / "status"
    (status / "jobs").mkdir(parents=True)
    (status / "old.json").write_text("stale\n")
    os.symlink(outside / "sentinel.txt", status / "jobs" / "zz.json")
    with pytest.raises(StatusFolderError, match=r"^status/jobs/zz.json is a symbolic link"):
        replace_status_files(str(tmp_path / "clone"), "status", {"README.md": "new\n"})
    assert (status / "old.json").read_text() == "stale\n"  # nothing deleted
    assert not (status / "README.md").exists()  # nothing written
    _untouched(outside)


def test_status_files_replace_the_folder_contents(tmp_path: Path) -> None:
    from gitops_edge.source.status_folder import replace_status_files

    status = tmp_path / "clone" / "fleet" / "status"
    (status / "jobs").mkdir(parents=True)
    (status / "jobs" / "gone.json").write_text("{}\n")
    (status / "old.json").write_text("{}\n")
    replace_status_files(
        str(tmp_path / "clone"), "fleet/status", {"README.md": "# s\n", "a/b.json": "{}\n"}
    )
    found = sorted(p.relative_to(status).as_posix() for p in status.rglob("*"))
    assert found == ["README.md", "a", "a/b.json"]  # stale files and empty folders removed
    assert (status / "README.md").read_text() == "# s\n"
