"""Issue 16 item 3: git never hangs. A remote that accepts the connection and never answers (or
trickles a byte now and then) costs at most --git-timeout per git operation (ls-remote, fetch,
push), the timed-out git is killed with its helpers (git-remote-http), SIGTERM ends the loop
within seconds whatever git is doing, and no git child process outlives a pass."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_git_source import EXAMPLE, Remote, run

from gitops_edge.cli.main import main
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.reconciler.publish import GitPublisher
from gitops_edge.source.gitsource import GitSource, GitSourceError

from .gitremotes import HungRemote, child_pids, git_processes_left, kill_pids, processes_mentioning

BOUND = 15.0  # a hang fails the test after this many seconds instead of hanging the suite


@pytest.fixture(params=[False, True], ids=["silent", "trickle"])
def hung(request: pytest.FixtureRequest) -> Iterator[HungRemote]:
    remote = HungRemote(trickle=request.param)
    yield remote
    kill_pids(processes_mentioning(f"127.0.0.1:{remote.port}"))
    remote.close()


@pytest.fixture
def silent() -> Iterator[HungRemote]:
    remote = HungRemote()
    yield remote
    kill_pids(processes_mentioning(f"127.0.0.1:{remote.port}"))
    remote.close()


def bounded(call: Callable[[], object]) -> tuple[BaseException | None, float]:
    """Run `call` in a thread for at most BOUND seconds: (what it raised, seconds taken)."""
    raised: list[BaseException] = []

    def target() -> None:
        try:
            call()
        except BaseException as exc:
            raised.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(BOUND)
    took = time.monotonic() - started
    assert not thread.is_alive(), f"git hung for more than {BOUND:g} s"
    return (raised[0] if raised else None), took


def test_ls_remote_to_a_hung_remote_times_out_and_its_helpers_are_killed(
    hung: HungRemote, tmp_path: Path
) -> None:
    source = GitSource(
        hung.url, branch="main", subpath=".", cache_dir=tmp_path / "cache", timeout=2
    )
    raised, took = bounded(source.sync)
    assert hung.accepted >= 1  # git did reach the remote
    assert isinstance(raised, GitSourceError), raised
    message = str(raised)
    assert "git ls-remote timed out after 2 s" in message
    assert "--git-timeout" in message
    assert took < 10
    # git and its git-remote-http helper: the whole process group is gone
    assert git_processes_left(f"127.0.0.1:{hung.port}") == []


def test_the_low_speed_limit_cuts_a_trickling_remote_before_the_deadline(
    tmp_path: Path,
) -> None:
    remote = HungRemote(trickle=True)
    try:
        source = GitSource(
            remote.url,
            branch="main",
            subpath=".",
            cache_dir=tmp_path / "cache",
            timeout=8,
            low_speed_time=2,
        )
        raised, took = bounded(source.sync)
    finally:
        kill_pids(processes_mentioning(f"127.0.0.1:{remote.port}"))
        remote.close()
    assert isinstance(raised, GitSourceError), raised
    # git itself gave up (http.lowSpeedLimit/lowSpeedTime), before the deadline, and said why
    assert "too slow" in str(raised).lower(), raised
    assert took < 7


def published_world(tmp_path: Path) -> tuple[Remote, GitSource]:
    """A file:// remote holding the example fleet, cloned by a GitSource."""
    tmp_path.mkdir(exist_ok=True)
    remote = Remote(tmp_path)
    shutil.copytree(EXAMPLE, remote.work / "fleet")
    remote.commit("fleet")
    source = GitSource(
        remote.url, branch="main", subpath="fleet", cache_dir=tmp_path / "cache", timeout=2
    )
    source.sync()
    return remote, source


def test_a_push_to_a_hung_remote_times_out_once(silent: HungRemote, tmp_path: Path) -> None:
    _, source = published_world(tmp_path)
    run("remote", "set-url", "--push", "origin", silent.url, cwd=source.clone_dir)
    raised, took = bounded(
        lambda: source.write_status({"a.json": "{}\n"}, status_dir="status", message="status: x")
    )
    assert isinstance(raised, GitSourceError), raised
    assert "git push timed out after 2 s" in str(raised)
    # not retried: a timeout is no rejection to rebase over (4 attempts: 4 connections, 8 s)
    assert silent.accepted == 1
    assert took < 7.5
    assert git_processes_left(f"127.0.0.1:{silent.port}") == []


def test_a_fetch_from_a_hung_remote_times_out(silent: HungRemote, tmp_path: Path) -> None:
    remote, source = published_world(tmp_path)
    (remote.work / "README.md").write_text("moved\n")
    remote.commit("the branch moves: the next sync fetches")
    run("remote", "set-url", "origin", silent.url, cwd=source.clone_dir)
    raised, took = bounded(source.sync)
    assert isinstance(raised, GitSourceError), raised
    assert "git fetch timed out after 2 s" in str(raised)
    assert took < 10
    assert git_processes_left(f"127.0.0.1:{silent.port}") == []


def test_sigterm_ends_the_loop_within_seconds_while_git_hangs(
    silent: HungRemote, tmp_path: Path
) -> None:
    sim = tmp_path / "fleet.json"
    SimCluster.init_file(sim, SimCluster.create(groups=[("edge", 2)]))
    loop = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gitops_edge",
            "reconcile",
            silent.url,
            "--cluster",
            f"sim:{sim}",
            "--interval",
            "1",
            "--cache-dir",
            str(tmp_path / "cache"),
        ],  # the default --git-timeout (60 s): far longer than this test waits
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not processes_mentioning(f"127.0.0.1:{silent.port}"):
            assert loop.poll() is None, loop.communicate(timeout=5)[1]
            assert time.monotonic() < deadline, "git never started"
            time.sleep(0.1)
        time.sleep(0.5)  # git is connected and waiting for an answer
        loop.send_signal(signal.SIGTERM)
        started = time.monotonic()
        try:
            _, err = loop.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            pytest.fail("the loop did not stop within 5 s of SIGTERM while git hung")
        assert time.monotonic() - started < 5
    finally:
        if loop.poll() is None:
            loop.kill()
            loop.communicate(timeout=10)
    assert loop.returncode == 0, err
    assert "reconcile loop stopped" in err
    assert git_processes_left(f"127.0.0.1:{silent.port}") == []


@pytest.mark.parametrize(
    ("command", "signum"),
    [("plan", signal.SIGTERM), ("reconcile", signal.SIGTERM), ("plan", signal.SIGINT)],
    ids=["plan-SIGTERM", "reconcile-once-SIGTERM", "plan-SIGINT"],
)
def test_a_signal_to_a_one_shot_command_leaves_no_git_behind(
    command: str, signum: signal.Signals, silent: HungRemote, tmp_path: Path
) -> None:
    """`plan` and `reconcile --once` still end at once on SIGTERM (SIGINT: Ctrl-C), but not
    before the git they run, in a process group of its own, is killed."""
    sim = tmp_path / "fleet.json"
    SimCluster.init_file(sim, SimCluster.create(groups=[("edge", 2)]))
    once = ["--once"] if command == "reconcile" else []
    args = [command, silent.url, "--cluster", f"sim:{sim}", *once]
    shot = subprocess.Popen(
        [sys.executable, "-m", "gitops_edge", *args, "--cache-dir", str(tmp_path / "cache")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not processes_mentioning(f"127.0.0.1:{silent.port}"):
            assert shot.poll() is None, shot.communicate(timeout=5)[1]
            assert time.monotonic() < deadline, "git never started"
            time.sleep(0.1)
        time.sleep(0.5)
        shot.send_signal(signum)  # to the command only, as `kill PID` does
        shot.communicate(timeout=5)
    finally:
        if shot.poll() is None:
            shot.kill()
            shot.communicate(timeout=10)
    assert shot.returncode in (128 + signum, -signum, 2)  # 2: "interrupted"
    assert git_processes_left(f"127.0.0.1:{silent.port}") == []


def test_git_child_processes_do_not_accumulate_over_passes(tmp_path: Path) -> None:
    """Passes over a repository holding only `status/` (an invalid revision, the spec-revision
    fallback reads HEAD's commit), over the example fleet with status written back, and passes
    whose ls-remote times out: the test process has no new child process left after one round,
    nor after ten."""
    (tmp_path / "only-status").mkdir()
    only_status = Remote(tmp_path / "only-status")
    (only_status.work / "status").mkdir(parents=True)
    (only_status.work / "status" / "README.md").write_text("status only\n")
    only_status.commit("status only")
    bare = GitSource(only_status.url, branch="main", subpath=".", cache_dir=tmp_path / "c1")
    _, source = published_world(tmp_path / "fleet")
    logs: list[str] = []
    publishers = [
        GitPublisher(source=bare, log=lambda *a, **k: logs.append(a[1])),
        GitPublisher(source=source, log=lambda *a, **k: logs.append(a[1])),
    ]
    hung = HungRemote()
    timing_out = GitSource(
        hung.url, branch="main", subpath=".", cache_dir=tmp_path / "c2", timeout=0.5
    )

    def one_round() -> None:
        for publisher in publishers:
            loaded = publisher.load()
            if loaded.desired is not None:
                files = {"note.json": f'{{"round": {len(logs)}}}\n'}
                publisher.source.write_status(files, status_dir="status", message="status: n")
            logs.append("pass")
        with pytest.raises(GitSourceError, match="timed out"):
            timing_out.sync()

    before = set(child_pids())  # whatever earlier tests left is not this test's
    try:
        one_round()
        after_one = set(child_pids()) - before
        for _ in range(9):
            one_round()
        after_ten = set(child_pids()) - before
    finally:
        kill_pids(processes_mentioning(f"127.0.0.1:{hung.port}"))
        hung.close()
    assert (after_one, after_ten) == (set(), set())
    assert processes_mentioning(f"127.0.0.1:{hung.port}") == []
    assert run("log", "-1", "--format=%s", "origin/main", cwd=source.clone_dir) == "status: n"


@pytest.mark.parametrize("command", ["plan", "reconcile", "status"])
def test_git_timeout_bounds_the_commands_that_read_a_git_source(
    command: str, silent: HungRemote, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = tmp_path / "fleet.json"
    SimCluster.init_file(sim, SimCluster.create(groups=[("edge", 2)]))
    args = [command, silent.url, "--git-timeout", "1", "--cache-dir", str(tmp_path / "cache")]
    args += {
        "plan": ["--cluster", f"sim:{sim}"],
        "reconcile": ["--cluster", f"sim:{sim}", "--once"],
    }.get(command, [])
    codes: list[int] = []
    raised, took = bounded(lambda: codes.append(main(args)))
    assert raised is None, raised
    assert codes == [2]
    assert "git ls-remote timed out after 1 s" in capsys.readouterr().err
    assert took < 10
    assert git_processes_left(f"127.0.0.1:{silent.port}") == []


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_a_git_timeout_that_is_no_duration_is_refused(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["plan", "file:///nowhere.git", "--cluster", "sim:x.json", "--git-timeout", value])
    assert exited.value.code == 2
    assert (
        f"argument --git-timeout: {value!r}: write a number of seconds, more than 0 and at most "
        "604800 (a week)" in capsys.readouterr().err
    )
