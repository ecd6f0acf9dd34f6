"""Writing the status of a git source (`GitStatusWriter`): the status folder's files replaced,
committed and pushed, on the spec branch or on a status branch of its own (a worktree next to
the clone, the branch created on first use). Pushes are retried after `git pull --rebase`
(concurrent commits are kept), never forced; nothing is written through a symbolic link
(`status_folder`).
Side effects: runs git; writes the clone, its status worktree and the remote branch.
"""

from __future__ import annotations

import re
from pathlib import Path

import git

from gitops_edge.reports.redaction import redact
from gitops_edge.source.gitsource_clone import GitClone, GitSourceError, on_clone
from gitops_edge.source.status_folder import StatusFolderError, replace_status_files

# A push refused because the branch moved meanwhile: rebase over it and push again. Anything
# else (a protected branch, credentials, the network) is reported at once.
_LOST_RACE = re.compile(r"\[rejected\]|cannot lock ref|incorrect old value")
PUSH_ATTEMPTS = 4
_IDENTITY = {
    "GIT_AUTHOR_NAME": "gitops-edge",
    "GIT_AUTHOR_EMAIL": "gitops-edge@users.noreply.local",
    "GIT_COMMITTER_NAME": "gitops-edge",
    "GIT_COMMITTER_EMAIL": "gitops-edge@users.noreply.local",
}


class GitStatusWriter(GitClone):
    """The status writing of a git source."""

    @on_clone(repair=True)
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
