"""Running a leader election: a thread that reads and writes the Lease every retry period
(`leader_election` decides what to do), and the checks the reconciler makes of it.

A `LeaseStore` is the Lease in some API (`cluster.kube_lease` for Kubernetes, `cluster.sim_lease`
for a simulated cluster). The elector tries once at `start`, then every retry period (with
client-go's jitter) until `stop`; a failed read or write (unreachable, 409 because another
candidate wrote first, an unreadable leases file) is retried at the next period, and
leadership ends by itself when no renewal succeeded within the renew deadline.
`check` raises `NotLeaderError` unless this process may act as the leader right now; it is
called before each action a pass applies. `stop(release=True)` gives the lease up (only after
the pass is over) so a standby can take over at once; `abandon` stops the thread without
releasing, as a crashed process would.
Side effects: a daemon thread making the store's requests; `on_change` is called from it.
"""

from __future__ import annotations

import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from gitops_edge.cluster.base import ClusterError
from gitops_edge.model.lease import Lease, LeaseRecord
from gitops_edge.reconciler.leader_election import (
    JITTER,
    Candidate,
    NotLeaderError,
    Step,
    Timings,
    decide,
    leading,
    released,
    succeeded,
)

OnChange = Callable[[bool, str], None]  # on_change(leading, holder or why)


class LeaseStore(Protocol):
    """One Lease in an API: read, create and update with optimistic concurrency."""

    @property
    def describe(self) -> str:
        """`namespace/name` of the Lease, for messages."""
        ...

    def get(self) -> Lease | None:
        """The Lease, or None when it does not exist."""
        ...

    def create(self, record: LeaseRecord) -> Lease:
        """Create it (ClusterError when it exists already: another candidate was first)."""
        ...

    def update(self, current: Lease, record: LeaseRecord) -> Lease:
        """Replace its spec, if it is still at `current.version` (else ClusterError: 409)."""
        ...

    def close(self) -> None:
        """Let go of the connection, if any."""
        ...


def new_identity() -> str:
    """This process's identity in the Lease: the host name (a pod's name) and a random suffix,
    so a restarted process is a new candidate."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:10]}"


def micro_time(epoch: float | None = None) -> str:
    """A MicroTime (RFC 3339 with microseconds, UTC) as the API server writes it."""
    moment = datetime.fromtimestamp(time.time() if epoch is None else epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """One candidate for one Lease."""

    def __init__(
        self,
        store: LeaseStore,
        *,
        identity: str,
        timings: Timings,
        on_change: OnChange | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.timings = timings
        self.on_change = on_change
        self.clock = clock
        self._candidate = Candidate(identity)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._was_leading = False
        self._holder = ""
        self.last_error = ""

    @property
    def identity(self) -> str:
        return self._candidate.identity

    @property
    def holder(self) -> str:
        """The holder last read from the Lease ("" when none)."""
        with self._lock:
            return self._holder

    def start(self) -> LeaderElector:
        """Try once now, then every retry period in a thread."""
        self.step()
        self._thread = threading.Thread(target=self._run, name="leader-election", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            period = self.timings.retry_period * (1 + random.random() * (JITTER - 1))
            if self._stop.wait(period):
                return
            self.step()

    def step(self) -> None:
        """One try to acquire or renew (client-go's tryAcquireOrRenew)."""
        with self._lock:
            candidate = self._candidate
        sent_at = self.clock()
        try:
            lease = self.store.get()
            decision = decide(
                candidate, lease, now=sent_at, wall=micro_time(), timings=self.timings
            )
            candidate = decision.candidate
            if decision.record is not None:
                if decision.step is Step.CREATE:
                    self.store.create(decision.record)
                else:
                    assert lease is not None
                    self.store.update(lease, decision.record)
                candidate = succeeded(candidate, decision.record, sent_at=sent_at)
            self.last_error = ""
        except (ClusterError, OSError, ValueError) as exc:  # unreachable, 409: next period
            self.last_error = str(exc)
        with self._lock:
            self._candidate = candidate
            self._holder = candidate.observed.holder if candidate.observed else ""
        self._report()

    def _report(self) -> None:
        now_leading = self.leading()
        if now_leading != self._was_leading:
            self._was_leading = now_leading
            if self.on_change is not None:
                self.on_change(now_leading, self.holder if not now_leading else self.identity)

    def leading(self) -> bool:
        """Whether this process may act as the leader now."""
        with self._lock:
            candidate = self._candidate
        return leading(candidate, now=self.clock(), timings=self.timings)

    def check(self) -> None:
        """Raise NotLeaderError unless this process may act as the leader now."""
        if not self.leading():
            holder = self.holder
            why = f"held by {holder}" if holder and holder != self.identity else "not renewed"
            raise NotLeaderError(
                f"lease {self.store.describe} {why}: {self.identity} is not the leader "
                "(any more); nothing more is applied"
            )

    def wait_leading(self, timeout: float) -> bool:
        """Wait until this process leads, at most `timeout` seconds."""
        deadline = self.clock() + timeout
        while not self.leading():
            if self.clock() >= deadline or self._stop.wait(0.05):
                return False
        return True

    def abandon(self) -> None:
        """Stop trying without releasing (a crashed process: the lease runs out)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def stop(self, *, release: bool = True) -> None:
        """Stop the thread; with `release`, give the lease up if this process holds it."""
        self.abandon()
        with self._lock:
            record = released(self._candidate, wall=micro_time()) if release else None
            self._candidate = Candidate(self.identity)
        try:
            if record is not None:
                lease = self.store.get()
                if lease is not None and lease.record.holder == self.identity:
                    self.store.update(lease, record)
        except ClusterError as exc:  # it runs out by itself
            self.last_error = str(exc)
        finally:
            self.store.close()
