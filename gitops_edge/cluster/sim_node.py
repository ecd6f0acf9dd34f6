"""`NodeClient` over the simulated cluster: the cloud as one edge node's agent sees it.

Each call opens the state file (under its lock, briefly) and closes it again, as each request
of a real agent is one round trip to the API server. The node's link to the cloud is down while
the node is NotReady (on an edge node the kubelet stops reporting when the link drops) or when
the state file cannot be locked in time: calls then raise CloudUnreachableError.
Side effects: reads and writes the state file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from gitops_edge.cluster.base import CloudUnreachableError
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model.observed import Condition

T = TypeVar("T")


class SimNodeClient:
    def __init__(self, path: Path, node: str) -> None:
        self.path = path
        self.node = node

    @contextmanager
    def _cloud(self, *, write: bool) -> Iterator[SimCluster]:
        try:
            with SimCluster.open(self.path, read_only=not write) as cluster:
                if not cluster.node_is_ready(self.node):
                    raise CloudUnreachableError(f"node {self.node}: the link to the cloud is down")
                yield cluster
        except (TimeoutError, FileNotFoundError) as exc:
            raise CloudUnreachableError(str(exc)) from None

    def _read(self, fn: Callable[[SimCluster], T]) -> T:
        with self._cloud(write=False) as cluster:
            return fn(cluster)

    def now(self) -> float:
        return self._read(lambda c: c.now)

    def list_pods(self) -> list[dict[str, Any]]:
        return self._read(lambda c: c.node_pods(self.node))

    def get_pod(self, namespace: str, name: str) -> dict[str, Any]:
        return self._read(lambda c: c.raw_pod(namespace, name))

    def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        with self._cloud(write=True) as cluster:
            cluster.delete_pod(namespace, name, uid)

    def set_pod_condition(self, namespace: str, name: str, uid: str, condition: Condition) -> None:
        with self._cloud(write=True) as cluster:
            cluster.set_pod_condition(namespace, name, uid, condition)
