"""Git sources with real repositories in temporary folders (a bare "remote" and a working clone
that pushes to it): first sync clones, an unchanged remote is not fetched, a new commit is,
a force-pushed branch is followed, `--path` selects a folder, errors are clear and never show
credentials, and `reconcile file://… --once` applies the commit, recording its hash."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from gitops_edge.cli.main import main
from gitops_edge.source.gitsource import GitSource, GitSourceError, is_git_url, redact

EXAMPLE = Path(__file__).resolve().parent.parent / "example-repo"


def run(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


class Remote:
    """A bare repository and a working clone used to push commits to it."""

    def __init__(self, tmp: Path) -> None:
        self.bare = tmp / "remote.git"
        self.work = tmp / "work"
        run("init", "--bare", "-b", "main", str(self.bare), cwd=tmp)
        run("init", "-b", "main", str(self.work), cwd=tmp)
        for key, value in (("user.name", "Test"), ("user.email", "test@example.com")):
            run("config", key, value, cwd=self.work)
        run("remote", "add", "origin", str(self.bare), cwd=self.work)
        self.url = self.bare.as_uri()

    def commit(self, message: str, *, force: bool = False) -> str:
        """Commit and push like a user: rebase over what others pushed (the reconciler's
        status commits), or force-push when asked."""
        run("add", "-A", cwd=self.work)
        run("commit", "-q", "-m", message, cwd=self.work)
        for _ in range(5):
            if force:
                run("push", "-q", "-f", "origin", "main", cwd=self.work)
                break
            if run("ls-remote", "origin", "refs/heads/main", cwd=self.work):
                run("pull", "-q", "--rebase", "origin", "main", cwd=self.work)
            try:
                run("push", "-q", "origin", "main", cwd=self.work)
                break
            except subprocess.CalledProcessError:
                continue  # the reconciler pushed meanwhile: rebase again
        return run("rev-parse", "HEAD", cwd=self.work)


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    r = Remote(tmp_path)
    shutil.copytree(EXAMPLE, r.work / "fleet")
    (r.work / "README.md").write_text("the fleet\n")
    r.commit("fleet")
    return r


def source(remote: Remote, tmp_path: Path, subpath: str = "fleet") -> GitSource:
    return GitSource(remote.url, branch="main", subpath=subpath, cache_dir=tmp_path / "cache")


def test_clone_then_no_fetch_while_unchanged_then_fetch_new_commit(
    remote: Remote, tmp_path: Path
) -> None:
    first = source(remote, tmp_path).sync()
    head = run("rev-parse", "HEAD", cwd=remote.work)
    assert (first.revision, first.fetched) == (head, True)
    assert (first.root / "gitops-edge.yaml").is_file()
    again = source(remote, tmp_path).sync()  # a new process: reuses the clone
    assert (again.revision, again.fetched) == (head, False)
    (remote.work / "fleet" / "workloads" / "log-agent.yaml").write_text(
        (remote.work / "fleet" / "workloads" / "log-agent.yaml")
        .read_text()
        .replace("log-agent:1.4.2", "log-agent:1.4.3")
    )
    newer = remote.commit("log-agent 1.4.3")
    synced = source(remote, tmp_path).sync()
    assert (synced.revision, synced.fetched) == (newer, True)
    assert "log-agent:1.4.3" in (synced.root / "workloads" / "log-agent.yaml").read_text()


def test_force_pushed_branch_is_followed(remote: Remote, tmp_path: Path) -> None:
    source(remote, tmp_path).sync()
    (remote.work / "extra.txt").write_text("x\n")
    remote.commit("extra")
    source(remote, tmp_path).sync()
    run("reset", "-q", "--hard", "HEAD~1", cwd=remote.work)
    (remote.work / "other.txt").write_text("y\n")
    rewritten = remote.commit("history rewritten", force=True)
    synced = source(remote, tmp_path).sync()
    assert synced.revision == rewritten and synced.forced
    assert not (synced.root.parent / "extra.txt").exists()
    assert not source(remote, tmp_path).sync().forced


def test_errors_are_clear(remote: Remote, tmp_path: Path) -> None:
    with pytest.raises(GitSourceError, match="no branch 'release'"):
        GitSource(remote.url, branch="release", subpath=".", cache_dir=tmp_path / "c").sync()
    with pytest.raises(GitSourceError, match="no folder 'nope'; check --path"):
        source(remote, tmp_path, "nope").sync()
    missing = (tmp_path / "missing.git").as_uri()
    with pytest.raises(GitSourceError, match="cannot reach the repository"):
        GitSource(missing, branch="main", subpath=".", cache_dir=tmp_path / "c").sync()


def test_credentials_never_shown() -> None:
    url = "https://deploy:s3cr3t-token@git.example.com/fleet.git"
    assert redact(f"fatal: could not read from {url}") == (
        "fatal: could not read from https://***@git.example.com/fleet.git"
    )
    assert is_git_url(url) and is_git_url("git@github.com:org/fleet.git")
    assert is_git_url("file:///srv/fleet.git") and not is_git_url("example-repo")


def test_reconcile_a_git_source_records_the_commit(
    remote: Remote, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "fleet.json"
    assert main(["sim", "init", str(state), "--groups", "hangzhou=2"]) == 0
    argv = ["--cluster", f"sim:{state}", "--path", "fleet", "--cache-dir", str(tmp_path / "c")]
    assert main(["reconcile", remote.url, "--once", *argv]) == 0
    head = run("rev-parse", "HEAD", cwd=remote.work)
    assert f"pass over revision {head}" in capsys.readouterr().out
    run("fetch", "-q", "origin", cwd=remote.work)
    # on the default status branch; the spec branch is not written
    pushed = run("log", "-1", "--format=%s", "origin/gitops-edge/status", cwd=remote.work)
    assert pushed.startswith("status: ") and f"(spec {head[:12]})" in pushed
    assert run("rev-parse", "origin/main", cwd=remote.work) == head
    assert main(["plan", remote.url, *argv, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["revision"] == head
    # An invalid commit is never applied, not even partly: the last good revision, recorded in
    # the status, is reconciled instead (tests/hostile/test_once_resumes_last_good.py).
    (remote.work / "fleet" / "broken.yaml").write_text("apiVersion: apps/v1\nkind: DaemonSet\n")
    bad = remote.commit("broken")
    assert main(["reconcile", remote.url, "--once", *argv]) == 1
    out, err = capsys.readouterr()
    assert "broken.yaml:" in err and f"at {bad[:12]} is invalid: reconciling the last good" in err
    assert f"pass over revision {head}" in out
    stamped = {
        ds["metadata"]["annotations"].get("gitops-edge.io/git-revision")
        for ds in json.loads(state.read_text())["daemonsets"]
    }
    assert stamped == {head}
