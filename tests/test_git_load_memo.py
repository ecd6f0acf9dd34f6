"""A git source is validated and rendered again only when the checkout's commit moved: a loop
pass over an unchanged branch reuses the desired state (or the diagnostics) it loaded last,
since a commit fixes every byte of the tree (at 100,000 nodes validating and rendering was
2.7 s of each pass). A new commit, or a status folder newly written to (it changes which
commit is the spec revision), loads again."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from test_git_source import EXAMPLE, Remote

from gitops_edge.reconciler import publish
from gitops_edge.reconciler.publish import GitPublisher
from gitops_edge.source.gitsource import GitSource


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The roots `load_desired_at` was called with (it validates and renders)."""
    calls: list[Path] = []
    real = publish.load_desired_at

    def spy(root: Path, **kwargs: Any) -> Any:
        calls.append(root)
        return real(root, **kwargs)

    monkeypatch.setattr(publish, "load_desired_at", spy)
    return calls


def publisher(remote: Remote, tmp_path: Path) -> GitPublisher:
    source = GitSource(remote.url, branch="main", subpath="fleet", cache_dir=tmp_path / "cache")
    return GitPublisher(source=source, log=lambda *a, **k: None, enabled=False)


def test_an_unchanged_commit_is_not_validated_and_rendered_again(
    tmp_path: Path, counted: list[Path]
) -> None:
    remote = Remote(tmp_path)
    shutil.copytree(EXAMPLE, remote.work / "fleet")
    remote.commit("fleet")
    git = publisher(remote, tmp_path)
    first = git.load()
    again = git.load()
    assert first.desired is not None and again.desired is first.desired
    assert len(counted) == 1
    (remote.work / "fleet" / "workloads" / "log-agent.yaml").write_text(
        (EXAMPLE / "workloads" / "log-agent.yaml")
        .read_text()
        .replace("log-agent:1.4.2", "log-agent:1.4.4")
    )
    head = remote.commit("bump")
    moved = git.load()
    assert len(counted) == 2 and moved.desired is not None and moved.desired.revision == head
    assert git.load().desired is moved.desired and len(counted) == 2


def test_an_invalid_commit_keeps_its_diagnostics_without_validating_again(
    tmp_path: Path, counted: list[Path]
) -> None:
    remote = Remote(tmp_path)
    shutil.copytree(EXAMPLE, remote.work / "fleet")
    (remote.work / "fleet" / "broken.yaml").write_text("apiVersion: apps/v1\nkind: DaemonSet\n")
    bad = remote.commit("broken")
    git = publisher(remote, tmp_path)
    first = git.load()
    again = git.load()
    assert first.desired is None and first.revision == bad and first.diagnostics
    assert again == first and git.invalid is not None and git.invalid[0] == bad
    assert len(counted) == 1
