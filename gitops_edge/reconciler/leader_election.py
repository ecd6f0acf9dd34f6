"""Leader election over a `coordination.k8s.io/v1` Lease: the pure state machine.

As client-go's `leaderelection` (which controller-runtime uses): a candidate reads the Lease and
decides, from its own clock only, whether to create it (absent), acquire it (released, or its
holder's record has not changed for a whole lease duration since this candidate first saw it:
the holder is presumed dead), renew it (held by this candidate) or stand by (held by another
that is alive). Renewals and acquisitions are updates carrying the read `resourceVersion`, so
of two candidates racing for an expired lease only one wins (the other gets 409 Conflict).
`leaseTransitions` counts changes of holder; `acquireTime`/`renewTime` are MicroTimes.

A leader stops leading when it has not renewed for `renew_deadline` (measured from when it sent
its last successful renewal), which comes `lease_duration - renew_deadline` seconds before any
other candidate can take the lease over, and at once when it reads another holder in the Lease.
`leading` is what the reconciler checks before each action it applies.

Pure: no I/O, no clock (times are passed in: `now` a monotonic reading, `wall` a MicroTime).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from gitops_edge.model.lease import Lease, LeaseRecord

JITTER = 1.2  # client-go's JitterFactor: retries every retry_period × [1, 1 + JITTER)


class NotLeaderError(Exception):
    """This reconciler does not hold the lease (any more): it must not apply anything."""


@dataclass(frozen=True, slots=True)
class Timings:
    """controller-runtime's defaults: a lease of 15 s, renewed every 2 s, given up when not
    renewed for 10 s."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def problem(self) -> str | None:
        """Why these timings cannot work (client-go refuses the same), or None."""
        if self.lease_duration <= self.renew_deadline:
            return (
                f"the lease duration ({self.lease_duration:g} s) must be longer than the renew "
                f"deadline ({self.renew_deadline:g} s): the difference is the margin a leader "
                "that cannot renew has to stop before another takes over"
            )
        if self.renew_deadline <= JITTER * self.retry_period:
            return (
                f"the renew deadline ({self.renew_deadline:g} s) must be longer than "
                f"{JITTER:g} × the retry period ({self.retry_period:g} s), so a leader gets "
                "more than one try to renew"
            )
        return None


@dataclass(frozen=True, slots=True)
class Candidate:
    """What one candidate knows: its identity, the record it last read and when (its own
    monotonic clock) it saw that record change, and when it sent its last successful
    acquisition or renewal (None: it does not lead)."""

    identity: str
    observed: LeaseRecord | None = None
    observed_at: float = 0.0
    renewed_at: float | None = None


class Step(enum.Enum):
    CREATE = "create"  # no Lease yet: create it, held by us
    ACQUIRE = "acquire"  # released or expired: take it over (an update)
    RENEW = "renew"  # ours: renew it (an update)
    STANDBY = "standby"  # another holder is alive: wait


@dataclass(frozen=True, slots=True)
class Decision:
    step: Step
    candidate: Candidate  # with what was just read
    record: LeaseRecord | None = None  # what to write (CREATE, ACQUIRE, RENEW)


def decide(
    candidate: Candidate, lease: Lease | None, *, now: float, wall: str, timings: Timings
) -> Decision:
    """What `candidate` does having read `lease` (None: there is none) at `now`."""
    seconds = max(1, round(timings.lease_duration))
    if lease is None:
        record = LeaseRecord(candidate.identity, seconds, wall, wall, 0)
        return Decision(Step.CREATE, replace(candidate, renewed_at=None), record)
    read = lease.record
    if read != candidate.observed:  # the holder (or someone) wrote it: alive as of now
        candidate = replace(candidate, observed=read, observed_at=now)
    ours = read.holder == candidate.identity
    if not ours:
        candidate = replace(candidate, renewed_at=None)  # someone else holds it: we lost it
        alive = now < candidate.observed_at + timings.lease_duration
        if read.holder and alive:
            return Decision(Step.STANDBY, candidate)
        record = LeaseRecord(candidate.identity, seconds, wall, wall, read.transitions + 1)
        return Decision(Step.ACQUIRE, candidate, record)
    record = replace(read, duration_seconds=seconds, renew_time=wall)
    if candidate.renewed_at is None:  # ours, but not from this run's view: (re)acquired
        record = replace(record, acquire_time=read.acquire_time or wall)
    return Decision(Step.RENEW, candidate, record)


def succeeded(candidate: Candidate, written: LeaseRecord, *, sent_at: float) -> Candidate:
    """After the write of `written`, sent at `sent_at`, succeeded: we lead until
    `sent_at + renew_deadline` unless renewed again."""
    return replace(candidate, observed=written, observed_at=sent_at, renewed_at=sent_at)


def leading(candidate: Candidate, *, now: float, timings: Timings) -> bool:
    """Whether `candidate` may still act as the leader at `now`: it renewed less than the renew
    deadline ago (so no other candidate can have taken over yet)."""
    renewed = candidate.renewed_at
    return renewed is not None and now < renewed + timings.renew_deadline


def phase(candidate: Candidate, *, now: float, timings: Timings) -> str:
    """`leader`, `lost` (it led, but has not renewed within the renew deadline) or `standby`."""
    if leading(candidate, now=now, timings=timings):
        return "leader"
    return "lost" if candidate.renewed_at is not None else "standby"


def released(candidate: Candidate, *, wall: str) -> LeaseRecord | None:
    """The record that gives the lease up (no holder: anyone may take it at once), when
    `candidate` holds it; else None."""
    if candidate.renewed_at is None or candidate.observed is None:
        return None
    return replace(candidate.observed, holder="", duration_seconds=1, renew_time=wall)
