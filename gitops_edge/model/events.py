"""A Kubernetes Event as a value (what the reconciler records on an object, and the adapters
write): its object, type, reason, message and the source revision, with the key that makes two
Events the same one and the name of the object that counts them. Built by `pass_events`.
Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

REPORTING_CONTROLLER = "gitops-edge"
REVISION_ANNOTATION = "gitops-edge.io/revision"  # as Flux's `<group>/revision` event metadata


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """The object an Event is about (core/v1 ObjectReference); namespace "" when it is
    cluster-scoped, uid "" when not known."""

    api_version: str
    kind: str
    name: str
    namespace: str = ""
    uid: str = ""


@dataclass(frozen=True, slots=True)
class Event:
    """One Kubernetes Event to record (created, or counted again when identical)."""

    involved: ObjectRef
    type: str  # Normal | Warning
    reason: str
    message: str
    revision: str  # the source revision of the pass (git commit, or "worktree")
    time: float  # when it happened, on the cluster's clock (the pass's observation)

    @property
    def namespace(self) -> str:
        """Where the Event lives: its object's namespace; `default` for a cluster-scoped one
        (as client-go's recorder does)."""
        return self.involved.namespace or "default"

    @property
    def key(self) -> tuple[str, ...]:
        """What makes two Events the same one (client-go's `getEventKey`)."""
        ref = self.involved
        return (
            REPORTING_CONTROLLER,
            ref.api_version,
            ref.kind,
            ref.namespace,
            ref.name,
            ref.uid,
            self.type,
            self.reason,
            self.message,
        )

    @property
    def name(self) -> str:
        """The Event object's name: `<object>.<16 hex>` like client-go's, but derived from the
        key, so an identical Event from another process (the next CronJob run) finds the same
        object to count on."""
        digest = hashlib.sha256("\x00".join(self.key).encode()).hexdigest()[:16]
        return f"{self.involved.name[: 253 - 17]}.{digest}"  # at most 253 characters
