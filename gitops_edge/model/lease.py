"""A `coordination.k8s.io/v1` Lease as a value: its record (holder, duration, MicroTimes,
transitions) and the resourceVersion an update must carry. What the cluster adapters read and
write for the leader election (`leader_election` decides with it). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """A Lease's spec: who holds it, for how long, since when, and how often it changed hands."""

    holder: str = ""  # "" : released, anyone may take it
    duration_seconds: int = 0
    acquire_time: str = ""  # MicroTime, e.g. 2026-01-01T00:00:00.000000Z
    renew_time: str = ""
    transitions: int = 0


@dataclass(frozen=True, slots=True)
class Lease:
    """A Lease as read: its record and the resourceVersion an update must carry."""

    record: LeaseRecord
    version: str
