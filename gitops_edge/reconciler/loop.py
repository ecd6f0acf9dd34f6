"""The reconcile loop: pass after pass, every `interval` seconds, until stopped. `load` and
`reconcile` are the reconcile pipeline's `load` and `run_pass` (`pipeline.Pipeline`).

Each pass loads the source (a cheap check for git sources), validates it, and reconciles the
newest valid revision; an invalid revision is reported once and the last good one keeps being
reconciled. A loop that starts on an invalid revision has no last good one in memory: it asks
`resume` for the one an earlier run recorded (and says why when there is none: then nothing is
reconciled until a valid revision arrives). Every action of a pass that was done (or skipped)
is logged with what, where and why (`action_log`); every failed action and plan error with its
reason (at most `failures.LOG_LIMIT` records per kind and pass, then a summary)
and handed, counted by kind, to `on_failures`. Transient failures (cluster, git, I/O) back off
exponentially with jitter, up to `max_backoff` (the log line says how long), and never end
the loop. `stop` is checked between
passes only, so a pass is never cut in half by SIGTERM/SIGINT (but the git command it runs is
killed at once through the same event: that pass ends as "pass stopped", not as a failure);
`wake` ends a wait early (a node turned Ready). With `leading` (leader election), a pass runs
only while this process holds the lease; a standby waits (woken when it acquires the lease),
and a pass cut short because the lease was lost (`NotLeaderError` from the apply step's check)
is logged as such, neither a failure nor a reason to back off.
`heartbeat` (optional) is told when each pass starts and ends and when the next one is due
(the interval, or the backoff delay): `/healthz` and `/readyz` judge from it (`health`).
Side effects: whatever `load` and `reconcile` do; log lines through `log` (a pass, its
actions, and each DaemonSet it found drifted from the repository).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gitops_edge.model.desired import DesiredState
from gitops_edge.model.plan import ApplyDaemonSet
from gitops_edge.reconciler.action_log import action_records
from gitops_edge.reconciler.apply import DONE, FAILED
from gitops_edge.reconciler.failures import counts_by_kind, log_records, pass_failures
from gitops_edge.reconciler.health import Heartbeat
from gitops_edge.reconciler.leader_election import NotLeaderError
from gitops_edge.reconciler.reconcile import InvalidRevisionError, PassResult
from gitops_edge.repository.diagnostics import Diagnostic, render_text

Log = Callable[..., None]  # log(level, message, **fields)


@dataclass(frozen=True, slots=True)
class LoopSettings:
    interval: float = 60.0
    max_backoff: float = 300.0
    max_passes: int | None = None  # for tests: stop after this many passes


@dataclass(frozen=True, slots=True)
class Loaded:
    """What a source yielded this time: a valid desired state, or the diagnostics of an
    invalid revision."""

    revision: str
    desired: DesiredState | None
    diagnostics: tuple[Diagnostic, ...] = ()


@dataclass(frozen=True, slots=True)
class Resumed:
    """What `resume` found for a loop starting on an invalid revision: the last good desired
    state recorded by an earlier run (validated again), and where it was recorded; or None and
    why nothing can be resumed."""

    desired: DesiredState | None
    detail: str  # where it was recorded, or why nothing can be resumed


def run_loop(
    *,
    load: Callable[[], Loaded],
    reconcile: Callable[[DesiredState], PassResult],
    settings: LoopSettings,
    stop: threading.Event,
    wake: threading.Event,
    log: Log,
    transient: tuple[type[BaseException], ...],
    on_error: Callable[[BaseException], None] | None = None,
    on_failures: Callable[[Mapping[str, int]], None] | None = None,
    resume: Callable[[], Resumed] | None = None,
    on_loaded: Callable[[Loaded], None] | None = None,
    on_success: Callable[[], None] | None = None,
    heartbeat: Heartbeat | None = None,
    leading: Callable[[], bool] | None = None,
) -> int:
    """Run passes until `stop` is set; returns the number of passes run. `resume`: asked for
    the last good revision when an invalid one arrives while there is none in memory;
    `on_loaded`: told what the source yielded each pass (valid or not); `on_success`: called
    after each pass that reconciled a revision without error; `heartbeat`: told when each pass
    starts and ends, and when the next one is due; `leading`: whether this process holds the
    lease now (None: no leader election)."""
    last_good: DesiredState | None = None
    reported_invalid = ""
    failures = 0
    passes = 0
    standing_by = False
    while not stop.is_set():
        # Cleared before the pass reads anything: a wake-up that arrives during the pass (a
        # changed file, a node turning Ready) starts the next pass at once instead of waiting
        # for the interval.
        wake.clear()
        if leading is not None and not leading():
            if not standing_by:
                log("info", "standing by: another reconciler holds the lease")
                standing_by = True
            if heartbeat is not None:
                heartbeat.standby()
            if _wait(stop, wake, settings.interval):
                break
            continue
        if standing_by:
            log("info", "leading: this reconciler holds the lease")
            standing_by = False
        if heartbeat is not None:
            heartbeat.pass_started()
        completed = False
        delay = settings.interval
        try:
            loaded = load()
            if on_loaded is not None:
                on_loaded(loaded)
            if loaded.desired is None:
                if loaded.revision != reported_invalid:
                    if last_good is None and resume is not None:  # a transient error: retried
                        last_good = resume_last_good(resume, invalid=loaded.revision, log=log)
                    reported_invalid = loaded.revision
                    for diag in loaded.diagnostics:
                        log("error", "invalid desired state", diagnostic=render_text([diag]))
                    _report_invalid(loaded.revision, last_good=last_good, log=log)
            else:
                if last_good is None or last_good.revision != loaded.revision:
                    log("info", "new revision", revision=loaded.revision)
                last_good = loaded.desired
            if last_good is not None:
                outcome = reconcile(last_good)
                _report(outcome, revision=last_good.revision, log=log, on_failures=on_failures)
                for ds in outcome.drifted:
                    log(
                        "warning",
                        "drifted from the repository",
                        daemonset=f"{ds.namespace}/{ds.name}",
                        fields=", ".join(ds.drift),
                        restored=any(isinstance(a, ApplyDaemonSet) for a in ds.actions),
                    )
                if on_success is not None:
                    on_success()
            failures = 0
            completed = True
        except NotLeaderError as exc:
            log("warning", "lost the lease: this pass stopped applying", error=str(exc))
        except transient as exc:
            if stop.is_set():  # the stop killed what the pass ran (git): not a failure
                log("info", "pass stopped", error=str(exc))
            else:
                failures += 1
                if on_error is not None:
                    on_error(exc)
                delay = backoff(failures, settings)
                log(
                    "warning",
                    "pass failed; backing off",
                    error=str(exc),
                    attempt=failures,
                    delay=round(delay, 3),
                )
        passes += 1
        if heartbeat is not None:
            heartbeat.pass_ended(completed=completed, next_in=delay)
        if settings.max_passes is not None and passes >= settings.max_passes:
            break
        if stop.wait(0) or _wait(stop, wake, delay):
            break
    return passes


def resume_last_good(
    resume: Callable[[], Resumed], *, invalid: str, log: Log
) -> DesiredState | None:
    """The last good desired state `resume` finds for a run on the invalid revision `invalid`
    (logged: resuming it, or why there is none); None when there is none."""
    resumed = resume()
    if resumed.desired is None:
        log("error", f"no last good revision to resume: {resumed.detail}", revision=invalid)
        return None
    good = resumed.desired.revision
    log(
        "warning",
        f"resuming the last good revision {good} recorded in the status",
        revision=good,
        recorded_in=resumed.detail,
        invalid=invalid,
    )
    return resumed.desired


def _report_invalid(revision: str, *, last_good: DesiredState | None, log: Log) -> None:
    if last_good is not None:
        log(
            "error",
            "revision is invalid; keeping the last good one",
            revision=revision,
            last_good=last_good.revision,
        )
    else:
        log(
            "error",
            "revision is invalid and there is no last good revision: nothing is reconciled "
            "until a valid revision arrives",
            revision=revision,
        )


def _report(
    outcome: PassResult,
    *,
    revision: str,
    log: Log,
    on_failures: Callable[[Mapping[str, int]], None] | None,
) -> None:
    """Log the actions of a pass that were done or skipped, then its failures, one record each
    (flood-limited), then its counts."""
    last_plan = outcome.plans[-1] if outcome.plans else None
    failures = pass_failures(results=outcome.results, plan=last_plan)
    for record in action_records(outcome.results, revision=revision):
        log(record.level, record.message, **dict(record.fields))
    for record in log_records(failures, revision=revision):
        log(record.level, record.message, **dict(record.fields))
    if on_failures is not None and failures:
        on_failures(counts_by_kind(failures))
    done = sum(r.outcome == DONE for r in outcome.results)
    failed = sum(r.outcome == FAILED for r in outcome.results)
    plan_errors = len(failures) - failed
    log("info", "pass", revision=revision, done=done, failed=failed, plan_errors=plan_errors)


def backoff(failures: int, settings: LoopSettings) -> float:
    """Exponential from a tenth of the interval, capped, with ±50% jitter."""
    base = min(settings.max_backoff, max(0.1, settings.interval / 10) * 2 ** (failures - 1))
    return float(base * (0.5 + random.random()))


def _wait(stop: threading.Event, wake: threading.Event, seconds: float) -> bool:
    """Wait until `seconds` pass, `wake` is set (→ False) or `stop` is set (→ True)."""
    step = 0.1
    waited = 0.0
    while waited < seconds:
        if stop.wait(min(step, seconds - waited)):
            return True
        if wake.is_set():
            return False
        waited += step
    return stop.is_set()


def load_step(load_desired: Callable[[], DesiredState], revision: Callable[[], str]) -> Loaded:
    """Adapt a loader that raises InvalidRevisionError to a `Loaded` value."""
    try:
        desired = load_desired()
    except InvalidRevisionError as exc:
        return Loaded(revision=revision(), desired=None, diagnostics=exc.diagnostics)
    return Loaded(revision=desired.revision, desired=desired)
