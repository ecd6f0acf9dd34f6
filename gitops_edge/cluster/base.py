"""The `Cluster` protocol every backend implements, the node-scoped `NodeClient` the edge agent
uses, and the errors backends raise.

No side effects of its own. Backends are used as context managers: the simulated cluster holds
its file lock and saves its state once, atomically, when the block exits without an exception.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from gitops_edge.model.events import Event
from gitops_edge.model.observed import Condition, Observed


class ClusterError(Exception):
    """A cluster operation failed for this object; the rest of the pass goes on."""


class TransientClusterError(ClusterError):
    """Worth retrying with backoff (unreachable, 429, 5xx, conflicts)."""


class UnauthorizedError(ClusterError):
    """401: the API server refuses these credentials altogether."""


class NotFoundError(ClusterError):
    """The object does not exist (or no longer has the expected uid)."""


class NamespaceMissingError(ClusterError):
    """An object could not be created (or applied) because its namespace does not exist: the
    API server's 404 `namespaces "NAME" not found` (`details.kind: namespaces`), which is not
    "the object is gone". A failed action, never a skipped one."""

    def __init__(self, namespace: str, *, what: str = "") -> None:
        self.namespace = namespace
        prefix = f"{what}: " if what else ""
        super().__init__(
            f'{prefix}namespace "{namespace}" does not exist: declare it in the repository (a v1 '
            f"Namespace) or create it (kubectl create namespace {namespace})"
        )


class Cluster(Protocol):
    """What the reconciler needs from a cluster."""

    def observe(self) -> Observed:
        """List namespaces, nodes, DaemonSets (with newest revision hash), pods, pre-pull Jobs and
        KubeEdge node jobs (each read in the version it was created in), and the served
        versions of operations.kubeedge.io."""
        ...

    def apply_namespace(self, manifest: Mapping[str, Any]) -> None:
        """Create or update (server-side apply) a v1 Namespace from its manifest."""
        ...

    def delete_namespace(self, name: str) -> None:
        """Delete a Namespace and everything in it (NotFoundError when it does not exist)."""
        ...

    def apply_daemonset(self, manifest: Mapping[str, Any]) -> None:
        """Create or update (server-side apply) a DaemonSet from a full apps/v1 manifest
        (NamespaceMissingError when its namespace does not exist)."""
        ...

    def delete_daemonset(self, namespace: str, name: str) -> None:
        """Delete a DaemonSet (its pods go with it)."""
        ...

    def annotate_daemonset(
        self, namespace: str, name: str, annotations: Mapping[str, str | None]
    ) -> None:
        """Set annotations of a DaemonSet (None removes one), nothing else."""
        ...

    def rollback_daemonset(self, namespace: str, name: str, uid: str, revision: str) -> None:
        """Set the DaemonSet's pod template to that of its ControllerRevision `revision` (the
        controller-revision-hash), as `kubectl rollout undo` does."""
        ...

    def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        """Delete a pod if and only if it still has `uid` (else NotFoundError)."""
        ...

    def set_pod_condition(self, namespace: str, name: str, uid: str, condition: Condition) -> None:
        """Add or replace the condition of `condition.type` on the pod, leaving others alone."""
        ...

    def create_pull_job(self, manifest: Mapping[str, Any]) -> None:
        """Create an image pre-pull Job (batch/v1, `gitops_edge.model.prepull.pull_job`)."""
        ...

    def delete_job(self, namespace: str, name: str) -> None:
        """Delete a Job and its pods (NotFoundError when it does not exist)."""
        ...

    def create_node_job(self, manifest: Mapping[str, Any]) -> None:
        """Create a KubeEdge node job (cluster-scoped) in the apiVersion its manifest names
        (ClusterError when that version is not served or the name is taken)."""
        ...

    def delete_node_job(self, api_version: str, kind: str, name: str) -> None:
        """Delete a KubeEdge node job (NotFoundError when it does not exist)."""
        ...

    def record_events(self, events: Sequence[Event]) -> None:
        """Record Kubernetes Events (core/v1), in order: an Event identical to one already
        recorded (`Event.key`) counts that one again (count, lastTimestamp) instead of adding
        another. Best effort, one attempt each: raises ClusterError at the first that cannot be
        written, leaving the rest unwritten."""
        ...


class CloudUnreachableError(TransientClusterError):
    """The API server cannot be reached from this node (its link to the cloud is down)."""


class NodeClient(Protocol):
    """What the edge agent of one node needs from the cloud: its own pods, as API objects."""

    def list_pods(self) -> list[dict[str, Any]]:
        """The v1 Pod objects bound to this node (CloudUnreachableError when offline)."""
        ...

    def get_pod(self, namespace: str, name: str) -> dict[str, Any]:
        """One pod (NotFoundError when it does not exist)."""
        ...

    def now(self) -> float:
        """The cluster's clock (epoch seconds; the simulated cluster's logical clock)."""
        ...

    def delete_pod(self, namespace: str, name: str, uid: str) -> None: ...

    def set_pod_condition(
        self, namespace: str, name: str, uid: str, condition: Condition
    ) -> None: ...
