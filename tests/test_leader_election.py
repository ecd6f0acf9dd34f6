"""The leader election's state machine (`gitops_edge.reconciler.leader_election`), without
I/O: create, acquire, renew, stand by, lose; and that a leader stops before anyone can take over."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops_edge.model.lease import Lease, LeaseRecord
from gitops_edge.reconciler.leader_election import (
    Candidate,
    Step,
    Timings,
    decide,
    leading,
    phase,
    released,
    succeeded,
)

T = Timings()  # 15 s, 10 s, 2 s
WALL = "2026-01-01T00:00:00.000000Z"


def held(holder: str, *, version: str = "1", transitions: int = 0, renew: str = WALL) -> Lease:
    return Lease(LeaseRecord(holder, 15, WALL, renew, transitions), version)


def test_no_lease_is_created_held_by_us() -> None:
    decision = decide(Candidate("me"), None, now=100.0, wall=WALL, timings=T)
    assert decision.step is Step.CREATE
    assert decision.record == LeaseRecord("me", 15, WALL, WALL, 0)


def test_a_live_holder_keeps_the_lease_and_a_silent_one_loses_it_after_a_lease_duration() -> None:
    me = Candidate("me")
    first = decide(me, held("other"), now=100.0, wall=WALL, timings=T)
    assert first.step is Step.STANDBY
    # the record has not changed for less than a lease duration, as this candidate saw it
    later = decide(first.candidate, held("other"), now=114.9, wall=WALL, timings=T)
    assert later.step is Step.STANDBY
    expired = decide(later.candidate, held("other", transitions=3), now=115.0, wall=WALL, timings=T)
    assert expired.step is Step.STANDBY  # a changed record (transitions) is a sign of life
    taken = decide(expired.candidate, held("other", transitions=3), now=130.0, wall="t1", timings=T)
    assert taken.step is Step.ACQUIRE
    assert taken.record == LeaseRecord("me", 15, "t1", "t1", 4)  # one more transition


def test_a_renewing_holder_is_never_taken_over() -> None:
    candidate = Candidate("me")
    for second in range(0, 120, 2):
        renewed = held("other", renew=f"renewed at {second}", version=str(second))
        decision = decide(candidate, renewed, now=float(second), wall=WALL, timings=T)
        assert decision.step is Step.STANDBY
        candidate = decision.candidate


def test_a_released_lease_is_acquired_at_once() -> None:
    decision = decide(Candidate("me"), held("", transitions=2), now=1.0, wall="t", timings=T)
    assert decision.step is Step.ACQUIRE
    assert decision.record is not None and decision.record.transitions == 3


def test_the_holder_renews_keeping_acquire_time_and_transitions() -> None:
    me = succeeded(Candidate("me"), LeaseRecord("me", 15, "t0", "t0", 5), sent_at=10.0)
    lease = Lease(LeaseRecord("me", 15, "t0", "t0", 5), "7")
    decision = decide(me, lease, now=12.0, wall="t2", timings=T)
    assert decision.step is Step.RENEW
    assert decision.record == LeaseRecord("me", 15, "t0", "t2", 5)


def test_leading_ends_at_the_renew_deadline() -> None:
    me = succeeded(Candidate("me"), LeaseRecord("me", 15, WALL, WALL, 0), sent_at=50.0)
    assert leading(me, now=59.99, timings=T)
    assert phase(me, now=59.99, timings=T) == "leader"
    assert not leading(me, now=60.0, timings=T)
    assert phase(me, now=60.0, timings=T) == "lost"
    assert phase(Candidate("me"), now=0.0, timings=T) == "standby"


def test_reading_another_holder_ends_leading_at_once() -> None:
    """A renewal that hit 409 because another candidate took the lease: the next read shows
    that holder, and this candidate stops leading then, not at its renew deadline."""
    me = succeeded(Candidate("me"), LeaseRecord("me", 15, WALL, WALL, 0), sent_at=50.0)
    decision = decide(me, held("other", transitions=1), now=51.0, wall=WALL, timings=T)
    assert decision.step is Step.STANDBY
    assert not leading(decision.candidate, now=51.0, timings=T)


@given(
    sent=st.floats(min_value=0, max_value=1e6),
    delay=st.floats(min_value=0, max_value=100),
    waited=st.floats(min_value=0, max_value=100),
)
def test_a_leader_stops_before_any_standby_can_acquire(
    sent: float, delay: float, waited: float
) -> None:
    """The leader's last renewal was sent at `sent` and reached the API `delay` later; a
    standby sees that record at its next read and acquires only once a lease duration passed
    since: at every moment the standby may acquire, the leader no longer leads."""
    record = LeaseRecord("leader", 15, WALL, f"renewed {sent}", 0)
    leader = succeeded(Candidate("leader"), record, sent_at=sent)
    seen_at = sent + delay
    standby = decide(Candidate("standby"), Lease(record, "1"), now=seen_at, wall=WALL, timings=T)
    now = seen_at + waited
    step = decide(standby.candidate, Lease(record, "1"), now=now, wall=WALL, timings=T).step
    if step is Step.ACQUIRE:
        assert not leading(leader, now=now, timings=T)


def test_release_gives_up_only_a_lease_we_hold() -> None:
    record = LeaseRecord("me", 15, "t0", "t1", 4)
    me = succeeded(Candidate("me"), record, sent_at=1.0)
    assert released(me, wall="t2") == LeaseRecord("", 1, "t0", "t2", 4)
    assert released(Candidate("me"), wall="t2") is None


@pytest.mark.parametrize(
    ("timings", "words"),
    [
        (Timings(10, 10, 2), "longer than the renew deadline"),
        (Timings(15, 2, 2), "longer than 1.2 × the retry period"),
    ],
)
def test_timings_that_cannot_work_are_refused(timings: Timings, words: str) -> None:
    problem = timings.problem()
    assert problem is not None and words in problem
    assert Timings().problem() is None
