"""`KubeCluster`: the `Cluster` over a real API server, assembled from the backend's parts.

The requests and paged LISTs (`kube`, `KubeApi`), observing (`kube_read`), KubeEdge node jobs
(`kube_jobs`) and the writes (`kube_write`); here: connecting, closing, starting the watch-fed
cache (`kube_cache`) and recording Events (`kube_events`).
Side effects: HTTP requests to the API server; the cache's watch threads once started.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gitops_edge.cluster.kube import PLANNER_CONDITIONS, Retrier, connect_to
from gitops_edge.cluster.kube_cache import NODES, KubeCache, NodeChange
from gitops_edge.cluster.kube_errors import Endpoint
from gitops_edge.cluster.kube_events import EventWriter
from gitops_edge.cluster.kube_jobs import KubeJobs
from gitops_edge.cluster.kube_write import KubeWrites
from gitops_edge.model.events import Event


class KubeCluster(KubeJobs, KubeWrites):
    """`Cluster` over a real API server."""

    def __init__(
        self, api: Any, *, retrier: Retrier | None = None, endpoint: Endpoint | None = None
    ) -> None:
        super().__init__(api, retrier=retrier, endpoint=endpoint)
        self.event_writer = EventWriter(self)  # aggregates identical Events across passes

    @classmethod
    def connect(cls, context: str | None, *, kubeconfig: str | None = None) -> KubeCluster:
        api, endpoint = connect_to(kubeconfig, context)
        return cls(api, endpoint=endpoint)

    def __enter__(self) -> KubeCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.cache is not None:
            self.cache.stop()
        self.api.close()  # type: ignore[no-untyped-call]

    def start_cache(
        self, *, on_node_change: NodeChange | None = None, **settings: float
    ) -> KubeCache:
        """From now on, `observe()` reads nodes, DaemonSets, ControllerRevisions and DaemonSet
        pods from a watch-fed cache (`kube_cache`) instead of listing them: for a loop that
        observes again and again. Lists each once now (raises when the API cannot be reached).
        `settings`: the cache's timings (settle_timeout, silence_limit, idle_delay)."""
        cache = KubeCache(
            self, pod_conditions=PLANNER_CONDITIONS, on_node_change=on_node_change, **settings
        )
        self.cache = cache.start()
        return cache

    def watch_nodes(self, on_node_change: NodeChange, **settings: float) -> KubeCache:
        """A watch of the nodes alone, `on_node_change` told of each change (the loop's wake-up
        when it runs without the cache); `observe()` keeps listing. Lists the nodes now."""
        return KubeCache(
            self,
            (NODES,),
            pod_conditions=PLANNER_CONDITIONS,
            on_node_change=on_node_change,
            **settings,
        ).start()

    def record_events(self, events: Sequence[Event]) -> None:
        self.event_writer.write(events)
