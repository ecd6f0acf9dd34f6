"""Status written back as commits: files per workload and a Markdown summary, no commit when
nothing changed, the reconciler's own commits never count as a spec change, a user's
concurrent push is rebased over (nothing lost), an invalid revision's diagnostics reach the
status while the last good revision keeps being reconciled."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from test_git_source import EXAMPLE, Remote, run

from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model.desired import DEFAULT_STATUS_BRANCH
from gitops_edge.reconciler.publish import GitPublisher
from gitops_edge.reconciler.reconcile import plan_once, reconcile_once
from gitops_edge.source.gitsource import GitSource


class World:
    """The example repository on a remote, a simulated fleet, and a publisher. `status_branch`:
    written as spec.status.branch ("" is the spec branch); None leaves the default
    (gitops-edge/status)."""

    def __init__(self, tmp: Path, *, status_branch: str | None = None) -> None:
        self.remote = Remote(tmp)
        shutil.copytree(EXAMPLE, self.remote.work / "fleet")
        if status_branch is not None:
            config = self.remote.work / "fleet" / "gitops-edge.yaml"
            config.write_text(
                config.read_text().replace(
                    "    path: status\n", f"    path: status\n    branch: {status_branch!r}\n"
                )
            )
        # where status commits go, as the user's clone sees it
        self.status_ref = f"origin/{status_branch or 'main'}"
        if status_branch is None:
            self.status_ref = f"origin/{DEFAULT_STATUS_BRANCH}"
        self.spec = self.remote.commit("fleet")
        self.sim = tmp / "fleet.json"
        SimCluster.init_file(
            self.sim,
            SimCluster.create(
                groups=[("hangzhou", 3), ("shanghai", 2)],
                group_label_keys=("apps.openyurt.io/nodepool",),
            ),
        )
        self.logs: list[tuple[str, str, dict[str, Any]]] = []
        source = GitSource(self.remote.url, branch="main", subpath="fleet", cache_dir=tmp / "cache")
        self.publisher = GitPublisher(source=source, log=self.log)

    def log(self, level: str, message: str, **fields: Any) -> None:
        self.logs.append((level, message, fields))

    def one_pass(self) -> str:
        """One loop pass: load, reconcile the last good revision, publish. Returns the spec
        revision that was reconciled."""
        loaded = self.publisher.load()
        desired = loaded.desired or self.last_good
        self.last_good = desired
        with SimCluster.open(self.sim) as cluster:
            reconcile_once(desired, cluster)
            after = plan_once(desired, cluster)
            cluster.tick(30)
        self.publisher.publish(desired, after)
        return desired.revision

    def remote_log(self) -> list[str]:
        """The subjects of the branch status goes to (the spec branch's and the status's)."""
        return run("log", "--format=%s", self.status_ref, cwd=self.remote.work).splitlines()

    def remote_file(self, path: str) -> str:
        """A file as committed on the branch status goes to."""
        run("fetch", "-q", "origin", cwd=self.remote.work)
        return run("show", f"{self.status_ref}:{path}", cwd=self.remote.work)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_status_files_are_committed_and_a_no_op_pass_commits_nothing(world: World) -> None:
    assert world.one_pass() == world.spec
    run("fetch", "-q", "origin", cwd=world.remote.work)
    subjects = world.remote_log()
    assert subjects[0].startswith("status: ") and f"(spec {world.spec[:12]})" in subjects[0]
    summary = world.remote_file("fleet/status/README.md")
    assert "| workload | group | model | progress |" in summary
    assert "| log-agent | hangzhou | AdvancedRollingUpdate |" in summary
    body = json.loads(world.remote_file("fleet/status/log-agent.json"))
    assert body["specRevision"] == world.spec
    hangzhou = next(g for g in body["groups"] if g["group"] == "hangzhou")
    assert hangzhou["images"][0] == "registry.example.com/edge/log-agent:1.4.3"
    assert hangzhou["nodes"]["total"] == 3
    for _ in range(3):  # pods settle, then nothing changes any more
        world.one_pass()
    run("fetch", "-q", "origin", cwd=world.remote.work)
    settled = len(world.remote_log())
    world.one_pass()
    run("fetch", "-q", "origin", cwd=world.remote.work)
    assert len(world.remote_log()) == settled  # no timestamp-only commits


def test_status_commits_on_the_spec_branch_are_not_spec_changes(tmp_path: Path) -> None:
    world = World(tmp_path, status_branch="")  # status written on the spec branch
    world.one_pass()
    world.one_pass()
    loaded = world.publisher.load()  # the remote head is now a status commit
    assert loaded.revision == world.spec


def test_a_concurrent_user_push_is_rebased_over_and_kept(tmp_path: Path) -> None:
    world = World(tmp_path, status_branch="")  # status written on the spec branch
    world.one_pass()
    # The user pushes a spec change without having pulled the status commit first.
    run("reset", "-q", "--hard", world.spec, cwd=world.remote.work)
    workload = world.remote.work / "fleet" / "workloads" / "log-agent.yaml"
    workload.write_text(workload.read_text().replace("log-agent:1.4.2", "log-agent:1.4.9"))
    user = world.remote.commit("log-agent 1.4.9")  # rebases over the status commit
    assert world.one_pass() == user
    run("fetch", "-q", "origin", cwd=world.remote.work)
    history = world.remote_log()
    assert "log-agent 1.4.9" in history and history[0].startswith("status: ")
    assert run("merge-base", "--is-ancestor", user, "origin/main", cwd=world.remote.work) == ""


def test_an_invalid_revision_is_reported_in_status_and_the_last_good_one_kept(
    world: World,
) -> None:
    world.one_pass()
    (world.remote.work / "fleet" / "broken.yaml").write_text(
        "apiVersion: apps/v1\nkind: DaemonSet\n"
    )
    bad = world.remote.commit("broken")
    assert world.one_pass() == world.spec  # the last good revision is what was reconciled
    summary = world.remote_file("fleet/status/README.md")
    assert f"## Revision `{bad}` is invalid and was not applied" in summary
    assert "broken.yaml:" in summary


# ── gitops-edge status ────────────────────────────────────────────────────────────────────────


def test_status_command_from_the_cluster_and_from_the_status_files(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gitops_edge.cli.main import main

    world.one_pass()
    world.one_pass()
    common = [world.remote.url, "--path", "fleet", "--cache-dir", str(tmp_path / "c2")]
    assert main(["status", *common, "--cluster", f"sim:{world.sim}"]) == 0
    live = capsys.readouterr().out
    assert live.splitlines()[0].split()[:2] == ["NAMESPACE", "WORKLOAD"]
    assert "log-agent" in live and "hangzhou" in live and "3/3 current" in live
    assert main(["status", *common, "--format", "json"]) == 0  # from the committed files
    rows = json.loads(capsys.readouterr().out)
    hangzhou = next(r for r in rows if r["workload"] == "log-agent" and r["group"] == "hangzhou")
    assert hangzhou["nodes"]["total"] == 3 and hangzhou["model"] == "AdvancedRollingUpdate"


def test_status_command_without_status_files_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gitops_edge.cli.main import main

    shutil.copytree(EXAMPLE, tmp_path / "repo")
    assert main(["status", str(tmp_path / "repo")]) == 1
    assert "no status files yet" in capsys.readouterr().err


def test_status_branch_keeps_the_spec_branch_untouched(tmp_path: Path) -> None:
    world = World(tmp_path)
    config = world.remote.work / "fleet" / "gitops-edge.yaml"
    config.write_text(
        config.read_text().replace(
            "    path: status\n", "    path: status\n    branch: gitops-status\n"
        )
    )
    spec = world.remote.commit("status on its own branch")
    world.one_pass()
    run("fetch", "-q", "origin", cwd=world.remote.work)
    assert run("rev-parse", "origin/main", cwd=world.remote.work) == spec  # untouched
    status_log = run("log", "--format=%s", "origin/gitops-status", cwd=world.remote.work)
    assert status_log.startswith("status: ") and f"(spec {spec[:12]})" in status_log
    # created from the spec head, not as an orphan: its history holds the user's commits
    run("merge-base", "--is-ancestor", spec, "origin/gitops-status", cwd=world.remote.work)
    summary = run("show", "origin/gitops-status:fleet/status/README.md", cwd=world.remote.work)
    assert "| log-agent | hangzhou |" in summary
    for _ in range(3):
        world.one_pass()  # later passes update the same branch
    run("fetch", "-q", "origin", cwd=world.remote.work)
    assert run("rev-parse", "origin/main", cwd=world.remote.work) == spec
