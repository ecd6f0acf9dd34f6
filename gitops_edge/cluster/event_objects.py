"""Kubernetes core/v1 Event objects from `pass_events.Event` values, as both backends store them
(the simulated cluster keeps them in its state; the Kubernetes backend sends them).

core/v1 `events` rather than events.k8s.io/v1: it is what `kubectl describe` and `kubectl get
events` show, and its count/firstTimestamp/lastTimestamp are how client-go's recorder (the one
Flux's controllers use) aggregates identical Events. No `eventTime`: the legacy fields are
used, so the API server asks only that the Event's namespace be its object's (or `default` for a
cluster-scoped object). Pure; no I/O.
"""

from __future__ import annotations

import socket
from functools import lru_cache
from typing import Any

from gitops_edge.cluster.k8s_objects import format_time
from gitops_edge.model.events import REPORTING_CONTROLLER, REVISION_ANNOTATION, Event

Obj = dict[str, Any]


@lru_cache(maxsize=1)
def reporting_instance() -> str:
    """Which reconciler wrote it (the pod's host name), at most 128 characters."""
    return socket.gethostname()[:128] or REPORTING_CONTROLLER


def timestamp(seconds: float) -> str:
    """A metav1.Time: RFC 3339, whole seconds."""
    return format_time(float(int(seconds)))


def event_object(event: Event, *, count: int = 1, first: float | None = None) -> Obj:
    """The core/v1 Event to create for `event` (seen `count` times, first at `first`)."""
    ref = event.involved
    involved: Obj = {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name}
    if ref.namespace:
        involved["namespace"] = ref.namespace
    if ref.uid:
        involved["uid"] = ref.uid
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": event.name,
            "namespace": event.namespace,
            "annotations": {REVISION_ANNOTATION: event.revision},
        },
        "involvedObject": involved,
        "type": event.type,
        "reason": event.reason,
        "message": event.message,
        "source": {"component": REPORTING_CONTROLLER},
        "reportingComponent": REPORTING_CONTROLLER,
        "reportingInstance": reporting_instance(),
        "count": count,
        "firstTimestamp": timestamp(event.time if first is None else first),
        "lastTimestamp": timestamp(event.time),
    }


def recount(event: Event, *, count: int) -> Obj:
    """The strategic merge patch that counts an identical Event once more (client-go's
    `eventObserve`: count, lastTimestamp, and the message)."""
    return {"count": count, "lastTimestamp": timestamp(event.time), "message": event.message}
