"""KubeEdge's node jobs (NodeUpgradeJob, ImagePrePullJob: cluster-scoped custom resources of
`operations.kubeedge.io`) in the Kubernetes backend (`KubeJobs`): which version to use, create,
delete and get one. Listing them is part of observing (`kube_read`).
Imports no `kubernetes` (it calls the client objects `KubeApi` holds).
Side effects: HTTP requests to the API server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitops_edge.cluster.base import ClusterError, NotFoundError
from gitops_edge.cluster.kube import Obj, json_body
from gitops_edge.cluster.kube_read import KubeReads
from gitops_edge.model import nodejobs as nj


class KubeJobs(KubeReads):
    """The KubeEdge node jobs of `Cluster`."""

    def job_api_version(self, wanted: str = "auto") -> str:
        """The operations.kubeedge.io version to use: the cluster's preferred one for "auto",
        else `wanted` if served. Clear errors when the CRDs are missing or the version is not
        served."""
        try:
            groups = self.discover()
        except ClusterError as exc:
            raise ClusterError(f"cannot discover {nj.GROUP}: {exc}") from None
        if nj.GROUP not in groups:
            raise ClusterError(
                f"the KubeEdge node job CRDs ({nj.GROUP}) are not installed in this cluster: "
                "install KubeEdge cloudcore >= 1.16 (or its CRDs) before adding NodeUpgradeJob "
                "or ImagePrePullJob files"
            )
        served = [v for v in nj.VERSIONS if v in groups[nj.GROUP]]
        if wanted == "auto":
            return served[-1]
        if wanted not in served:
            raise ClusterError(
                f"{nj.GROUP}/{wanted} is not served by this cluster (it serves "
                f"{', '.join(served)}): set spec.jobs.apiVersion in gitops-edge.yaml to one of "
                "them, or auto"
            )
        return wanted

    def create_node_job(self, manifest: Mapping[str, Any]) -> None:
        """Create a cluster-scoped KubeEdge job in the apiVersion its manifest names (never
        another one). No discovery beforehand: the API answers 404 for a version it does not
        serve, and only then is discovery asked which versions it serves, for the message."""
        kind, api_version = str(manifest.get("kind")), str(manifest.get("apiVersion"))
        name = manifest["metadata"]["name"]
        version = nj.version_of(api_version)
        if kind not in nj.PLURALS or not version:
            raise ClusterError(f"{kind} {name}: {api_version} {kind} is not a KubeEdge node job")
        try:
            self.retry(
                f"create {kind} {name}",
                lambda: self.custom.create_cluster_custom_object(
                    nj.GROUP, version, nj.PLURALS[kind], dict(manifest), _preload_content=False
                ),
                retry_conflicts=False,
            )
        except NotFoundError:
            try:
                served = self.discover().get(nj.GROUP)
            except ClusterError:
                served = None
            if served is None:
                detail = f"KubeEdge's node job CRDs ({nj.GROUP}) are not installed"
            else:
                detail = f"it serves {', '.join(served) or 'no version'}"
            if served is not None and version in served:  # the group is, this kind's CRD is not
                raise ClusterError(
                    f"create {kind} {name}: the CRD {nj.PLURALS[kind]}.{nj.GROUP} is not installed "
                    f"in this cluster, which serves {api_version} for the other node jobs: "
                    "install it (KubeEdge's build/crds/operations) or upgrade KubeEdge"
                ) from None
            raise ClusterError(
                f"create {kind} {name}: {api_version} is not served by this cluster ({detail})"
            ) from None

    def delete_node_job(self, api_version: str, kind: str, name: str) -> None:
        """Delete a KubeEdge job through the version it was observed in (NotFoundError when it
        does not exist)."""
        group, _, version = api_version.partition("/")
        self.retry(
            f"delete {kind} {name}",
            lambda: self.custom.delete_cluster_custom_object(
                group, version, nj.PLURALS[kind], name, _preload_content=False
            ),
        )

    def get_node_job(self, api_version: str, kind: str, name: str) -> Obj | None:
        """A KubeEdge job as the API returns it, or None when it does not exist."""
        group, _, version = api_version.partition("/")
        try:
            response = self.retry(
                f"get {kind} {name}",
                lambda: self.custom.get_cluster_custom_object(
                    group, version, nj.PLURALS[kind], name, _preload_content=False
                ),
            )
        except NotFoundError:
            return None
        return json_body(response)
