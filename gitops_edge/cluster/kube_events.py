"""Writing Kubernetes Events (core/v1) for the Kubernetes backend, aggregated as client-go's
recorder does: the first time an Event is seen it is created (count 1); an identical one
(`Event.key`, hence the same name) is counted on the same object with a strategic merge patch of
count and lastTimestamp. The counts of the Events this process wrote are remembered (the last
4096, as client-go's cache); an Event another process wrote first (the previous CronJob run)
answers the create with 409, and is then read once and counted on. An Event that expired
meanwhile (the API server keeps them an hour) answers the patch with 404 and is created anew.

One attempt per request, with a short timeout: Events never hold a pass up. An Event in a
namespace that does not exist is refused by the API server and dropped; any other failure ends
the batch with a ClusterError (the caller logs it and goes on). Needs `events`: create, patch,
get. Side effects: HTTP requests to the API server. Imports no `kubernetes` itself (it calls the
backend's client objects).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gitops_edge.cluster.base import NamespaceMissingError, NotFoundError
from gitops_edge.cluster.event_objects import event_object, recount
from gitops_edge.model.events import Event

if TYPE_CHECKING:
    from gitops_edge.cluster.kube import Retrier
    from gitops_edge.cluster.kube_cluster import KubeCluster

REMEMBERED = 4096
REQUEST_TIMEOUT = (5.0, 10.0)  # connect, read (seconds)
STRATEGIC_MERGE = "application/strategic-merge-patch+json"


class EventWriter:
    """Writes the Events of one `KubeCluster`, remembering their counts between passes."""

    def __init__(self, cluster: KubeCluster) -> None:
        self.cluster = cluster
        self.counts: OrderedDict[tuple[str, str], int] = OrderedDict()

    def write(self, events: Sequence[Event]) -> None:
        """See `Cluster.record_events`."""
        from gitops_edge.cluster.kube import Retrier  # kube_cluster imports this module

        retry = Retrier(sleep=self.cluster.retry.sleep, attempts=1)
        retry.endpoint = self.cluster.retry.endpoint
        for event in events:
            try:
                self._write(event, retry)
            except NamespaceMissingError:
                continue  # NamespaceLifecycle refuses Events there too

    def _write(self, event: Event, retry: Retrier) -> None:
        from gitops_edge.cluster.kube_errors import ConflictError

        core: Any = self.cluster.core  # the body is a plain dict (the API takes it as JSON)
        key = (event.namespace, event.name)
        count = self.counts.get(key)
        if count is not None:
            try:
                self._patch(event, count + 1, retry)
                return
            except NotFoundError:
                pass  # expired since: created anew
        try:
            self._call(
                retry,
                f"create Event {event.namespace}/{event.name}",
                lambda: core.create_namespaced_event(
                    event.namespace, event_object(event), **_options()
                ),
            )
            self._remember(key, 1)
        except ConflictError:  # another process wrote it first: count on
            existing = json.loads(
                self._call(
                    retry,
                    f"get Event {event.namespace}/{event.name}",
                    lambda: self.cluster.core.read_namespaced_event(
                        event.name, event.namespace, **_options()
                    ),
                ).data
            )
            self._patch(event, int(existing.get("count") or 1) + 1, retry)

    def _patch(self, event: Event, count: int, retry: Retrier) -> None:
        self._call(
            retry,
            f"count Event {event.namespace}/{event.name}",
            lambda: self.cluster.core.patch_namespaced_event(
                event.name,
                event.namespace,
                recount(event, count=count),
                _content_type=STRATEGIC_MERGE,
                **_options(),
            ),
        )
        self._remember((event.namespace, event.name), count)

    @staticmethod
    def _call(retry: Retrier, what: str, fn: Any) -> Any:
        return retry(what, fn, retry_conflicts=False)

    def _remember(self, key: tuple[str, str], count: int) -> None:
        self.counts[key] = count
        self.counts.move_to_end(key)
        while len(self.counts) > REMEMBERED:
            self.counts.popitem(last=False)


def _options() -> dict[str, Any]:
    return {"_preload_content": False, "_request_timeout": REQUEST_TIMEOUT}
