"""Issue 16 item 4: the last good revision survives a restart. The loop records the spec
revision it reconciles in the status it commits; a loop started (fresh memory, even a fresh
clone) while the branch head is invalid resumes that revision from the clone's history,
validated again, and keeps reporting the invalid head. When nothing usable is recorded, it
says why and reconciles nothing: it never guesses."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from repo_config import write_config
from test_git_source import Remote, run
from test_loop import DAEMONSET

from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model.desired import DesiredState
from gitops_edge.reconciler.loop import LoopSettings, run_loop
from gitops_edge.reconciler.publish import GitPublisher
from gitops_edge.reconciler.reconcile import PassResult, plan_once, reconcile_once
from gitops_edge.source.gitsource import GitSource, GitSourceError

BROKEN = "apiVersion: apps/v1\nkind: DaemonSet\n"  # no metadata, no spec: invalid
REVISION = "gitops-edge.io/git-revision"
RESUMING = "resuming the last good revision {} recorded in the status"
STATUS_BRANCH = "gitops-edge/status"  # where status goes by default


def recorded_revision(summary: str) -> str | None:
    """The revision the committed summary records (imported here, not at the top, so that each
    test fails on its own on code without the record)."""
    from gitops_edge.source.status import recorded_revision as parse

    return parse(summary)


# ── helpers ─────────────────────────────────────────────────────────────────────────────────


class Loop:
    """The real `reconcile` loop in its own process (its own process group), JSON logs in a
    file so that a test can wait for a line while it runs; always killed at the end."""

    def __init__(self, source: str, *, sim: Path, cache: Path, log: Path) -> None:
        self.log = log
        with log.open("w") as err:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gitops_edge",
                    "reconcile",
                    source,
                    "--cluster",
                    f"sim:{sim}",
                    "--interval",
                    "0.2",
                    "--log-format",
                    "json",
                    "--cache-dir",
                    str(cache),
                ],
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def messages(self) -> list[str]:
        return [str(line.get("msg")) for line in self.lines()]

    def stop(self) -> int:
        """SIGTERM, then SIGKILL of the whole group if it does not end within 30 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


@pytest.fixture
def loops() -> Iterator[list[Loop]]:
    started: list[Loop] = []
    yield started
    for loop in started:
        if loop.proc.poll() is None:
            loop.kill()


def wait_for(condition: Callable[[], bool], seconds: float = 40) -> bool:
    """Poll `condition` (a generous bound: never hangs the suite)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def web(sim: Path) -> tuple[int, int, str]:
    """(live pods, pods current and Ready, the revision stamped on the DaemonSet)."""
    with SimCluster.open(sim, read_only=True) as cluster:
        observed = cluster.observe()
    ds = next((d for d in observed.daemonsets if d.name == "web"), None)
    if ds is None:
        return 0, 0, ""
    live = [p for p in observed.pods if p.owner_name == "web" and not p.deleting]
    current = [p for p in live if p.revision_hash == ds.current_revision and p.ready]
    return len(live), len(current), ds.annotations.get(REVISION, "")


def tick(sim: Path, seconds: float) -> None:
    with SimCluster.open(sim) as cluster:
        cluster.tick(seconds)


def remote_show(remote: Remote, ref_path: str) -> str:
    run("fetch", "-q", "origin", "+refs/heads/*:refs/remotes/origin/*", cwd=remote.work)
    try:
        return run("show", f"origin/{ref_path}", cwd=remote.work)
    except subprocess.CalledProcessError:
        return ""


def status_subjects(remote: Remote, branch: str = STATUS_BRANCH) -> list[str]:
    """The status commits on `branch` (none while it does not exist)."""
    run("fetch", "-q", "origin", "+refs/heads/*:refs/remotes/origin/*", cwd=remote.work)
    try:
        out = run("log", "--format=%s", f"origin/{branch}", cwd=remote.work)
    except subprocess.CalledProcessError:
        return []
    return [s for s in out.splitlines() if s.startswith("status: ")]


@pytest.fixture
def fleet(tmp_path: Path) -> tuple[Remote, Path]:
    remote = Remote(tmp_path)
    write_config(remote.work)
    (remote.work / "web.yaml").write_text(DAEMONSET.replace("TAG", "1.19.4"))
    remote.commit("web 1.19.4")
    sim = tmp_path / "fleet.json"
    SimCluster.init_file(sim, SimCluster.create(groups=[("edge", 10)]))
    return remote, sim


# ── the real command, restarted ─────────────────────────────────────────────────────────────


def test_restart_on_an_invalid_head_resumes_the_rollout_at_the_last_good_revision(
    fleet: tuple[Remote, Path], tmp_path: Path, loops: list[Loop]
) -> None:
    remote, sim = fleet
    first = Loop(remote.url, sim=sim, cache=tmp_path / "cache", log=tmp_path / "first.log")
    loops.append(first)
    assert wait_for(lambda: web(sim)[0] == 10)
    tick(sim, 10)  # every pod Ready
    (remote.work / "web.yaml").write_text(DAEMONSET.replace("TAG", "1.20.0"))
    good = remote.commit("web 1.20.0")
    # The first pass of the new revision takes 3 pods (30%) down; without ticks they stay
    # starting, so the rollout is in progress when the loop is stopped.
    assert wait_for(
        lambda: (
            web(sim)[2] == good and any(f"(spec {good[:12]})" in s for s in status_subjects(remote))
        )
    )
    assert first.stop() == 0
    _, current, _ = web(sim)
    assert current < 10  # in progress

    (remote.work / "broken.yaml").write_text(BROKEN)
    bad = remote.commit("broken")
    # A new process with a new, empty clone cache (the Deployment's cache is an emptyDir).
    second = Loop(remote.url, sim=sim, cache=tmp_path / "cache2", log=tmp_path / "second.log")
    loops.append(second)

    def completed() -> bool:
        tick(sim, 3)
        return web(sim)[1:] == (10, good)

    done = wait_for(completed, seconds=40)
    summary = ""

    def status_says_done() -> bool:
        nonlocal summary
        summary = remote_show(remote, f"{STATUS_BRANCH}:status/README.md")
        return "10/10 nodes current" in summary

    reported = wait_for(status_says_done, seconds=20)
    assert second.stop() == 0
    messages = second.messages()
    assert done, f"rollout stuck at {web(sim)[1]}/10 after the restart; log: {messages}"
    assert RESUMING.format(good) in messages
    assert reported, summary
    assert f"Revision `{bad}` is invalid" in summary  # the invalid head is still reported
    assert recorded_revision(summary) == good


def test_no_good_revision_ever_recorded_reconciles_nothing_and_says_so(
    tmp_path: Path, loops: list[Loop]
) -> None:
    remote = Remote(tmp_path)
    write_config(remote.work)
    (remote.work / "web.yaml").write_text(BROKEN)
    bad = remote.commit("broken from the start")
    sim = tmp_path / "fleet.json"
    SimCluster.init_file(sim, SimCluster.create(groups=[("edge", 3)]))
    loop = Loop(remote.url, sim=sim, cache=tmp_path / "cache", log=tmp_path / "loop.log")
    loops.append(loop)
    assert wait_for(
        lambda: any(m.startswith("no last good revision to resume") for m in loop.messages())
    )
    time.sleep(1)  # a few more passes (0.2 s apart) on the same invalid head
    assert loop.stop() == 0
    messages = loop.messages()
    resume = next(m for m in messages if m.startswith("no last good revision to resume"))
    assert "status/README.md" in resume  # where it looked
    invalid = next(
        line for line in loop.lines() if str(line["msg"]).startswith("revision is invalid")
    )
    assert invalid["revision"] == bad
    assert "keeping the last good one" not in invalid["msg"]  # nothing is kept: it says so
    assert "nothing is reconciled" in invalid["msg"]
    assert "pass" not in messages
    assert web(sim) == (0, 0, "")
    assert status_subjects(remote) == []


def test_a_local_folder_has_no_history_to_resume(tmp_path: Path, loops: list[Loop]) -> None:
    folder = tmp_path / "fleet"
    write_config(folder)
    (folder / "web.yaml").write_text(BROKEN)
    sim = tmp_path / "fleet.json"
    SimCluster.init_file(sim, SimCluster.create(groups=[("edge", 3)]))
    loop = Loop(str(folder), sim=sim, cache=tmp_path / "cache", log=tmp_path / "loop.log")
    loops.append(loop)
    assert wait_for(lambda: any(m.startswith("revision is invalid") for m in loop.messages()))
    assert loop.stop() == 0
    messages = loop.messages()
    assert any("a local folder has no history" in m for m in messages), messages
    assert not any("keeping the last good one" in m for m in messages)
    assert web(sim) == (0, 0, "")


# ── the loop in-process: where the status is, and what is refused ───────────────────────────


class World:
    """A git source, the simulated cluster, and `run_loop` with fresh memory per `restart`.
    `status_branch`: written as spec.status.branch ("" the spec branch); None: the default."""

    def __init__(self, tmp: Path, *, status_branch: str | None = None) -> None:
        self.tmp = tmp
        self.remote = Remote(tmp)
        config = write_config(self.remote.work)
        if status_branch is not None:
            config.write_text(
                config.read_text().replace(
                    "spec: {}", f"spec:\n  status:\n    branch: {status_branch!r}"
                )
            )
        (self.remote.work / "web.yaml").write_text(DAEMONSET.replace("TAG", "1.19.4"))
        self.good = self.remote.commit("web 1.19.4")
        self.sim = tmp / "fleet.json"
        SimCluster.init_file(self.sim, SimCluster.create(groups=[("edge", 4)]))
        self.logs: list[tuple[str, str, dict[str, Any]]] = []
        self.reconciled: list[str] = []
        self.runs = 0

    def log(self, level: str, message: str, **fields: Any) -> None:
        self.logs.append((level, message, fields))

    def restart(self, passes: int = 2) -> GitPublisher:
        """A new run: new publisher, new memory, a new clone cache."""
        self.runs += 1
        source = GitSource(
            self.remote.url, branch="main", subpath=".", cache_dir=self.tmp / f"cache{self.runs}"
        )
        publisher = GitPublisher(source=source, log=self.log)

        def reconcile(desired: DesiredState) -> PassResult:
            self.reconciled.append(desired.revision)
            with SimCluster.open(self.sim) as cluster:
                outcome = reconcile_once(desired, cluster)
                after = plan_once(desired, cluster)
            publisher.publish(desired, after, drift=outcome.drift)
            return outcome

        run_loop(
            load=publisher.load,
            reconcile=reconcile,
            resume=publisher.resume,
            settings=LoopSettings(interval=0.01, max_passes=passes),
            stop=threading.Event(),
            wake=threading.Event(),
            log=self.log,
            transient=(GitSourceError,),
        )
        return publisher

    def messages(self) -> list[str]:
        return [m for _, m, _ in self.logs]


def test_resumed_from_the_status_branch(tmp_path: Path) -> None:
    world = World(tmp_path, status_branch="gitops-status")
    world.restart()
    assert "(spec " + world.good[:12] + ")" in status_subjects(world.remote, "gitops-status")[0]
    (world.remote.work / "broken.yaml").write_text(BROKEN)
    bad = world.remote.commit("broken")
    world.reconciled.clear()
    world.restart()
    assert world.reconciled == [world.good, world.good]
    assert RESUMING.format(world.good) in world.messages()
    summary = remote_show(world.remote, "gitops-status:status/README.md")
    assert f"Revision `{bad}` is invalid" in summary
    assert recorded_revision(summary) == world.good
    leftovers = [p.name for p in (tmp_path / "cache2").iterdir() if "revision" in p.name]
    assert leftovers == []  # the temporary worktree is removed


def test_a_recorded_revision_force_pushed_out_of_history_is_not_resumed(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.restart()
    # A new history without the recorded revision: its status folder copied over, so the
    # status still names the old commit, and an invalid head.
    summary = remote_show(world.remote, f"{STATUS_BRANCH}:status/README.md")
    assert recorded_revision(summary) == world.good
    work = world.remote.work
    run("checkout", "-q", "--orphan", "rewritten", cwd=work)
    run("rm", "-rfq", "--cached", ".", cwd=work)
    (work / "status").mkdir(exist_ok=True)
    (work / "status" / "README.md").write_text(summary)
    (work / "web.yaml").write_text(BROKEN)
    run("add", "-A", cwd=work)
    run("commit", "-q", "-m", "rewritten", cwd=work)
    run("push", "-q", "-f", "origin", "HEAD:main", cwd=work)
    world.reconciled.clear()
    world.restart()
    assert world.reconciled == []
    why = next(m for m in world.messages() if m.startswith("no last good revision to resume"))
    assert world.good in why and "not in the history" in why


def test_a_status_that_records_no_revision_is_not_guessed_from(tmp_path: Path) -> None:
    world = World(tmp_path, status_branch="")  # the status on the spec branch, edited there
    world.restart()
    # The user edits the committed summary (it says "do not edit"): the record is gone.
    run("pull", "-q", "--rebase", "origin", "main", cwd=world.remote.work)
    readme = world.remote.work / "status" / "README.md"
    readme.write_text("# Rollout status\n\nSpec revision `" + world.good + "`: hand-written.\n")
    (world.remote.work / "broken.yaml").write_text(BROKEN)
    world.remote.commit("broken, and the status edited by hand")
    world.reconciled.clear()
    world.restart()
    assert world.reconciled == []
    why = next(m for m in world.messages() if m.startswith("no last good revision to resume"))
    assert "records no last good revision" in why


def test_the_summary_records_the_revision_it_reports() -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert (
        recorded_revision(f"# Rollout status\n\n<!-- gitops-edge last-good-revision: {sha} -->\n")
        == sha
    )
    assert recorded_revision("# Rollout status\n") is None
    assert recorded_revision("<!-- gitops-edge last-good-revision: --upload-pack=x -->\n") is None


def test_a_resume_that_fails_for_a_transient_reason_is_tried_again() -> None:
    from gitops_edge.model.desired import RepoConfig
    from gitops_edge.reconciler.loop import Loaded, Resumed

    good = DesiredState(revision="a" * 40, config=RepoConfig(), groups=(), daemonsets=())
    attempts: list[int] = []
    reconciled: list[str] = []
    logs: list[str] = []

    def resume() -> Resumed:
        attempts.append(1)
        if len(attempts) == 1:
            raise GitSourceError("cannot reach the repository")
        return Resumed(good, "status/README.md")

    def reconcile(desired: DesiredState) -> PassResult:
        reconciled.append(desired.revision)
        return PassResult(plans=(), results=())

    run_loop(
        load=lambda: Loaded(revision="b" * 40, desired=None),
        reconcile=reconcile,
        resume=resume,
        settings=LoopSettings(interval=0.01, max_backoff=0.01, max_passes=3),
        stop=threading.Event(),
        wake=threading.Event(),
        log=lambda level, message, **fields: logs.append(message),
        transient=(GitSourceError,),
    )
    assert len(attempts) == 2  # failed, tried again, then kept: not asked on every pass
    assert reconciled == [good.revision, good.revision]
    assert logs.count("revision is invalid; keeping the last good one") == 1


def test_an_invalid_head_that_moves_the_status_folder_still_finds_the_record(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    world.restart()
    run("pull", "-q", "--rebase", "origin", "main", cwd=world.remote.work)
    config = world.remote.work / "gitops-edge.yaml"
    config.write_text(config.read_text().replace("spec: {}", "spec:\n  status:\n    path: state"))
    (world.remote.work / "broken.yaml").write_text(BROKEN)
    world.remote.commit("status moved to state/, and broken")
    world.reconciled.clear()
    world.restart()
    assert world.reconciled == [world.good, world.good]
    resumed = next(f for _, m, f in world.logs if m == RESUMING.format(world.good))
    # the defaults', not state/
    assert resumed["recorded_in"] == f"status/README.md on branch {STATUS_BRANCH}"


def test_a_record_whose_revision_keeps_its_status_elsewhere_is_not_used(tmp_path: Path) -> None:
    world = World(tmp_path, status_branch="")  # a copy on the spec branch, next to the status
    world.restart()  # records world.good in status/
    run("pull", "-q", "--rebase", "origin", "main", cwd=world.remote.work)
    # A copy of that summary under another folder, which the invalid head names.
    (world.remote.work / "elsewhere").mkdir()
    shutil.copy(world.remote.work / "status" / "README.md", world.remote.work / "elsewhere")
    config = world.remote.work / "gitops-edge.yaml"
    config.write_text(config.read_text().replace("  status:\n", "  status:\n    path: elsewhere\n"))
    (world.remote.work / "broken.yaml").write_text(BROKEN)
    world.remote.commit("a copied summary, and broken")
    world.reconciled.clear()
    world.restart()
    assert world.reconciled == []
    why = next(m for m in world.messages() if m.startswith("no last good revision to resume"))
    assert "elsewhere/README.md" in why and "keeps its own status elsewhere" in why
