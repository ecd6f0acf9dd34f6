"""The pod requests of the Kubernetes backend, and the edge agent's client (`KubeNodeClient`).

`delete_pod` (DELETE with a uid precondition) and `set_pod_condition` (a strategic-merge patch
of pods/status replacing one condition by type, refused for a recreated pod) are shared by
`KubeCluster`'s writes and the agent; `KubeNodeClient` is the agent's `NodeClient` for one
node: its pods, those two writes, and who its credentials are.
Imports no `kubernetes` (request bodies come from `kube`).
Side effects: HTTP requests to the API server.
"""

from __future__ import annotations

import time
from typing import Any

from gitops_edge.cluster.base import NotFoundError
from gitops_edge.cluster.k8s_objects import condition_to
from gitops_edge.cluster.kube import KubeApi, delete_options, json_body, self_subject_review
from gitops_edge.cluster.kube_errors import ConflictError, InvalidError
from gitops_edge.model.observed import Condition


def delete_pod(cluster: KubeApi, namespace: str, name: str, uid: str) -> Any:
    """DELETE with a uid precondition: a 409 means the pod was recreated, so it is gone.
    Returns the API's response."""
    options = delete_options(uid=uid)
    try:
        return cluster.retry(
            f"delete pod {namespace}/{name}",
            lambda: cluster.core.delete_namespaced_pod(
                name, namespace, body=options, _preload_content=False
            ),
            retry_conflicts=False,
        )
    except ConflictError:
        raise NotFoundError(f"pod {namespace}/{name} (uid {uid}) was replaced") from None


def set_pod_condition(
    cluster: KubeApi, namespace: str, name: str, uid: str, condition: Condition
) -> Any:
    """Strategic-merge patch of pods/status: conditions merge by `type`, others untouched; the
    uid in the patch makes the API server refuse it for a recreated pod (422 Invalid,
    `metadata.uid: … field is immutable`: NotFoundError, the pod was replaced; any other 422
    stays an error). Returns the API's response."""
    body = {"metadata": {"uid": uid}, "status": {"conditions": [condition_to(condition)]}}
    try:
        return cluster.retry(
            f"patch pod {namespace}/{name} status",
            lambda: cluster.core.patch_namespaced_pod_status(
                name,
                namespace,
                body=body,
                _content_type="application/strategic-merge-patch+json",
                _preload_content=False,
            ),
            retry_conflicts=False,
        )
    except InvalidError as exc:
        if "metadata.uid" not in exc.fields:
            raise
        raise NotFoundError(f"pod {namespace}/{name} (uid {uid}) was replaced") from None
    except ConflictError:
        raise NotFoundError(f"pod {namespace}/{name} (uid {uid}) was replaced") from None


class KubeNodeClient:
    """`NodeClient` for the edge agent of one node, and who its credentials are (the API
    server confines them when they are the node's own: `gitops_edge.agent.identity`)."""

    def __init__(self, cluster: KubeApi, node: str) -> None:
        self.cluster = cluster
        self.node = node

    def now(self) -> float:
        return time.time()

    def list_pods(self) -> list[dict[str, Any]]:
        return self.cluster.list_all(
            f"list pods on {self.node}",
            self.cluster.core.list_pod_for_all_namespaces,
            field_selector=f"spec.nodeName={self.node}",
        )

    def get_pod(self, namespace: str, name: str) -> dict[str, Any]:
        response = self.cluster.retry(
            f"get pod {namespace}/{name}",
            lambda: self.cluster.core.read_namespaced_pod(name, namespace, _preload_content=False),
        )
        return json_body(response)

    def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        delete_pod(self.cluster, namespace, name, uid)

    def set_pod_condition(self, namespace: str, name: str, uid: str, condition: Condition) -> None:
        set_pod_condition(self.cluster, namespace, name, uid, condition)

    def who_am_i(self) -> dict[str, Any]:
        """The user the API server takes these credentials for: the userInfo of a
        SelfSubjectReview (authentication.k8s.io/v1, Kubernetes >= 1.28; every authenticated
        user may create one). NotFoundError where the server does not serve it."""
        review = self_subject_review()
        response = self.cluster.retry(
            "create SelfSubjectReview",
            lambda: self.cluster.auth.create_self_subject_review(review, _preload_content=False),
            retry_conflicts=False,
        )
        return dict((json_body(response).get("status") or {}).get("userInfo") or {})

    def client_certificate(self) -> str | None:
        """The client certificate file of the kubeconfig (one the client library wrote for
        embedded certificate data too); None when the credentials are not a certificate."""
        cert_file = self.cluster.api.configuration.cert_file
        return str(cert_file) if cert_file else None
