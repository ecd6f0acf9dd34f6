"""The clone of a git source: a branch of a repository (`file://`, `https://`, `ssh://`,
`user@host:path`) kept in a reusable clone under a cache directory, and synced (`GitClone`).

Each sync first asks the remote for the one branch ref (`git ls-remote`); only when that
differs from the clone's HEAD does it fetch, so an unchanged remote costs one small request.
Credentials come from the environment or the git configuration; URLs are shown with any
user:password part masked.
Every command that talks to the remote (ls-remote, clone, fetch, push, pull) runs through
`gitproc`: under a deadline (`timeout`, --git-timeout), killed with its helpers when it passes
or when `cancel` is set. Errors keep the meaningful lines of git's stderr (the remote's reason
for a refused push included), with a hint.
Every operation on the clone holds its lock and first repairs what a killed git left behind
(`on_clone`, see clone_repair), reporting each repair to `on_repair`.
Writing the status is `gitsource_status`'s, reading revisions `gitsource_revisions`'s; the
whole source is `gitsource.GitSource`.
Side effects: runs git, writes the clone under the cache directory.
"""

from __future__ import annotations

import functools
import hashlib
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

import git

from gitops_edge.reports.redaction import redact
from gitops_edge.source.clone_repair import (
    LOCK_TIMEOUT,
    CloneBusyError,
    CloneLock,
    Repair,
    repair_clone,
)
from gitops_edge.source.gitproc import (
    DEFAULT_TIMEOUT,
    LOW_SPEED_TIME,
    GitLimits,
    GitRun,
    GitTimeoutError,
    meaningful_lines,
    run_git,
)

_GITPYTHON_STDERR = re.compile(r"\s*stderr: '(.*)'\s*", re.DOTALL)


class GitSourceError(Exception):
    """The repository, branch or path cannot be read; the message says what to check."""


@dataclass(frozen=True, slots=True)
class Checkout:
    """A synced revision: the folder holding the desired state, and its commit."""

    root: Path
    revision: str
    fetched: bool  # whether this sync fetched (False: the remote head was unchanged)
    # The remote branch was rewritten (force-pushed): the head it had at the previous fetch is
    # not in its new history. (A local status commit the remote refused does not count.)
    forced: bool = False


_P = ParamSpec("_P")
_R = TypeVar("_R")
_S = TypeVar("_S", bound="GitClone")


def on_clone(
    *, repair: bool, needs_clone: bool = True
) -> Callable[[Callable[Concatenate[_S, _P], _R]], Callable[Concatenate[_S, _P], _R]]:
    """Run a GitSource method holding the clone's lock (and, with `repair`, repair the clone
    first): two processes sharing a --cache-dir take turns. Without a clone (none yet, or
    deleted by a repair) only a sync may run: it clones."""

    def wrap(
        method: Callable[Concatenate[_S, _P], _R],
    ) -> Callable[Concatenate[_S, _P], _R]:
        @functools.wraps(method)
        def locked(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                with self.lock.held():
                    for done in repair_clone(self.clone_dir) if repair else ():
                        if self.on_repair is not None:
                            self.on_repair(done)
                    if needs_clone and not (self.clone_dir / ".git").is_dir():
                        raise GitSourceError(
                            f"{redact(self.url)} ({self.branch}): no usable clone (a broken "
                            "one was deleted); the next sync clones it again"
                        )
                    return method(self, *args, **kwargs)
            except CloneBusyError as exc:
                raise GitSourceError(f"{redact(self.url)} ({self.branch}): {exc}") from None

        return locked

    return wrap


class GitClone:
    """A branch of a git repository, cloned under `cache_dir`. Each git command that talks to
    the remote may take `timeout` seconds (an HTTP transfer stalled below 1 KB/s is given up
    after `low_speed_time`); `cancel` (the loop's stop event) kills a running one at once."""

    def __init__(
        self,
        url: str,
        *,
        branch: str,
        subpath: str,
        cache_dir: Path,
        timeout: float = DEFAULT_TIMEOUT,
        low_speed_time: float = LOW_SPEED_TIME,
        cancel: threading.Event | None = None,
        on_repair: Callable[[Repair], None] | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> None:
        self.url = url
        self.branch = branch
        self.subpath = subpath.strip("/") or "."
        digest = hashlib.sha256(f"{url}#{branch}".encode()).hexdigest()[:16]
        self.clone_dir = cache_dir / digest
        self.limits = GitLimits(timeout=timeout, low_speed_time=low_speed_time)
        self.cancel = cancel
        self.on_repair = on_repair  # told of each repair of the clone (clone_repair)
        self.lock = CloneLock(self.clone_dir, timeout=lock_timeout, cancel=cancel)

    def _fail(self, what: str, failure: Exception | GitRun) -> GitSourceError:
        """`what` failed, with the meaningful lines of git's stderr on one line, and a hint."""
        stderr = failure.stderr if isinstance(failure, GitRun) else _stderr_of(failure)
        lines = meaningful_lines(stderr)
        if lines:
            detail = "; ".join(lines)
        elif isinstance(failure, GitRun):
            detail = f"git exited with code {failure.returncode}"
        else:
            detail = str(failure).strip() or type(failure).__name__
        hint = _hint(stderr)
        return GitSourceError(
            redact(f"{self.url} ({self.branch}): {what}: {detail}")
            + (f" (hint: {hint})" if hint else "")
        )

    def _git(
        self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> GitRun:
        """Run a git command that talks to the remote, under the deadline; a timeout (or a
        stop) is a GitSourceError naming the command and the time it had."""
        try:
            return run_git(args, limits=self.limits, cwd=cwd, env=env, cancel=self.cancel)
        except GitTimeoutError as exc:
            where = f"{redact(self.url)} ({self.branch})"
            if exc.cancelled:
                raise GitSourceError(f"{where}: {exc}") from None
            raise GitSourceError(
                f"{where}: {exc} and was stopped (hint: check that the remote answers: the "
                "network, a proxy or firewall, the server's load; or allow more time with "
                "--git-timeout SECONDS)"
            ) from None
        except OSError as exc:
            raise GitSourceError(
                f"{redact(self.url)}: cannot run git: {exc} (hint: install git)"
            ) from None

    def remote_head(self) -> str:
        """The commit the branch points to on the remote (one ref; no fetch)."""
        listed = self._git("ls-remote", self.url, f"refs/heads/{self.branch}")
        if not listed.ok:
            raise self._fail("cannot reach the repository", listed)
        out = listed.stdout
        if not out.strip():
            raise GitSourceError(f"{redact(self.url)}: no branch {self.branch!r}")
        return str(out.split()[0])

    @on_clone(repair=True, needs_clone=False)
    def sync(self) -> Checkout:
        """Make the clone match the remote branch; fetch only when its head moved."""
        head = self.remote_head()
        fetched = False
        if not (self.clone_dir / ".git").is_dir():
            self._clone()
            fetched = True
        repo: git.Repo | None = None
        try:
            repo = git.Repo(self.clone_dir)
            forced = False
            if repo.head.commit.hexsha != head:
                tracking = f"refs/remotes/origin/{self.branch}"
                previous = _resolve(repo, tracking)  # the remote's head at the last fetch
                done = self._git(
                    "fetch", "origin", f"+refs/heads/{self.branch}:{tracking}", cwd=self.clone_dir
                )
                if not done.ok:
                    raise self._fail("cannot fetch", done)
                fetched = True
                # Against the remote's previous head, not the local HEAD: that may hold a
                # status commit the remote refused, which is no rewrite of the branch.
                forced = previous is not None and not repo.is_ancestor(
                    repo.commit(previous), repo.commit(head)
                )
                # A force-pushed branch is followed too: the clone mirrors the remote.
                repo.git.reset("--hard", head)
                repo.git.clean("-fdx")
        except git.GitCommandError as exc:
            raise self._fail("cannot fetch", exc) from None
        finally:  # its `git cat-file` helpers hold pipes until closed
            if repo is not None:
                repo.close()
        root = self.clone_dir / self.subpath
        if not root.is_dir():
            raise GitSourceError(
                f"{redact(self.url)} ({self.branch}@{head[:12]}): no folder {self.subpath!r}; "
                "check --path"
            )
        return Checkout(root=root, revision=head, fetched=fetched, forced=forced)

    def _clone(self) -> None:
        """Clone the branch into the cache. A clone cut short by the deadline is removed, so
        the next pass clones afresh."""
        self.clone_dir.parent.mkdir(parents=True, exist_ok=True)
        args = ("clone", "--branch", self.branch, "--single-branch", "--", self.url)
        try:
            done = self._git(*args, str(self.clone_dir))
        except GitSourceError:
            shutil.rmtree(self.clone_dir, ignore_errors=True)
            raise
        if not done.ok:
            raise self._fail("cannot clone", done)

    @on_clone(repair=False)
    def spec_revision(self, *status_dirs: str) -> str:
        """The newest commit that changed the desired state: the reconciler's own status
        commits (only under `status_dirs`, relative to --path) never count as a spec change."""
        excluded = [f":(exclude){self._in_subpath(d)}" for d in dict.fromkeys(status_dirs)]
        with git.Repo(self.clone_dir) as repo:
            try:
                out = repo.git.rev_list("-1", "HEAD", "--", self.subpath, *excluded)
            except git.GitCommandError as exc:
                raise self._fail("cannot read the history", exc) from None
            return str(out).strip() or repo.head.commit.hexsha

    def _in_subpath(self, relative: str) -> str:
        """A path relative to --path, relative to the repository root."""
        return relative if self.subpath == "." else f"{self.subpath}/{relative}"


def _resolve(repo: git.Repo, ref: str) -> str | None:
    """The commit `ref` points to, or None when there is no such ref."""
    try:
        return str(repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}")).strip() or None
    except git.GitCommandError:
        return None


def _stderr_of(exc: Exception) -> str:
    """git's own stderr from a GitPython error (which wraps it as `stderr: '…'`)."""
    raw = str(getattr(exc, "stderr", "") or "")
    wrapped = _GITPYTHON_STDERR.fullmatch(raw)
    return wrapped.group(1) if wrapped else raw or str(exc)


def _hint(stderr: str) -> str:
    """What to do about a git failure, when its stderr says enough."""
    if "[remote rejected]" in stderr or "protected branch" in stderr.lower():
        return (
            "the remote refuses this push: let gitops-edge push to the "
            "branch, give it a status branch of its own (spec.status.branch), or run with "
            "--no-status"
        )
    lowered = stderr.lower()
    if any(s in lowered for s in ("authentication", "could not read username", "permission")):
        return "check the credentials (credential helper, token, SSH agent and key)"
    if any(s in lowered for s in ("could not resolve", "connect", "could not read from remote")):
        return "check the URL, the credentials and that the remote can be reached from here"
    return ""
