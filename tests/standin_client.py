"""The Kubernetes adapter connected to a stand-in API server (`kube_standin`), as the tests of
the adapter use it: the official client over the stand-in's kubeconfig, retries without
sleeping. Shared by the test modules' `cluster` fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kube_standin import StandIn

from gitops_edge.cluster import kube
from gitops_edge.cluster.kube import Retrier
from gitops_edge.cluster.kube_cluster import KubeCluster


@contextmanager
def connected(
    api: StandIn, tmp_path: Path, *, base_delay: float | None = None
) -> Iterator[KubeCluster]:
    """A `KubeCluster` on `api` (its kubeconfig written into `tmp_path`), closed on exit;
    `base_delay`: the retrier's (None: its default)."""
    client = kube.api_client_for(str(api.kubeconfig(tmp_path / "kubeconfig")), None)
    retrier = (
        Retrier(sleep=lambda _: None)
        if base_delay is None
        else Retrier(sleep=lambda _: None, base_delay=base_delay)
    )
    with KubeCluster(client, retrier=retrier) as cluster:
        yield cluster
