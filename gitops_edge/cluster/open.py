"""`--cluster` values → a `Cluster` (DESIGN §7): `sim:FILE` or `kube[:CONTEXT]`.

Side effects: opening a simulated cluster locks and later saves its state file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gitops_edge.cluster.base import Cluster
from gitops_edge.cluster.sim import SimCluster


class ClusterSpecError(ValueError):
    """A `--cluster` value that names no usable cluster."""


@contextmanager
def open_cluster(spec: str, *, read_only: bool = False) -> Iterator[Cluster]:
    """The cluster `spec` names; `read_only` promises no writes (`plan`): a simulated cluster's
    file is then not rewritten."""
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
            kube = KubeCluster.connect(rest or None)
        except KubeConfigError as exc:
            raise ClusterSpecError(str(exc)) from None
        with kube:
            yield kube
        return
    raise ClusterSpecError(
        f"--cluster {spec!r}: use sim:FILE (a simulated cluster) or kube[:CONTEXT] (Kubernetes "
        "from KUBECONFIG)"
    )
