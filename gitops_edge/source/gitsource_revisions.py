"""Reading revisions of a git source (`GitRevisions`): a committed file on the spec or another
branch, fetching a branch, whether a commit is in the branch's history, a revision's tree in a
temporary worktree; and, for previews, a revision of a local repository exported to a folder
(`export_revision`, `repository_root`).
Side effects: runs git; `revision_tree` adds and removes a worktree next to the clone,
`export_revision` writes the destination folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import git

from gitops_edge.reports.redaction import redact
from gitops_edge.source.clone_repair import CloneBusyError
from gitops_edge.source.gitsource_clone import GitClone, GitSourceError, on_clone


class GitRevisions(GitClone):
    """The revision reads of a git source."""

    @on_clone(repair=False)
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

    @on_clone(repair=False)
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

    @on_clone(repair=False)
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
