"""Running the git executable, part of the git adapter: the commands that talk to a remote
(ls-remote, clone, fetch, push, pull) and the clone repair's local ones, each under a deadline,
and killed with its helpers when the deadline passes.

git stays in the caller's process group, so a kill of the whole group (a container kill, the
crash the clone repair recovers from) kills git with it: a git that outlived its reconciler
would still be writing the clone the next one repairs. On deadline or cancel git is killed with
its descendants (git-remote-http, ssh), frozen first so none escapes: killing git alone would
leave a helper blocked on a silent socket for good.
HTTP transfers slower than LOW_SPEED_LIMIT bytes/s for `low_speed_time` seconds are given up by
git itself (http.lowSpeedLimit/lowSpeedTime); git never prompts for credentials. A `cancel`
event (the loop's stop, set by SIGTERM) kills a running git at once and refuses to start
another. In a process that leaves SIGTERM to its default action (the one-shot commands), a
SIGTERM that arrives while git runs becomes SystemExit(143) once git and its helpers are
killed, so git never outlives the process. Also: `meaningful_lines`, what of git's stderr is
worth showing.
Side effects: runs git processes; kills them (and their descendants, found in /proc) on
deadline, cancel or SIGTERM; replaces a default SIGTERM disposition while git runs (main thread
only).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TIMEOUT = 60.0  # seconds for one git operation (--git-timeout)
LOW_SPEED_LIMIT = 1000  # bytes/s …
LOW_SPEED_TIME = 30.0  # … for this long: git gives the transfer up (http.lowSpeed*)
POLL = 0.1  # seconds between checks of the deadline and of `cancel`
REAP = 5.0  # seconds to collect a killed git's output
MAX_LINES = 12  # of stderr kept in a message

_PROGRESS = re.compile(
    r"^(remote: )?(Enumerating|Counting|Compressing|Writing|Receiving|Resolving|Unpacking|"
    r"Total|Delta compression|Updating files|Checking out files|Cloning into|"
    r"Filtering content|Auto packing)\b|^(To|From) \S+$|^hint:|^remote:\s*$|"
    # what a fetch or pull --rebase reports along the way: refs it updated, its steps
    r"^\* (branch|\[new branch\]|\[new tag\])\s|^\+? ?[0-9a-f]{7,}\.\.\.?[0-9a-f]{7,} |"
    r"^Rebasing \(\d+/\d+\)|"
    # git's boilerplate after "Could not read from remote repository" (our hint says more)
    r"^Please make sure you have the correct access rights$|^and the repository exists\.$"
)


class GitTimeoutError(Exception):
    """The git command ran past its deadline (or was stopped by `cancel`) and was killed."""

    def __init__(self, operation: str, *, seconds: float, cancelled: bool) -> None:
        self.operation = operation
        self.seconds = seconds
        self.cancelled = cancelled
        super().__init__(
            f"git {operation} was stopped: the reconciler is stopping"
            if cancelled
            else f"git {operation} timed out after {seconds:g} s"
        )


@dataclass(frozen=True, slots=True)
class GitRun:
    """A finished git command."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass(frozen=True, slots=True)
class GitLimits:
    """How long a git operation may take, and the slowest transfer it may keep up."""

    timeout: float = DEFAULT_TIMEOUT
    low_speed_time: float = LOW_SPEED_TIME

    def __post_init__(self) -> None:
        for name in ("timeout", "low_speed_time"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a number of seconds above 0, not {value}")


def run_git(
    args: Sequence[str],
    *,
    limits: GitLimits,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    cancel: threading.Event | None = None,
) -> GitRun:
    """Run `git ARGS` (args[0] is the operation, e.g. "fetch"); the finished command, whatever
    its exit code. Raises GitTimeoutError when it was killed (deadline or `cancel`), OSError
    when git cannot be started."""
    operation = args[0]
    if cancel is not None and cancel.is_set():
        raise GitTimeoutError(operation, seconds=0, cancelled=True)
    command = [
        "git",
        "-c",
        f"http.lowSpeedLimit={LOW_SPEED_LIMIT}",
        "-c",
        f"http.lowSpeedTime={max(1, math.ceil(limits.low_speed_time))}",
        *args,
    ]
    environment = {**os.environ, **(env or {}), "GIT_TERMINAL_PROMPT": "0"}
    with _sigterm_exits():
        return _run(
            command, operation=operation, limits=limits, cwd=cwd, env=environment, cancel=cancel
        )


def _run(
    command: list[str],
    *,
    operation: str,
    limits: GitLimits,
    cwd: Path | None,
    env: dict[str, str],
    cancel: threading.Event | None,
) -> GitRun:
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # in our process group: a kill of the group (a container kill) kills git too
    deadline = time.monotonic() + limits.timeout
    finished: tuple[bytes, bytes] | None = None
    try:
        while finished is None:
            try:
                finished = proc.communicate(timeout=POLL)
            except subprocess.TimeoutExpired:
                if (cancel is not None and cancel.is_set()) or time.monotonic() >= deadline:
                    break
    except BaseException:  # Ctrl-C, …: never leave git running
        _kill_tree(proc)
        raise
    if finished is None:
        _kill_tree(proc)
        cancelled = cancel is not None and cancel.is_set()
        raise GitTimeoutError(operation, seconds=limits.timeout, cancelled=cancelled)
    out, err = finished
    return GitRun(
        returncode=proc.returncode,
        stdout=out.decode(errors="replace"),
        stderr=err.decode(errors="replace"),
    )


@contextlib.contextmanager
def _sigterm_exits() -> Iterator[None]:
    """While git runs, a SIGTERM left to its default action (which would end this process at
    once and leave git running, orphaned, when the signal was sent to this process alone)
    raises SystemExit instead: git and its helpers are killed on the way out. A handler already
    installed (the loop's) is kept."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """Kill git and its descendants (helpers), and reap git. Each is stopped (SIGSTOP) before
    its children are looked up, so none can start another that would escape the kill."""
    if proc.returncode is None:
        stopped: list[int] = []
        pending = [proc.pid]
        while pending:
            pid = pending.pop()
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
            pending.extend(child for child in _children(pid) if child not in stopped)
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    try:
        proc.communicate(timeout=REAP)
    except subprocess.TimeoutExpired:  # a helper that escaped keeps a pipe open
        proc.kill()
        proc.wait(REAP)
    finally:
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc; none where /proc is missing)."""
    children: list[int] = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):  # gone meanwhile
                continue
            if len(fields) > 1 and int(fields[1]) == pid:
                children.append(int(entry.name))
    return children


def meaningful_lines(stderr: str) -> list[str]:
    """git's stderr without progress meters, advice (`hint:`), `To <url>` lines, empty or
    quote-only lines and repeats: what went wrong, including the remote's own reason
    (`remote: …`) and ref updates it refused (`! [remote rejected] …`)."""
    kept: list[str] = []
    seen: set[str] = set()  # `error: could not apply …` and `Could not apply …` say one thing
    for raw in re.split(r"[\r\n]+", stderr):
        line = raw.strip()
        said = line.lower().removeprefix("error: ")
        if not line.strip("'\"` ") or _PROGRESS.search(line) or said in seen:
            continue
        seen.add(said)
        kept.append(line)
    return [line.removesuffix(".") if not line.endswith("..") else line for line in kept][
        :MAX_LINES
    ]
