"""Kubernetes Events in the simulated cluster: recorded as the API server stores core/v1 Events,
counted again when identical, and gone an hour after they were last seen (kube-apiserver's
default `--event-ttl`), on the simulated clock.

As the real API server: an Event in a namespace that does not exist is refused (it is dropped
here, and the others are still recorded). Side effects: changes the in-memory state only.
"""

from __future__ import annotations

from collections.abc import Sequence

from gitops_edge.cluster.event_objects import Obj, event_object, recount
from gitops_edge.cluster.k8s_objects import parse_time
from gitops_edge.cluster.sim_state import SimState
from gitops_edge.model.events import Event

EVENT_TTL = 3600.0  # seconds


def record(state: SimState, events: Sequence[Event]) -> None:
    """Record `events` in order (see `Cluster.record_events`)."""
    expire(state)
    for event in events:
        if event.namespace not in state.namespaces:
            continue  # NamespaceLifecycle refuses it
        key = (event.namespace, event.name)
        stored = state.events.get(key)
        if stored is None:
            created = event_object(event)
            created["metadata"].update(uid=state.new_uid(), creationTimestamp=state.time())
            state.events[key] = created
        else:
            stored.update(recount(event, count=int(stored.get("count") or 1) + 1))


def expire(state: SimState) -> None:
    """Forget the Events last seen more than EVENT_TTL ago."""
    cutoff = state.now - EVENT_TTL
    for key in [k for k, e in state.events.items() if parse_time(e["lastTimestamp"]) < cutoff]:
        del state.events[key]


def listed(state: SimState) -> list[Obj]:
    """The Events still alive, oldest last-seen first (as `kubectl get events
    --sort-by=.lastTimestamp`)."""
    expire(state)
    return sorted(
        state.events.values(),
        key=lambda e: (e["lastTimestamp"], e["metadata"]["namespace"], e["metadata"]["name"]),
    )
