"""The reconciler's cached git clone heals itself: what is inconsistent in it (and in its status
worktree `<clone>-status`) and what repairs it, and the lock that makes us its only writer.

A git process killed with SIGKILL (a container kill) cleans nothing up: it leaves lock files
(`index.lock`, `HEAD.lock`, `refs/heads/*.lock`, `config.lock`, `shallow.lock`, …), a first
clone with no commit behind HEAD, or a rebase or merge in progress. The cache is ours: every
git operation on a clone runs under `clone_lock` (an exclusive `flock` on `<clone>.lock`, next
to the clone), so a git lock file found while holding it belongs to a dead process by
definition and is removed; a rebase or merge is aborted; a clone whose HEAD names no commit is
deleted (the caller clones again); a status worktree that is not on a branch is made again.

`inspect_clone` reads files under `.git` only (no git) and returns the `Repair`s to make;
`repair_clone` makes them, running the `git` executable (`gitproc.run_git`), and returns them so the
caller can log each one.
Side effects: `clone_lock` creates and locks the lock file; `repair_clone` deletes lock files,
runs git in the clone, and may delete the clone or the status worktree.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from gitops_edge.source.gitproc import GitLimits, GitTimeoutError, run_git

LOCK_TIMEOUT = 60.0  # seconds a process waits for another one's git operation on the clone
GIT_TIMEOUT = 120.0  # seconds a repair's git command may take
REPAIR_LIMITS = GitLimits(timeout=GIT_TIMEOUT)
_SHA = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
_REBASE = ("rebase-merge", "rebase-apply")  # `git rebase` state folders (merge / apply backend)


class Action(Enum):
    """What repairs a problem, in the order repairs are made."""

    RECLONE = "deleted the clone to clone it again"
    REMOVE_LOCK = "removed the stale lock file"
    ABORT_REBASE = "aborted the rebase (git rebase --abort)"
    ABORT_MERGE = "aborted the merge (git merge --abort)"
    RESET = "reset the working tree to HEAD (git reset --hard)"
    RECREATE_WORKTREE = "deleted the status worktree to create it again"


@dataclass(frozen=True, slots=True, kw_only=True)
class Repair:
    """One inconsistency of a clone and what repairs it: `path` is the file or folder
    concerned, `work_tree` where a git command for it runs."""

    problem: str
    action: Action
    path: Path
    work_tree: Path

    def describe(self) -> str:
        return f"{self.problem}: {self.action.value}"


class CloneBusyError(Exception):
    """Another process held the clone's lock for longer than we wait."""


class CloneLock:
    """A lock file next to a clone, `flock`ed exclusively for each git operation on the clone.
    The kernel releases it when its holder dies, even by SIGKILL: it is never stale."""

    def __init__(
        self,
        clone_dir: Path,
        *,
        timeout: float = LOCK_TIMEOUT,
        cancel: threading.Event | None = None,
    ) -> None:
        self.path = clone_dir.with_name(clone_dir.name + ".lock")
        self.timeout = timeout
        self.cancel = cancel  # set (the loop is stopping): waiting for the lock ends at once

    @contextmanager
    def held(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + self.timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if self.cancel is not None and self.cancel.is_set():
                        raise CloneBusyError("stopped while waiting for the clone's lock") from None
                    if time.monotonic() >= deadline:
                        raise CloneBusyError(
                            f"the clone is in use by another process (lock {self.path}), "
                            f"waited {self.timeout:g} s; processes sharing a --cache-dir take "
                            "turns on a clone: give this one its own --cache-dir, or stop the "
                            "other one"
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def status_tree_of(clone_dir: Path) -> Path:
    """The worktree that holds a status branch, next to the clone."""
    return clone_dir.with_name(clone_dir.name + "-status")


def inspect_clone(clone_dir: Path) -> tuple[Repair, ...]:
    """What is inconsistent in the clone at `clone_dir` and its status worktree, and what
    repairs it. Call it holding the clone's lock: every git lock file is then stale."""
    if not clone_dir.exists():
        return ()
    git_dir = clone_dir / ".git"
    if not git_dir.is_dir():
        problem = "the clone has no .git folder (a first clone was interrupted)"
        return (_reclone(problem, clone_dir),)
    if not _head_resolves(git_dir):
        problem = "the clone's HEAD names no commit (a first clone was interrupted)"
        return (_reclone(problem, clone_dir),)
    repairs = list(_admin_repairs(git_dir, work_tree=clone_dir, main=True))
    repairs += _worktree_repairs(git_dir, status_tree_of(clone_dir))
    return tuple(repairs)


def _admin_repairs(admin: Path, *, work_tree: Path, main: bool) -> Iterator[Repair]:
    """Stale locks, rebase and merge of one working tree's git folder (`.git`, or
    `.git/worktrees/NAME` for a linked worktree)."""
    # The lock files git takes outside objects/: top-level ones (index, HEAD, config, shallow,
    # packed-refs, ORIG_HEAD, …) and, in the main git folder, ref locks under refs/.
    candidates = [p for p in admin.iterdir() if p.name.endswith(".lock")]
    if main:
        candidates += [p for p in (admin / "refs").rglob("*.lock")]
    for lock in sorted(candidates):
        yield Repair(
            problem=f"stale lock {_shown(lock)}",
            action=Action.REMOVE_LOCK,
            path=lock,
            work_tree=work_tree,
        )
    for state in _REBASE:
        if (admin / state).exists():
            yield Repair(
                problem=f"a rebase in progress ({_shown(admin / state)})",
                action=Action.ABORT_REBASE,
                path=admin / state,
                work_tree=work_tree,
            )
    if (admin / "MERGE_HEAD").exists():
        yield Repair(
            problem=f"a merge in progress ({_shown(admin / 'MERGE_HEAD')})",
            action=Action.ABORT_MERGE,
            path=admin / "MERGE_HEAD",
            work_tree=work_tree,
        )
    if (admin / "index.lock").exists():
        where = "clone" if main else "status worktree"
        problem = f"the {where}'s files may be half written (index.lock)"
        yield Repair(problem=problem, action=Action.RESET, path=work_tree, work_tree=work_tree)


def _worktree_repairs(git_dir: Path, tree: Path) -> list[Repair]:
    admin = _admin_of(git_dir, tree)
    if admin is None:
        if tree.exists():
            problem = "the status worktree is not registered in the clone"
            return [_recreate(problem, tree)]
        return []
    rebasing = any((admin / state).exists() for state in _REBASE)  # HEAD is detached then
    on_branch = rebasing or _read(admin / "HEAD").startswith("ref: refs/heads/")
    if not tree.is_dir() or (admin / "locked").exists() or not on_branch:
        problem = "the status worktree is not on its branch (its creation was interrupted)"
        return [_recreate(problem, tree)]
    return list(_admin_repairs(admin, work_tree=tree, main=False))


def _admin_of(git_dir: Path, tree: Path) -> Path | None:
    """The `.git/worktrees/NAME` folder of the worktree at `tree`, if registered."""
    folder = git_dir / "worktrees"
    if not folder.is_dir():
        return None
    target = (tree / ".git").resolve()
    for admin in sorted(folder.iterdir()):
        gitdir = _read(admin / "gitdir")
        if gitdir and Path(gitdir).resolve() == target:
            return admin
    return None


def _head_resolves(git_dir: Path) -> bool:
    """HEAD names a commit hash, directly or through a ref (loose or packed). Whether that
    commit's object is there is for git to say (`repair_clone` asks it)."""
    head = _read(git_dir / "HEAD")
    if _SHA.match(head):
        return True
    if not head.startswith("ref: "):
        return False
    ref = head.removeprefix("ref: ").strip()
    if _SHA.match(_read(git_dir / ref)):
        return True
    packed = _read(git_dir / "packed-refs")
    return any(line.split(" ", 1)[-1] == ref for line in packed.splitlines() if " " in line)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""


def _shown(path: Path) -> str:
    """`path` from its `.git` folder on: what git itself names in its messages."""
    parts = path.parts
    return "/".join(parts[parts.index(".git") :]) if ".git" in parts else str(path)


def repair_clone(clone_dir: Path) -> tuple[Repair, ...]:
    """Make the repairs `inspect_clone` finds, holding the clone's lock. A repair whose git
    command fails turns into cloning again (or making the status worktree again). Returns
    what was done, for the caller to log."""
    repairs = list(inspect_clone(clone_dir))
    recloning = any(r.action is Action.RECLONE for r in repairs) or not clone_dir.is_dir()
    if not recloning and not _git_ok(clone_dir, "rev-parse", "--verify", "-q", "HEAD^{commit}"):
        problem = "the commit HEAD names is missing from the clone"
        repairs = [_reclone(problem, clone_dir)]
    done: list[Repair] = []
    for repair in sorted(repairs, key=lambda r: list(Action).index(r.action)):
        if any(d.action is Action.RECREATE_WORKTREE for d in done) and (
            repair.work_tree == status_tree_of(clone_dir)
        ):
            continue  # that worktree is gone: it is made again from scratch
        if not _make(repair, clone_dir):
            fallback = _fallback(repair, clone_dir)
            _make(fallback, clone_dir)
            done.append(fallback)
            if fallback.action is Action.RECLONE:
                break
        else:
            done.append(repair)
        if repair.action is Action.RECLONE:
            break
    return tuple(done)


def _fallback(failed: Repair, clone_dir: Path) -> Repair:
    attempt = failed.action.name.lower().replace("_", " ")
    problem = f"{failed.problem}, which `{attempt}` could not repair"
    in_worktree = failed.work_tree == status_tree_of(clone_dir)
    if in_worktree and failed.action is not Action.RECREATE_WORKTREE:
        return _recreate(problem, failed.work_tree)
    return _reclone(problem, clone_dir)


def _reclone(problem: str, clone_dir: Path) -> Repair:
    return Repair(problem=problem, action=Action.RECLONE, path=clone_dir, work_tree=clone_dir)


def _recreate(problem: str, tree: Path) -> Repair:
    return Repair(problem=problem, action=Action.RECREATE_WORKTREE, path=tree, work_tree=tree)


def _make(repair: Repair, clone_dir: Path) -> bool:
    """Carry out one repair; False when its git command failed."""
    match repair.action:
        case Action.REMOVE_LOCK:
            repair.path.unlink(missing_ok=True)
            return True
        case Action.ABORT_REBASE:
            return _git_ok(repair.work_tree, "rebase", "--abort") or not repair.path.exists()
        case Action.ABORT_MERGE:
            return _git_ok(repair.work_tree, "merge", "--abort") or not repair.path.exists()
        case Action.RESET:
            return _git_ok(repair.work_tree, "reset", "-q", "--hard", "HEAD")
        case Action.RECLONE:
            shutil.rmtree(status_tree_of(clone_dir), ignore_errors=True)
            shutil.rmtree(clone_dir, ignore_errors=True)
            return True
        case Action.RECREATE_WORKTREE:
            tree = status_tree_of(clone_dir)
            admin = _admin_of(clone_dir / ".git", tree)
            shutil.rmtree(tree, ignore_errors=True)
            if admin is not None:
                shutil.rmtree(admin, ignore_errors=True)
            return _git_ok(clone_dir, "worktree", "prune")


def _git_ok(cwd: Path, *args: str) -> bool:
    """Whether the local git command succeeded (within GIT_TIMEOUT; killed with its children
    past it, as every git the reconciler runs: `gitproc.run_git`)."""
    try:
        return run_git(args, limits=REPAIR_LIMITS, cwd=cwd).ok
    except (OSError, GitTimeoutError):
        return False


def log_repairs(log: Callable[..., None]) -> Callable[[Repair], None]:
    """A `GitSource(on_repair=…)` callback that logs each repair as a warning."""

    def logged(repair: Repair) -> None:
        log(
            "warning",
            "repaired the git clone",
            problem=repair.problem,
            action=repair.action.value,
            path=str(repair.path),
        )

    return logged
