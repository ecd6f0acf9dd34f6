"""`--cluster` values → a `Cluster` (DESIGN §7): `sim:FILE` or `kube[:CONTEXT]`; and what
the server of one is (`server_version`).

Side effects: opening a simulated cluster locks and later saves its state file; a Kubernetes
cluster is asked over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gitops_edge.cluster.base import Cluster
from gitops_edge.cluster.sim import SimCluster


class ClusterSpecError(ValueError):
    """A `--cluster` value that names no usable cluster."""


@contextmanager
def open_cluster(
    spec: str, *, kubeconfig: str | None = None, read_only: bool = False
) -> Iterator[Cluster]:
    """The cluster `spec` names (`kubeconfig`: for `kube`, the file `--kubeconfig` names);
    `read_only` promises no writes (`plan`): a simulated cluster's file is then not
    rewritten."""
    kind, _, rest = spec.partition(":")
    if kind == "sim":
        if not rest:
            raise ClusterSpecError("--cluster sim: name the state file, e.g. sim:fleet.json")
        with SimCluster.open(Path(rest), read_only=read_only) as cluster:
            yield cluster
        return
    if kind == "kube":
        from gitops_edge.cluster.kube import KubeConfigError  # imports kubernetes
        from gitops_edge.cluster.kube_cluster import KubeCluster

        try:
            kube = KubeCluster.connect(rest or None, kubeconfig=kubeconfig)
        except KubeConfigError as exc:
            raise ClusterSpecError(str(exc)) from None
        with kube:
            yield kube
        return
    raise ClusterSpecError(
        f"--cluster {spec!r}: use sim:FILE (a simulated cluster) or kube[:CONTEXT] (Kubernetes "
        "from KUBECONFIG)"
    )


def server_version(spec: str, *, kubeconfig: str | None = None) -> dict[str, Any]:
    """What serves the cluster `spec` names: a Kubernetes API server's `/version` (with
    `kind: kubernetes` and the server's address), or, for `sim:FILE`, `kind: simulated` and the
    state file (a model inside gitops-edge: it has no Kubernetes version)."""
    with open_cluster(spec, kubeconfig=kubeconfig, read_only=True) as cluster:
        if isinstance(cluster, SimCluster):
            return {"kind": "simulated", "stateFile": spec.partition(":")[2]}
        from gitops_edge.cluster.kube_cluster import KubeCluster

        assert isinstance(cluster, KubeCluster)
        found = cluster.server_version()
        return {"kind": "kubernetes", **found, "server": cluster.retry.endpoint.server}
