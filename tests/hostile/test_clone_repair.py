"""Issue 16 item 2: the clone heals itself. A git process killed with SIGKILL (a container
kill) leaves lock files, a half-made first clone, or a rebase or merge in progress in the
reconciler's cached clone; the next sync or status write detects that, repairs it (removes the
stale lock, aborts, or clones again), reports what it did, and carries on. Two processes that
share one cache directory take turns on the clone (an exclusive lock) instead of breaking it.
Real repositories in temporary folders; the killed git processes are real ones."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_git_source import EXAMPLE, Remote, run

from gitops_edge.cli.main import main
from gitops_edge.source.clone_repair import CloneLock
from gitops_edge.source.gitsource import GitSource, GitSourceError

STATUS = "status"
SLOW = 3.0  # seconds a slowed git operation of another process takes


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    r = Remote(tmp_path)
    shutil.copytree(EXAMPLE, r.work / "fleet")
    r.commit("fleet")
    return r


def source(remote: Remote, tmp_path: Path, **kwargs: Any) -> GitSource:
    return GitSource(
        remote.url, branch="main", subpath="fleet", cache_dir=tmp_path / "cache", **kwargs
    )


def bump(remote: Remote, version: str) -> str:
    agent = remote.work / "fleet" / "workloads" / "log-agent.yaml"
    text = agent.read_text()
    start = text.index("log-agent:") + len("log-agent:")
    end = start + len(text[start:].split()[0])
    agent.write_text(text[:start] + version + text[end:])
    return remote.commit(f"log-agent {version}")


def kill_group_when(
    cmd: list[str], *, cwd: Path, ready: Callable[[], bool], env: Any = None
) -> None:
    """Run `cmd` in a process group of its own and SIGKILL the whole group (git and its
    children, as a container kill does) once `ready()` holds."""
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 20
        while not ready():
            assert proc.poll() is None, f"{cmd} ended before it could be killed"
            assert time.monotonic() < deadline, f"{cmd}: never reached the point to kill it at"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def sleeping_hooks(tmp_path: Path) -> Path:
    """A hooks folder whose pre-commit hook sleeps: a commit is killed while it holds
    `.git/index.lock`."""
    hooks = tmp_path / "hooks"
    hooks.mkdir(exist_ok=True)
    hook = hooks / "pre-commit"
    hook.write_text("#!/bin/sh\nsleep 60\n")
    hook.chmod(0o755)
    return hooks


def slow_git_env(tmp_path: Path, seconds: float) -> dict[str, str]:
    """An environment in which every fetch or clone from a local remote takes `seconds` more
    (the remote's pack-objects goes through a sleeping hook; only a global config may set it)."""
    hook = tmp_path / "slow-pack-objects"
    hook.write_text(f'#!/bin/sh\nsleep {seconds}\nexec "$@"\n')
    hook.chmod(0o755)
    config = tmp_path / "slow.gitconfig"
    run("config", "-f", str(config), "uploadpack.packObjectsHook", str(hook), cwd=tmp_path)
    return {**os.environ, "GIT_CONFIG_GLOBAL": str(config)}


def clean_state(clone: Path) -> None:
    git_dir = clone / ".git"
    left = [
        p.relative_to(git_dir).as_posix()
        for p in git_dir.rglob("*")
        if p.name.endswith(".lock") or p.name in {"rebase-merge", "rebase-apply", "MERGE_HEAD"}
    ]
    assert left == []


# ── stale locks of a killed git ──────────────────────────────────────────────────────────────


def test_index_lock_left_by_a_killed_commit_no_longer_fails_every_pass(
    remote: Remote, tmp_path: Path
) -> None:
    src = source(remote, tmp_path)
    src.sync()
    clone = src.clone_dir
    (clone / "fleet" / "status").mkdir()
    (clone / "fleet" / "status" / "a.json").write_text("{}\n")
    run("add", "-A", cwd=clone)
    hooks = sleeping_hooks(tmp_path)
    kill_group_when(
        ["git", "-c", f"core.hooksPath={hooks}", "commit", "-q", "-m", "x", "--", "fleet/status"],
        cwd=clone,
        ready=lambda: (clone / ".git" / "index.lock").exists(),
    )
    assert (clone / ".git" / "index.lock").exists()
    head = bump(remote, "1.4.3")
    synced = source(remote, tmp_path).sync()  # today: "remove the file manually", every pass
    assert synced.revision == head
    assert "log-agent:1.4.3" in (synced.root / "workloads" / "log-agent.yaml").read_text()
    pushed = source(remote, tmp_path).write_status(
        {"b.json": "{}\n"}, status_dir=STATUS, message="status"
    )
    assert pushed is not None
    assert run("rev-parse", "main", cwd=remote.bare) == pushed
    clean_state(clone)


def test_a_killed_clone_checkout_is_restored_not_used_half_written(
    remote: Remote, tmp_path: Path
) -> None:
    """A kill after the first clone wrote HEAD but while it checked files out leaves HEAD at
    the remote's head (no fetch next time) and a working tree with files missing."""
    src = source(remote, tmp_path)
    src.sync()
    clone = src.clone_dir
    agent = clone / "fleet" / "workloads" / "log-agent.yaml"
    agent.unlink()  # what the interrupted checkout had not written yet
    (clone / ".git" / "index.lock").write_bytes(b"")
    synced = source(remote, tmp_path).sync()
    assert (synced.root / "workloads" / "log-agent.yaml").is_file()
    clean_state(clone)


@pytest.mark.parametrize(
    "lock",
    [
        "HEAD.lock",
        "refs/heads/main.lock",
        "refs/remotes/origin/main.lock",
        "packed-refs.lock",
        "shallow.lock",
        "config.lock",
    ],
)
def test_other_stale_git_locks_are_removed(remote: Remote, tmp_path: Path, lock: str) -> None:
    src = source(remote, tmp_path)
    src.sync()
    (src.clone_dir / ".git" / lock).write_text("left by a killed git\n")
    head = bump(remote, "1.4.3")
    assert source(remote, tmp_path).sync().revision == head
    pushed = source(remote, tmp_path).write_status(
        {"a.json": "{}\n"}, status_dir=STATUS, message="status"
    )
    assert pushed is not None and run("rev-parse", "main", cwd=remote.bare) == pushed
    clean_state(src.clone_dir)


# ── a first clone killed half-way ────────────────────────────────────────────────────────────


def test_first_clone_killed_while_fetching_is_cloned_again(remote: Remote, tmp_path: Path) -> None:
    clone = source(remote, tmp_path).clone_dir
    clone.parent.mkdir(parents=True)
    kill_group_when(
        ["git", "clone", "-q", "-b", "main", remote.url, str(clone)],
        cwd=tmp_path,
        ready=lambda: (clone / ".git" / "HEAD").exists(),
        env=slow_git_env(tmp_path, 60),
    )
    assert (clone / ".git").is_dir()  # a partial clone: no commit behind HEAD
    synced = source(remote, tmp_path).sync()  # today: fails on every pass
    assert synced.revision == run("rev-parse", "HEAD", cwd=remote.work)
    assert (synced.root / "gitops-edge.yaml").is_file()


def test_clone_with_missing_objects_is_cloned_again(remote: Remote, tmp_path: Path) -> None:
    src = source(remote, tmp_path)
    src.sync()
    objects = src.clone_dir / ".git" / "objects"
    for folder in objects.iterdir():
        if folder.name not in {"info", "pack"}:
            shutil.rmtree(folder)
    for pack in (objects / "pack").iterdir():
        pack.unlink()
    synced = source(remote, tmp_path).sync()
    assert synced.revision == run("rev-parse", "HEAD", cwd=remote.work)
    assert (synced.root / "gitops-edge.yaml").is_file()


def test_cache_folder_without_a_git_folder_is_cloned_into(remote: Remote, tmp_path: Path) -> None:
    clone = source(remote, tmp_path).clone_dir
    clone.mkdir(parents=True)
    (clone / "fleet").mkdir()  # files of a clone whose .git was never completed
    synced = source(remote, tmp_path).sync()
    assert (synced.root / "gitops-edge.yaml").is_file()


# ── a conflicting status push ────────────────────────────────────────────────────────────────


def push_other_status(remote: Remote, branch: str, name: str = "a.json") -> None:
    """Someone else rewrites the status file `name` on the remote's `branch`."""
    other = remote.work.parent / f"other-{branch}"
    if not other.exists():
        run("clone", "-q", "-b", branch, remote.url, str(other), cwd=remote.work.parent)
    run("pull", "-q", "--rebase", "origin", branch, cwd=other)
    (other / "fleet" / STATUS / name).write_text('{"v": "someone else"}\n')
    run("add", "-A", cwd=other)
    run("-c", "user.name=o", "-c", "user.email=o@e", "commit", "-q", "-m", "other", cwd=other)
    run("push", "-q", "origin", branch, cwd=other)


def conflicting_push(remote: Remote, src: GitSource) -> None:
    """The reconciler pushes status a.json; someone else rewrites a.json on the remote; the
    reconciler's next status push conflicts in `git pull --rebase`."""
    src.sync()
    src.write_status({"a.json": '{"v": 1}\n'}, status_dir=STATUS, message="one")
    push_other_status(remote, "main")
    with pytest.raises(GitSourceError, match="cannot rebase the status commit") as failed:
        src.write_status({"a.json": '{"v": 2}\n'}, status_dir=STATUS, message="two")
    # What went wrong, not what git did along the way (refs fetched, rebase steps, repeats).
    assert re.search(
        r"over the remote: error: could not apply [0-9a-f]+\.\.\. two$", str(failed.value)
    ), failed.value


def test_a_status_conflict_does_not_leave_the_clone_in_a_rebase(
    remote: Remote, tmp_path: Path
) -> None:
    src = source(remote, tmp_path)
    conflicting_push(remote, src)
    # The next pass: sync, then status. Today the rebase stays and every push fails.
    again = source(remote, tmp_path)
    again.sync()
    pushed = again.write_status({"a.json": '{"v": 3}\n'}, status_dir=STATUS, message="three")
    assert pushed is not None and run("rev-parse", "main", cwd=remote.bare) == pushed
    shown = run("show", "main:fleet/status/a.json", cwd=remote.bare)
    assert shown == '{"v": 3}'
    # A later concurrent push that does not conflict is rebased over, as always (today: "there
    # is already a rebase-merge directory", on every pass from then on).
    push_other_status(remote, "main", "b.json")
    pushed = again.write_status({"a.json": '{"v": 4}\n'}, status_dir=STATUS, message="four")
    assert pushed is not None and run("rev-parse", "main", cwd=remote.bare) == pushed
    assert run("show", "main:fleet/status/b.json", cwd=remote.bare) == '{"v": "someone else"}'
    clean_state(src.clone_dir)


def test_a_status_branch_conflict_does_not_wedge_its_worktree(
    remote: Remote, tmp_path: Path
) -> None:
    """The status worktree is reset to the remote branch before each write, so the conflict
    needs a push between that reset and ours: its state is made here as `git pull --rebase`
    leaves it."""
    src = source(remote, tmp_path)
    src.sync()
    src.write_status(
        {"a.json": '{"v": 1}\n'}, status_dir=STATUS, message="one", status_branch="gitops-status"
    )
    tree = src.clone_dir.with_name(src.clone_dir.name + "-status")
    (tree / "fleet" / STATUS / "a.json").write_text('{"v": 2}\n')
    run("-c", "user.name=o", "-c", "user.email=o@e", "commit", "-qam", "two", cwd=tree)
    push_other_status(remote, "gitops-status")
    pull = subprocess.run(
        ["git", "pull", "--rebase", "origin", "gitops-status"], cwd=tree, capture_output=True
    )
    assert pull.returncode != 0 and "CONFLICT" in pull.stdout.decode()
    again = source(remote, tmp_path)
    again.sync()
    pushed = again.write_status(
        {"a.json": '{"v": 3}\n'},
        status_dir=STATUS,
        message="three",
        status_branch="gitops-status",
    )
    assert pushed is not None and run("rev-parse", "gitops-status", cwd=remote.bare) == pushed
    assert run("show", "gitops-status:fleet/status/a.json", cwd=remote.bare) == '{"v": 3}'
    tree = src.clone_dir.with_name(src.clone_dir.name + "-status")
    assert run("rev-parse", "--abbrev-ref", "HEAD", cwd=tree) == "gitops-status"
    clean_state(src.clone_dir)  # .git/worktrees/NAME/rebase-merge included


def test_a_status_worktree_killed_while_being_created_is_made_again(
    remote: Remote, tmp_path: Path
) -> None:
    """Killed between `worktree add` and the checkout of the status branch: the worktree is
    left detached, on no branch, at the spec commit of then; it is made again, so the status
    branch is created as always: grown from the spec branch's head of now, with the status
    commit on it and nothing else (unrepaired, it grew from the stale commit)."""
    src = source(remote, tmp_path)
    src.sync()
    tree = src.clone_dir.with_name(src.clone_dir.name + "-status")
    run("worktree", "add", "--detach", str(tree), cwd=src.clone_dir)
    bump(remote, "1.25.1")  # the spec moves on before the restart
    again = source(remote, tmp_path)
    spec_head = again.sync().revision
    pushed = again.write_status(
        {"a.json": "{}\n"}, status_dir=STATUS, message="s", status_branch="gitops-status"
    )
    assert pushed is not None
    assert run("rev-parse", "gitops-status", cwd=remote.bare) == pushed
    assert run("rev-parse", "gitops-status^", cwd=remote.bare) == spec_head
    changed = run("diff", "--name-only", spec_head, "gitops-status", cwd=remote.bare)
    assert changed.splitlines() == ["fleet/status/a.json"]


def test_a_merge_in_progress_is_aborted(remote: Remote, tmp_path: Path) -> None:
    src = source(remote, tmp_path)
    src.sync()
    clone = src.clone_dir
    for branch in ("side", "main"):
        run("checkout", "-q", "-B", branch, cwd=clone)
        (clone / "notes.txt").write_text(f"{branch}\n")
        run("add", "notes.txt", cwd=clone)
        run("-c", "user.name=o", "-c", "user.email=o@e", "commit", "-qm", branch, cwd=clone)
        run("checkout", "-q", "HEAD~1", cwd=clone)
    run("checkout", "-q", "main", cwd=clone)
    merge = subprocess.run(["git", "merge", "side"], cwd=clone, capture_output=True, check=False)
    assert merge.returncode != 0 and (clone / ".git" / "MERGE_HEAD").exists()
    pushed = source(remote, tmp_path).write_status(
        {"a.json": "{}\n"}, status_dir=STATUS, message="s"
    )
    assert pushed is not None and run("rev-parse", "main", cwd=remote.bare) == pushed
    clean_state(clone)


# ── what was repaired is logged ──────────────────────────────────────────────────────────────


def test_each_repair_is_reported(remote: Remote, tmp_path: Path) -> None:
    seen: list[Any] = []
    src = source(remote, tmp_path)
    src.sync()
    (src.clone_dir / ".git" / "index.lock").write_bytes(b"")
    (src.clone_dir / ".git" / "HEAD.lock").write_bytes(b"")
    source(remote, tmp_path, on_repair=seen.append).sync()
    described = [f"{r.problem}: {r.action.value}" for r in seen]
    assert any("index.lock" in d and "remove" in d for d in described), described
    assert any("HEAD.lock" in d for d in described), described


def test_the_reconcile_command_logs_a_warning_naming_problem_and_action(
    remote: Remote, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = source(remote, tmp_path)
    src.sync()
    (src.clone_dir / ".git" / "index.lock").write_bytes(b"")
    sim = tmp_path / "fleet.json"
    assert main(["sim", "init", str(sim), "--groups", "hangzhou=2"]) == 0
    capsys.readouterr()
    code = main(
        [
            "reconcile",
            remote.url,
            "--path",
            "fleet",
            "--cluster",
            f"sim:{sim}",
            "--once",
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    warnings = [line for line in err.splitlines() if " level=warning " in line]
    assert any("index.lock" in line and "remove" in line for line in warnings), err
    assert not (src.clone_dir / ".git" / "index.lock").exists()


# ── two processes, one cache directory ───────────────────────────────────────────────────────

HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from gitops_edge.source.gitsource import GitSource
    src = GitSource(sys.argv[1], branch="main", subpath="fleet", cache_dir=Path(sys.argv[2]))
    print(src.sync().revision)
    """
)


def test_a_second_process_waits_for_the_first_ones_clone(remote: Remote, tmp_path: Path) -> None:
    """Another process clones slowly into the shared cache; this one syncs meanwhile. Today it
    finds a half-made clone (and the first one's locks) and fails."""
    cache = tmp_path / "cache"
    clone = source(remote, tmp_path).clone_dir
    first = subprocess.Popen(
        [sys.executable, "-c", HOLDER, remote.url, str(cache)],
        cwd=tmp_path,  # not the project folder: the installed (or PYTHONPATH's) gitops_edge
        env=slow_git_env(tmp_path, SLOW),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not (clone / ".git" / "HEAD").exists():
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        synced = source(remote, tmp_path).sync()  # waits for the other process's clone
        out, err = first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
        for pipe in (first.stdout, first.stderr):
            if pipe is not None:
                pipe.close()
    assert first.returncode == 0, err
    head = run("rev-parse", "HEAD", cwd=remote.work)
    assert out.strip() == head and synced.revision == head
    assert not synced.fetched  # the clone was the other process's: nothing left to fetch


def test_a_process_that_cannot_get_the_clone_in_time_fails_clearly(
    remote: Remote, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    first = subprocess.Popen(
        [sys.executable, "-c", HOLDER, remote.url, str(cache)],
        cwd=tmp_path,  # not the project folder: the installed (or PYTHONPATH's) gitops_edge
        env=slow_git_env(tmp_path, 60),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    clone = source(remote, tmp_path).clone_dir
    try:
        deadline = time.monotonic() + 20
        while not (clone / ".git" / "HEAD").exists():
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        started = time.monotonic()
        with pytest.raises(GitSourceError, match=r"in use by another process.*--cache-dir"):
            source(remote, tmp_path, lock_timeout=0.5).sync()
        assert time.monotonic() - started < 10
        # The other process's clone was left alone: it is not stale, it is in progress.
        assert first.poll() is None and (clone / ".git" / "HEAD").exists()
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    # Killed in the middle: the next sync repairs the half-made clone.
    assert (source(remote, tmp_path).sync().root / "gitops-edge.yaml").is_file()


def test_inspection_reads_files_only_and_orders_the_repairs(tmp_path: Path) -> None:
    """What a killed `git pull --rebase` during a status write leaves, found without git:
    the locks go first, then the rebase is aborted, then the working tree reset."""
    from gitops_edge.source.clone_repair import Action, inspect_clone

    clone = tmp_path / "clone"
    git_dir = clone / ".git"
    (git_dir / "refs" / "heads").mkdir(parents=True)
    (git_dir / "HEAD").write_text("ref: refs/heads/main\n")
    (git_dir / "packed-refs").write_text(f"# pack-refs with: peeled\n{'a' * 40} refs/heads/main\n")
    for name in ("index.lock", "refs/heads/main.lock", "config.lock"):
        (git_dir / name).write_text("")
    (git_dir / "rebase-merge").mkdir()
    found = inspect_clone(clone)
    assert [(r.action, r.problem) for r in found] == [
        (Action.REMOVE_LOCK, "stale lock .git/config.lock"),
        (Action.REMOVE_LOCK, "stale lock .git/index.lock"),
        (Action.REMOVE_LOCK, "stale lock .git/refs/heads/main.lock"),
        (Action.ABORT_REBASE, "a rebase in progress (.git/rebase-merge)"),
        (Action.RESET, "the clone's files may be half written (index.lock)"),
    ]
    (git_dir / "packed-refs").unlink()  # HEAD names a branch with no commit
    assert [r.action for r in inspect_clone(clone)] == [Action.RECLONE]
    assert inspect_clone(tmp_path / "none") == ()


def test_a_rebase_that_cannot_be_aborted_means_cloning_again(
    remote: Remote, tmp_path: Path
) -> None:
    """A rebase killed as it started leaves an empty state folder that `git rebase --abort`
    cannot read: the clone is deleted and cloned again, and the status still goes out."""
    seen: list[Any] = []
    src = source(remote, tmp_path, on_repair=seen.append)
    src.sync()
    src.write_status({"a.json": '{"v": 1}\n'}, status_dir=STATUS, message="one")
    (src.clone_dir / ".git" / "rebase-merge").mkdir()
    push_other_status(remote, "main", "b.json")  # a concurrent push: ours needs a rebase
    with pytest.raises(GitSourceError, match=r"no usable clone.*next sync clones it again"):
        src.write_status({"a.json": '{"v": 2}\n'}, status_dir=STATUS, message="two")
    assert [r.action.name for r in seen] == ["RECLONE"], seen
    assert "rebase in progress" in seen[0].problem and "abort rebase" in seen[0].problem
    src.sync()
    pushed = src.write_status({"a.json": '{"v": 2}\n'}, status_dir=STATUS, message="two")
    assert pushed is not None and run("rev-parse", "main", cwd=remote.bare) == pushed
    assert "other" in run("log", "--format=%s", "main", cwd=remote.bare).splitlines()  # kept
    clean_state(src.clone_dir)


def test_a_stop_ends_the_wait_for_the_clone_lock_at_once(remote: Remote, tmp_path: Path) -> None:
    """SIGTERM (the loop's stop event, git's `cancel`) must not wait out the lock's 60 s."""
    stop = threading.Event()
    waiting = source(remote, tmp_path, cancel=stop)
    with CloneLock(waiting.clone_dir).held():  # another process's operation, as far as it knows
        threading.Timer(0.3, stop.set).start()
        started = time.monotonic()
        with pytest.raises(GitSourceError, match="stopped while waiting for the clone's lock"):
            waiting.sync()
        assert time.monotonic() - started < 5
