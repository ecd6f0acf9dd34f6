"""Is the reconcile loop alive, is it ready: the rule behind `/healthz` and `/readyz`.

The loop tells a `Heartbeat` when a pass starts, and when it ends with the delay before the
next one (the interval, or the backoff delay after a failure). `liveness` then judges a
snapshot of those times, purely: the loop is wedged (a hung git or cluster call, a dead loop)
when a pass has been running for longer than `grace`, or when the next pass is more than
`grace` late, counted from when it was due (so a long backoff is not mistaken for a wedge).
`default_grace` is 3 × the interval + the git timeout: three missed passes, and a git command
that used all its time. `readiness`: ready once a pass has completed — it reconciled, or
reported an invalid revision — not when it failed transiently; it stays ready afterwards.

Leader election hook: a standby replica calls `Heartbeat.standby()` while it waits for the
lease (no pass is expected of it then; it is live and ready, as controller-runtime's standby
managers are, so a rolling update of a 2-replica Deployment does not stall), and
`pass_started` again once it leads.
No I/O; `Heartbeat` is thread-safe (the loop writes, the HTTP server reads).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

MISSED_PASSES = 3  # passes the loop may miss before it counts as wedged


@dataclass(frozen=True, slots=True)
class Beat:
    """What the loop last reported, in monotonic seconds."""

    due: float | None  # when the next pass should start; None while one runs or standing by
    running_since: float | None  # when the pass now running started
    completed: int = 0  # passes that completed (reconciled or reported an invalid revision)
    standby: bool = False  # waiting for the leader lease: no pass expected


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str  # one line, no secrets: durations and states only


def default_grace(*, interval: float, git_timeout: float) -> float:
    """How late a pass may be before the loop counts as wedged."""
    return MISSED_PASSES * interval + git_timeout


def liveness(beat: Beat, *, now: float, grace: float) -> Verdict:
    if beat.standby:
        return Verdict(True, "standing by for the leader lease")
    if beat.running_since is not None:
        running = now - beat.running_since
        if running > grace:
            return Verdict(
                False,
                f"a pass has been running for {running:.0f} s (limit {grace:g} s): "
                "a git or cluster call is hung",
            )
        return Verdict(True, f"a pass is running ({running:.0f} s)")
    if beat.due is not None and now - beat.due > grace:
        return Verdict(
            False,
            f"no pass started for {now - beat.due:.0f} s after one was due (limit {grace:g} s)",
        )
    return Verdict(True, "passes start on time")


def readiness(beat: Beat) -> Verdict:
    if beat.standby:
        return Verdict(True, "standing by for the leader lease")
    if beat.completed:
        return Verdict(True, f"{beat.completed} passes completed")
    return Verdict(False, "the first pass has not completed yet")


class Heartbeat:
    """The loop's side: record passes; the server's side: `snapshot()`."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._beat = Beat(due=clock(), running_since=None)  # the first pass is due now

    def snapshot(self) -> Beat:
        with self._lock:
            return self._beat

    def pass_started(self) -> None:
        with self._lock:
            self._beat = Beat(due=None, running_since=self.clock(), completed=self._beat.completed)

    def pass_ended(self, *, completed: bool, next_in: float) -> None:
        """The pass ended (`completed`: not cut short by a transient failure); the next one is
        due in `next_in` seconds."""
        with self._lock:
            done = self._beat.completed + completed
            self._beat = Beat(due=self.clock() + next_in, running_since=None, completed=done)

    def standby(self) -> None:
        with self._lock:
            self._beat = Beat(
                due=None, running_since=None, completed=self._beat.completed, standby=True
            )
