"""The leader election's Lease in the Kubernetes API (`coordination.k8s.io/v1`): a `LeaseStore`.

GET, POST (create: 409 AlreadyExists when another candidate created it first) and PUT (update
carrying the read `resourceVersion`: the API server answers 409 Conflict when someone wrote
the Lease since), through the client's generic object API (`KubeCluster.custom_objects()`:
the client stays in `kube`; plain JSON bodies, so MicroTimes are sent as written, with six
fraction digits), with a connection of its own that makes one attempt per request, each within
`timeout` seconds: the election retries every retry period by itself, and a renewal must never
outlast its deadline inside a retry loop.
Side effects: HTTP requests to the API server.
"""

from __future__ import annotations

from typing import Any

from gitops_edge.cluster.base import NotFoundError
from gitops_edge.cluster.kube import Retrier, connect_to, json_body
from gitops_edge.cluster.kube_cluster import KubeCluster
from gitops_edge.model.lease import Lease, LeaseRecord

GROUP, VERSION, PLURAL = "coordination.k8s.io", "v1", "leases"
GROUP_VERSION = f"{GROUP}/{VERSION}"


class KubeLeaseStore:
    """One Lease, `namespace/name`."""

    def __init__(self, cluster: KubeCluster, *, namespace: str, name: str, timeout: float) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.name = name
        self.timeout = timeout

    @classmethod
    def connect(
        cls,
        context: str | None,
        *,
        namespace: str,
        name: str,
        timeout: float,
        kubeconfig: str | None = None,
    ) -> KubeLeaseStore:
        api, endpoint = connect_to(kubeconfig, context)
        cluster = KubeCluster(api, retrier=Retrier(attempts=1), endpoint=endpoint)
        return cls(cluster, namespace=namespace, name=name, timeout=timeout)

    @property
    def describe(self) -> str:
        return f"{self.namespace}/{self.name}"

    def close(self) -> None:
        self.cluster.__exit__(None, None, None)

    def get(self) -> Lease | None:
        try:
            response = self.cluster.retry(
                f"get Lease {self.describe}",
                lambda: self.cluster.custom_objects().get_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    self.namespace,
                    PLURAL,
                    self.name,
                    _preload_content=False,
                    _request_timeout=self.timeout,
                ),
            )
        except NotFoundError:
            return None
        return lease_from(json_body(response, what="the Lease"))

    def create(self, record: LeaseRecord) -> Lease:
        body = {
            "apiVersion": GROUP_VERSION,
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": spec_of(record),
        }
        response = self.cluster.retry(
            f"create Lease {self.describe}",
            lambda: self.cluster.custom_objects().create_namespaced_custom_object(
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                body,
                _preload_content=False,
                _request_timeout=self.timeout,
            ),
            retry_conflicts=False,
        )
        return lease_from(json_body(response, what="the Lease"))

    def update(self, current: Lease, record: LeaseRecord) -> Lease:
        body = {
            "apiVersion": GROUP_VERSION,
            "kind": "Lease",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "resourceVersion": current.version,
            },
            "spec": spec_of(record),
        }
        response = self.cluster.retry(
            f"update Lease {self.describe}",
            lambda: self.cluster.custom_objects().replace_namespaced_custom_object(
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                self.name,
                body,
                _preload_content=False,
                _request_timeout=self.timeout,
            ),
            retry_conflicts=False,
        )
        return lease_from(json_body(response, what="the Lease"))


def spec_of(record: LeaseRecord) -> dict[str, Any]:
    """A LeaseSpec (client-go's `LeaderElectionRecordToLeaseSpec`)."""
    spec: dict[str, Any] = {
        "holderIdentity": record.holder,
        "leaseDurationSeconds": record.duration_seconds,
        "leaseTransitions": record.transitions,
    }
    if record.acquire_time:
        spec["acquireTime"] = record.acquire_time
    if record.renew_time:
        spec["renewTime"] = record.renew_time
    return spec


def lease_from(obj: dict[str, Any]) -> Lease:
    """The record and resourceVersion of a Lease object as the API returns it."""
    spec = obj.get("spec") or {}
    record = LeaseRecord(
        holder=str(spec.get("holderIdentity") or ""),
        duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
        acquire_time=str(spec.get("acquireTime") or ""),
        renew_time=str(spec.get("renewTime") or ""),
        transitions=int(spec.get("leaseTransitions") or 0),
    )
    return Lease(record, str((obj.get("metadata") or {}).get("resourceVersion") or ""))
