"""Recording a pass's Kubernetes Events (`pass_events`) in the cluster, the "record events" step
of a pass: never blocks or fails the pass. A failure to write them is logged once, as a warning
(again only when the failure changes, and once more, at info, when Events are written again).

Side effects: writes to the cluster through `Cluster.record_events`; log lines through `log`.
"""

from __future__ import annotations

from collections.abc import Callable

from gitops_edge.cluster.base import Cluster
from gitops_edge.model.events import Event
from gitops_edge.reconciler.pass_events import pass_events
from gitops_edge.reconciler.reconcile import PassResult

Log = Callable[..., None]  # log(level, message, **fields)


class EventRecorder:
    """Turns each pass's outcome into Events and records them; off when not `enabled`
    (`reconcile --no-events`). Keeps, between passes, the failure it last reported."""

    def __init__(self, *, enabled: bool, log: Log) -> None:
        self.enabled = enabled
        self.log = log
        self.failing = ""  # the failure last logged, "" while Events are written

    def record(self, outcome: PassResult, *, cluster: Cluster, revision: str) -> tuple[Event, ...]:
        """Record the Events of `outcome`; returns them (none when disabled)."""
        if not self.enabled:
            return ()
        events = pass_events(
            plans=outcome.plans, results=outcome.results, revision=revision, uids=outcome.uids
        )
        if not events:
            return events
        try:
            cluster.record_events(events)
        except Exception as exc:  # whatever it is, an Event must never fail the pass
            failure = f"{type(exc).__name__}: {exc}"
            if _kind(failure) != _kind(self.failing):
                self.log(
                    "warning",
                    "cannot record Kubernetes Events; the pass goes on without them (logged "
                    "once; --no-events turns them off)",
                    error=failure,
                )
            self.failing = failure
            return events
        if self.failing:
            self.log("info", "Kubernetes Events are recorded again")
            self.failing = ""
        return events


def _kind(failure: str) -> str:
    """What a failure is, without the object it happened to: its type and the words after the
    first colon of the message (e.g. "ClusterError: 403 …")."""
    kind, _, rest = failure.partition(": ")
    _, _, cause = rest.partition(": ")
    return f"{kind}: {cause.split(' ', 1)[0]}" if failure else ""
