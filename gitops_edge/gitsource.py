"""Git sources: the desired state from a git repository (`file://`, `https://`, `ssh://`,
`user@host:path`), kept in a reusable clone under a cache directory.

The only module that imports `git` (GitPython). Each sync first asks the remote for the one
branch ref (`git ls-remote`); only when that differs from the clone's HEAD does it fetch, so an
unchanged remote costs one small request. Credentials come from the environment or the git
configuration; URLs are shown with any user:password part masked.
Every operation on the clone holds its lock and first repairs what a killed git left behind
(see clone_repair), reporting each repair to `on_repair`.
Side effects: runs git, writes the clone under the cache directory.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

import git

from gitops_edge.clone_repair import LOCK_TIMEOUT, CloneBusyError, CloneLock, Repair, repair_clone
from gitops_edge.status_folder import StatusFolderError, replace_status_files

_URL = re.compile(r"^(file|https?|ssh|git)://|^[\w.-]+@[\w.-]+:")
_CREDENTIALS = re.compile(r"//[^/@\s]+@")


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


def redact(text: str) -> str:
    """Mask `user:token@` in URLs so credentials never reach logs or errors."""
    return _CREDENTIALS.sub("//***@", text)


@dataclass(frozen=True, slots=True)
class Checkout:
    """A synced revision: the folder holding the desired state, and its commit."""

    root: Path
    revision: str
    fetched: bool  # whether this sync fetched (False: the remote head was unchanged)
    forced: bool = False  # the branch was rewritten (force-pushed): the old head is not in it


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
    def __init__(
        self,
        url: str,
        *,
        branch: str,
        subpath: str,
        cache_dir: Path,
        on_repair: Callable[[Repair], None] | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> None:
        self.url = url
        self.branch = branch
        self.subpath = subpath.strip("/") or "."
        digest = hashlib.sha256(f"{url}#{branch}".encode()).hexdigest()[:16]
        self.clone_dir = cache_dir / digest
        self.on_repair = on_repair  # told of each repair of the clone (clone_repair)
        self.lock = CloneLock(self.clone_dir, timeout=lock_timeout)

    def _fail(self, what: str, exc: Exception) -> GitSourceError:
        detail = redact(str(getattr(exc, "stderr", "") or exc)).strip().splitlines()
        return GitSourceError(
            f"{redact(self.url)} ({self.branch}): {what}: {detail[-1] if detail else exc}"
        )

    def remote_head(self) -> str:
        """The commit the branch points to on the remote (one ref; no fetch)."""
        try:
            out = str(git.cmd.Git().ls_remote(self.url, f"refs/heads/{self.branch}"))
        except git.GitCommandError as exc:
            raise self._fail("cannot reach the repository", exc) from None
        if not out.strip():
            raise GitSourceError(f"{redact(self.url)}: no branch {self.branch!r}")
        return str(out.split()[0])

    @_on_clone(repair=True, needs_clone=False)
    def sync(self) -> Checkout:
        """Make the clone match the remote branch; fetch only when its head moved."""
        head = self.remote_head()
        fetched = False
        repo: git.Repo | None = None
        try:
            if not (self.clone_dir / ".git").is_dir():
                self.clone_dir.parent.mkdir(parents=True, exist_ok=True)
                repo = git.Repo.clone_from(
                    self.url, self.clone_dir, branch=self.branch, single_branch=True
                )
                fetched = True
            else:
                repo = git.Repo(self.clone_dir)
            forced = False
            old = repo.head.commit.hexsha
            if old != head:
                repo.git.fetch(
                    "origin", f"+refs/heads/{self.branch}:refs/remotes/origin/{self.branch}"
                )
                fetched = True
                forced = not repo.is_ancestor(repo.commit(old), repo.commit(head))
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
                    try:
                        repo.git.push("origin", f"HEAD:refs/heads/{branch}")
                        break
                    except git.GitCommandError:
                        if attempt == PUSH_ATTEMPTS:
                            raise
                        repo.git.pull("--rebase", "origin", branch)
            return str(repo.head.commit.hexsha)
        except git.GitCommandError as exc:
            raise self._fail("cannot push the status commit", exc) from None
        finally:
            if repo is not None:
                repo.close()

    def _status_worktree(self, status_branch: str) -> git.Repo:
        """A worktree on `status_branch`, up to date with the remote (created, as an orphan
        branch, when the remote has none). The caller closes it."""
        tree = self.clone_dir.with_name(self.clone_dir.name + "-status")
        remote_ref = f"refs/remotes/origin/{status_branch}"
        created = False
        with git.Repo(self.clone_dir) as repo:
            exists = bool(str(repo.git.ls_remote("origin", f"refs/heads/{status_branch}")).strip())
            if exists:
                repo.git.fetch("origin", f"+refs/heads/{status_branch}:{remote_ref}")
            if not (tree / ".git").exists():
                repo.git.worktree("prune")
                repo.git.worktree("add", "--detach", str(tree))
                created = True
        work = git.Repo(tree)
        if created and exists:
            work.git.checkout("-B", status_branch, remote_ref)
        elif created:
            work.git.checkout("--orphan", status_branch)
            work.git.rm("-rfq", "--ignore-unmatch", ".")
        elif exists:
            work.git.reset("--hard", remote_ref)
        return work


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
