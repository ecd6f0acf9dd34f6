"""Issue 16 item 5: git errors say what went wrong. The meaningful lines of git's stderr are
kept (not only the last one, which was `and the repository exists.'` or a lone `'`), a
protected branch's rejection shows the remote's reason, and a force-push is reported only
when the remote branch really moved backwards — not on every pass after a rejected push."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from test_git_source import EXAMPLE, Remote, run

from gitops_edge.reconciler.publish import GitPublisher
from gitops_edge.source.gitsource import GitSource, GitSourceError

REASON = "main is protected: status changes go through a pull request"
HOOK = f"""#!/bin/sh
echo attempt >> "$GIT_DIR/push-attempts"
if [ -e "$GIT_DIR/protected" ]; then
    echo "{REASON}" >&2
    exit 1
fi
exit 0
"""


class Protected:
    """A bare remote whose `pre-receive` hook refuses every push while `protected` exists."""

    def __init__(self, tmp: Path) -> None:
        self.remote = Remote(tmp)
        shutil.copytree(EXAMPLE, self.remote.work / "fleet")
        self.remote.commit("fleet")
        hook = self.remote.bare / "hooks" / "pre-receive"
        hook.write_text(HOOK)
        hook.chmod(0o755)
        self.logs: list[tuple[str, str, dict[str, Any]]] = []
        source = GitSource(self.remote.url, branch="main", subpath="fleet", cache_dir=tmp / "cache")
        self.publisher = GitPublisher(source=source, log=self.log)

    def log(self, level: str, message: str, **fields: Any) -> None:
        self.logs.append((level, message, fields))

    def protect(self, on: bool) -> None:
        flag = self.remote.bare / "protected"
        if on:
            flag.write_text("")
        else:
            flag.unlink()

    def attempts(self) -> int:
        counter = self.remote.bare / "push-attempts"
        return len(counter.read_text().splitlines()) if counter.exists() else 0

    def push_status(self, text: str) -> None:
        self.publisher.source.write_status(
            {"note.json": text}, status_dir="status", message=f"status: {text.strip()}"
        )

    def force_warnings(self) -> int:
        return sum("force-pushed" in message for _, message, _ in self.logs)


def test_an_unreachable_repository_says_why(tmp_path: Path) -> None:
    missing = (tmp_path / "nowhere.git").as_uri()
    source = GitSource(missing, branch="main", subpath=".", cache_dir=tmp_path / "c")
    with pytest.raises(GitSourceError) as caught:
        source.sync()
    message = str(caught.value)
    assert "cannot reach the repository" in message
    assert "does not appear to be a git repository" in message  # git's own reason, kept
    assert not message.rstrip().endswith("'")


def test_a_protected_branch_rejection_shows_the_remote_reason(tmp_path: Path) -> None:
    world = Protected(tmp_path)
    world.protect(True)
    world.publisher.load()
    with pytest.raises(GitSourceError) as caught:
        world.push_status("{}\n")
    message = str(caught.value)
    assert "cannot push the status commit" in message
    assert f"remote: {REASON}" in message
    assert "[remote rejected]" in message and "pre-receive hook declined" in message
    assert message.count(REASON) == 1
    assert "\n" not in message  # one line, for the log
    # a refusal is not a race lost to a concurrent push: no pull --rebase and retry storm
    assert world.attempts() == 1


def test_a_force_push_is_reported_only_when_the_remote_branch_moved_backwards(
    tmp_path: Path,
) -> None:
    world = Protected(tmp_path)
    world.protect(True)
    for number in range(3):  # each pass leaves an unpushed status commit in the clone
        world.publisher.load()
        with pytest.raises(GitSourceError, match="pre-receive hook declined"):
            world.push_status(f'{{"pass": {number}}}\n')
    assert world.force_warnings() == 0
    world.protect(False)
    (world.remote.work / "README.md").write_text("a user's commit\n")
    world.remote.commit("a user's commit")  # the branch moves forwards
    world.publisher.load()
    assert world.force_warnings() == 0
    run("reset", "-q", "--hard", "HEAD~1", cwd=world.remote.work)
    (world.remote.work / "other.txt").write_text("history rewritten\n")
    rewritten = world.remote.commit("history rewritten", force=True)
    loaded = world.publisher.load()
    assert loaded.revision == rewritten or world.force_warnings() == 1
    assert world.force_warnings() == 1
    world.publisher.load()  # the same head again: no second warning
    assert world.force_warnings() == 1
