"""Git sources: the desired state from a git repository (`file://`, `https://`, `ssh://`,
`user@host:path`), kept in a reusable clone under a cache directory.

The only module that imports `git` (GitPython). Each sync first asks the remote for the one
branch ref (`git ls-remote`); only when that differs from the clone's HEAD does it fetch, so an
unchanged remote costs one small request. Credentials come from the environment or the git
configuration; URLs are shown with any user:password part masked.
Every command that talks to the remote (ls-remote, clone, fetch, push, pull) runs through
`gitproc`: under a deadline (`timeout`, --git-timeout), killed with its helpers when it passes
or when `cancel` is set. Errors keep the meaningful lines of git's stderr (the remote's reason
for a refused push included).
Every operation on the clone holds its lock and first repairs what a killed git left behind
(see clone_repair), reporting each repair to `on_repair`.
Side effects: runs git, writes the clone under the cache directory.
"""

from __future__ import annotations

import functools
import hashlib
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

import git

from gitops_edge.clone_repair import LOCK_TIMEOUT, CloneBusyError, CloneLock, Repair, repair_clone
from gitops_edge.gitproc import (
    DEFAULT_TIMEOUT,
    LOW_SPEED_TIME,
    GitLimits,
    GitRun,
    GitTimeoutError,
    meaningful_lines,
    run_git,
)
from gitops_edge.redaction import redact as redact  # re-exported: its callers import it here
from gitops_edge.status_folder import StatusFolderError, replace_status_files

_URL = re.compile(r"^(file|https?|ssh|git)://|^[\w.-]+@[\w.-]+:")
# A push refused because the branch moved meanwhile: rebase over it and push again. Anything
# else (a protected branch, credentials, the network) is reported at once.
_LOST_RACE = re.compile(r"\[rejected\]|cannot lock ref|incorrect old value")
_GITPYTHON_STDERR = re.compile(r"\s*stderr: '(.*)'\s*", re.DOTALL)


PUSH_ATTEMPTS = 4
_IDENTITY = {
    "GIT_AUTHOR_NAME": "gitops-edge",
    "GIT_AUTHOR_EMAIL": "gitops-edge@users.noreply.local",
    "GIT_COMMITTER_NAME": "gitops-edge",
    "GIT_COMMITTER_EMAIL": "gitops-edge@users.noreply.local",
}


class GitSourceError(Exception):
    """The repository, branch or path cannot be read; the message says what to check."""


def is_git_url(source: str) -> bool:
    return bool(_URL.match(source))


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


def _on_clone(
    *, repair: bool, needs_clone: bool = True
) -> Callable[[Callable[Concatenate[GitSource, _P], _R]], Callable[Concatenate[GitSource, _P], _R]]:
    """Run a GitSource method holding the clone's lock (and, with `repair`, repair the clone
    first): two processes sharing a --cache-dir take turns. Without a clone (none yet, or
    deleted by a repair) only a sync may run: it clones."""

    def wrap(
        method: Callable[Concatenate[GitSource, _P], _R],
    ) -> Callable[Concatenate[GitSource, _P], _R]:
        @functools.wraps(method)
        def locked(self: GitSource, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
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


class GitSource:
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

    @_on_clone(repair=True, needs_clone=False)
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

    @_on_clone(repair=False)
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

    @_on_clone(repair=True)
    def write_status(
        self, files: dict[str, str], *, status_dir: str, message: str, status_branch: str = ""
    ) -> str | None:
        """Replace the status folder's files (names may contain `/` for sub-folders), commit and
        push them; None when nothing changed.
        With `status_branch`, they go to that branch (a worktree of its own, the branch created
        on first use) and the spec branch is never written. Pushes are retried after
        `git pull --rebase` (concurrent commits are kept), never forced. A symbolic link as the
        status folder, on its path or in it is a GitSourceError naming it: nothing is
        written, deleted or committed (see status_folder)."""
        branch = status_branch or self.branch
        repo: git.Repo | None = None
        try:
            repo = (
                self._status_worktree(status_branch) if status_branch else git.Repo(self.clone_dir)
            )
            work_tree = str(repo.working_tree_dir)
            relative = self._in_subpath(status_dir)
            try:  # never through a symbolic link: nothing outside the clone is touched
                replace_status_files(work_tree, relative, files)
            except StatusFolderError as exc:
                raise GitSourceError(
                    f"{redact(self.url)} ({branch}): cannot write the status: {exc}"
                ) from None
            folder = Path(work_tree) / relative
            repo.git.add("-A", "--", str(folder))
            if not repo.git.status("--porcelain", "--", str(folder)).strip():
                return None
            with repo.git.custom_environment(**_IDENTITY):
                repo.git.commit("-m", message, "--", str(folder))
            for attempt in range(1, PUSH_ATTEMPTS + 1):
                pushed = self._git(
                    "push", "origin", f"HEAD:refs/heads/{branch}", cwd=Path(work_tree)
                )
                if pushed.ok:
                    break
                if attempt == PUSH_ATTEMPTS or not _LOST_RACE.search(pushed.stderr):
                    raise self._fail("cannot push the status commit", pushed)
                pulled = self._git(
                    "pull", "--rebase", "origin", branch, cwd=Path(work_tree), env=_IDENTITY
                )
                if not pulled.ok:
                    raise self._fail("cannot rebase the status commit over the remote", pulled)
            return str(repo.head.commit.hexsha)
        except git.GitCommandError as exc:
            raise self._fail("cannot push the status commit", exc) from None
        finally:
            if repo is not None:
                repo.close()

    def _status_worktree(self, status_branch: str) -> git.Repo:
        """A worktree on `status_branch`, up to date with the remote (created from the synced
        spec head when the remote has none). The caller closes it."""
        tree = self.clone_dir.with_name(self.clone_dir.name + "-status")
        remote_ref = f"refs/remotes/origin/{status_branch}"
        created = False
        listed = self._git("ls-remote", "origin", f"refs/heads/{status_branch}", cwd=self.clone_dir)
        if not listed.ok:
            raise self._fail("cannot reach the repository", listed)
        exists = bool(listed.stdout.strip())
        if exists:
            done = self._git(
                "fetch", "origin", f"+refs/heads/{status_branch}:{remote_ref}", cwd=self.clone_dir
            )
            if not done.ok:
                raise self._fail(f"cannot fetch the status branch {status_branch!r}", done)
        with git.Repo(self.clone_dir) as repo:
            if not (tree / ".git").exists():
                repo.git.worktree("prune")
                repo.git.worktree("add", "--detach", str(tree))
                created = True
        work = git.Repo(tree)
        if created and exists:
            work.git.checkout("-B", status_branch, remote_ref)
        elif created:  # from the spec head: the status history keeps the user's commits
            work.git.checkout("-B", status_branch)
        elif exists:
            work.git.reset("--hard", remote_ref)
        return work

    @_on_clone(repair=False)
    def read_committed(self, relative: str, *, branch: str = "") -> str | None:
        """The text of the file at `relative` (relative to --path) as committed on `branch`
        (fetched from the remote first), or on the synced spec branch when `branch` is empty;
        None when that branch or file does not exist, or is not a regular file."""
        path = self._in_subpath(relative)
        ref = "HEAD"
        if branch:
            if self._fetch_branch(branch) is None:
                return None
            ref = f"refs/remotes/origin/{branch}"
        with git.Repo(self.clone_dir) as repo:
            try:
                item = repo.commit(ref).tree / path
            except KeyError:
                return None
            except git.GitCommandError as exc:
                raise self._fail(f"cannot read {relative}", exc) from None
            if not isinstance(item, git.Blob) or item.mode == git.Blob.link_mode:
                return None
            return bytes(item.data_stream.read()).decode("utf-8", errors="replace")

    @_on_clone(repair=False)
    def fetch_branch(self, branch: str) -> str | None:
        """Fetch `branch` (e.g. the status branch) from the remote: its head commit, or None
        when the remote has no such branch. See revision_tree to read it."""
        return self._fetch_branch(branch)

    def _fetch_branch(self, branch: str) -> str | None:
        """fetch_branch, for a caller that already holds the clone's lock."""
        listed = self._git("ls-remote", "origin", f"refs/heads/{branch}", cwd=self.clone_dir)
        if not listed.ok:
            raise self._fail("cannot reach the repository", listed)
        if not listed.stdout.strip():
            return None
        ref = f"refs/remotes/origin/{branch}"
        done = self._git("fetch", "origin", f"+refs/heads/{branch}:{ref}", cwd=self.clone_dir)
        if not done.ok:
            raise self._fail(f"cannot fetch the branch {branch!r}", done)
        return str(listed.stdout.split()[0])

    @_on_clone(repair=False)
    def in_history(self, revision: str) -> bool:
        """Whether commit `revision` (a full hash) is the synced branch head or one of its
        ancestors (False when the clone does not have it: e.g. force-pushed away)."""
        with git.Repo(self.clone_dir) as repo:
            try:
                commit = repo.commit(revision)
            except (git.BadName, ValueError):  # not a commit of this clone
                return False
            return bool(repo.is_ancestor(commit, repo.head.commit))

    @contextmanager
    def revision_tree(self, revision: str) -> Iterator[Path]:
        """The desired-state folder (--path) as of commit `revision`, checked out exactly (links
        and attributes as in a clone) in a temporary worktree next to the clone, under the cache
        directory (the root file system may be read-only); removed on exit. The clone's own
        checkout does not change."""
        tree = self.clone_dir.with_name(self.clone_dir.name + "-revision")
        try:  # the lock is held for the whole use: another process must not prune it meanwhile
            with self.lock.held():
                with git.Repo(self.clone_dir) as repo:
                    try:
                        _drop_worktree(repo, tree)  # left behind by a killed run
                        repo.git.worktree("add", "--detach", str(tree), revision)
                    except git.GitCommandError as exc:
                        raise self._fail(f"cannot check out revision {revision}", exc) from None
                try:
                    yield tree / self.subpath
                finally:
                    with git.Repo(self.clone_dir) as repo:
                        try:
                            _drop_worktree(repo, tree)
                        except git.GitCommandError:
                            shutil.rmtree(tree, ignore_errors=True)  # pruned by the next use
        except CloneBusyError as exc:
            raise GitSourceError(f"{redact(self.url)} ({self.branch}): {exc}") from None


def _drop_worktree(repo: git.Repo, tree: Path) -> None:
    """Remove the worktree at `tree` and forget it, whether or not git still knows it."""
    if tree.exists():
        shutil.rmtree(tree)
    repo.git.worktree("prune")


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


def export_revision(repo_dir: Path, revision: str, dest: Path) -> str:
    """Write the tree of `revision` of the repository at `repo_dir` into `dest` (which must not
    exist); returns the full commit hash. For previews: nothing in the repository changes."""
    try:
        repo = git.Repo(repo_dir, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise GitSourceError(f"{repo_dir}: cannot read revision {revision!r} ({exc})") from None
    with repo:  # its `git cat-file` helpers hold pipes until closed
        try:
            commit = repo.commit(revision)
        except (git.BadName, ValueError) as exc:
            raise GitSourceError(f"{repo_dir}: cannot read revision {revision!r} ({exc})") from None
        dest.mkdir(parents=True)
        for blob in commit.tree.traverse():
            if not isinstance(blob, git.Blob):
                continue
            target = dest / str(blob.path)
            if blob.mode == git.Blob.link_mode:
                continue  # symbolic links are never followed, here as in validation
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blob.data_stream.read())
        return str(commit.hexsha)


def repository_root(path: Path) -> Path:
    """The top folder of the git repository holding `path`."""
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise GitSourceError(f"{path}: not inside a git repository") from None
    with repo:
        return Path(str(repo.working_tree_dir))
