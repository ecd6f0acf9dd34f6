"""The writes of the Kubernetes backend (`KubeWrites`), each told to the watch-fed cache.

Server-side apply of Namespaces and DaemonSets (field manager `gitops-edge`), Namespace DELETE,
a merge patch of a DaemonSet's annotations, a rollback to a ControllerRevision, DaemonSet and
pod DELETE (pods with a uid precondition), a patch of pods/status that replaces one condition
(`kube_node`), create and delete of pre-pull Jobs. A write to a cached resource registers what
the cache must show before it is sent (`KubeCache.expect`), so no pass acts on a view older
than its own writes.
Imports no `kubernetes` (it calls the client objects `KubeApi` holds).
Side effects: HTTP requests to the API server.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from gitops_edge.cluster.base import (
    CloudUnreachableError,
    ClusterError,
    NamespaceMissingError,
    NotFoundError,
    TransientClusterError,
)
from gitops_edge.cluster.k8s_objects import controller_ref
from gitops_edge.cluster.kube import DAEMON_POD_SELECTOR, PLANNER_CONDITIONS, KubeApi, job_body
from gitops_edge.cluster.kube_cache import DAEMONSETS, PODS
from gitops_edge.cluster.kube_node import delete_pod, set_pod_condition
from gitops_edge.cluster.kube_pages import version_of
from gitops_edge.model.observed import Condition, PodObs

FIELD_MANAGER = "gitops-edge"
Settle = Callable[..., None]  # settle(response, holds=None), see KubeWrites._writing


def _response_version(response: Any) -> str:
    """The resourceVersion of the object a write returned ("" when it returned a Status)."""
    try:
        body = json.loads(response.data)
    except (AttributeError, TypeError, ValueError):
        return ""
    return version_of(body) if isinstance(body, dict) and body.get("kind") != "Status" else ""


class KubeWrites(KubeApi):
    """The writes of `Cluster`."""

    @contextmanager
    def _writing(self, resource: str, namespace: str, name: str) -> Iterator[Settle]:
        """Around a write to a cached resource: the cache is told of it before it is sent, and
        the write must call the `Settle` it is given with what the cache must then show (the
        response's resourceVersion, a condition on the object). A refused write is forgotten;
        one whose outcome is unknown makes the next observation list that resource again."""
        cache = self.cache
        if cache is None:
            yield lambda response, holds=None: None
            return
        expectation = cache.expect(resource, (namespace, name))
        settled = False

        def settle(response: Any, holds: Callable[[Any], bool] | None = None) -> None:
            nonlocal settled
            settled = True
            cache.settle(expectation, version=_response_version(response), holds=holds)

        try:
            yield settle
        except (TransientClusterError, CloudUnreachableError):
            cache.invalidate(resource, expectation)
            raise
        except ClusterError:
            cache.forget(expectation)  # the API refused it: nothing changed
            raise
        except BaseException:
            cache.invalidate(resource, expectation)
            raise
        if not settled:
            cache.invalidate(resource, expectation)

    def _patch_daemonset(
        self, what: str, namespace: str, name: str, body: Mapping[str, Any], **params: Any
    ) -> None:
        """PATCH a DaemonSet (`params`: content type, field manager), the cache told of it;
        `what` names the request in errors."""
        with self._writing(DAEMONSETS, namespace, name) as settle:
            settle(
                self.retry(
                    what,
                    lambda: self.apps.patch_namespaced_daemon_set(
                        name, namespace, body=dict(body), _preload_content=False, **params
                    ),
                )
            )

    def apply_namespace(self, manifest: Mapping[str, Any]) -> None:
        name = manifest["metadata"]["name"]
        self.retry(
            f"apply Namespace {name}",
            lambda: self.core.patch_namespace(
                name,
                body=dict(manifest),
                field_manager=FIELD_MANAGER,
                force=True,
                _content_type="application/apply-patch+yaml",
                _preload_content=False,
            ),
        )

    def delete_namespace(self, name: str) -> None:
        try:
            self.retry(
                f"delete Namespace {name}",
                lambda: self.core.delete_namespace(
                    name, propagation_policy="Background", _preload_content=False
                ),
            )
        except NamespaceMissingError:  # the namespace itself is what is not found
            raise NotFoundError(f"delete Namespace {name}: not found") from None

    def apply_daemonset(self, manifest: Mapping[str, Any]) -> None:
        meta = manifest["metadata"]
        namespace, name = meta.get("namespace", "default"), meta["name"]
        self._patch_daemonset(
            f"apply DaemonSet {namespace}/{name}",
            namespace,
            name,
            manifest,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type="application/apply-patch+yaml",
        )

    def annotate_daemonset(
        self, namespace: str, name: str, annotations: Mapping[str, str | None]
    ) -> None:
        """A JSON merge patch of metadata.annotations (null removes one)."""
        self._patch_daemonset(
            f"annotate DaemonSet {namespace}/{name}",
            namespace,
            name,
            {"metadata": {"annotations": dict(annotations)}},
            _content_type="application/merge-patch+json",
        )

    def rollback_daemonset(self, namespace: str, name: str, uid: str, revision: str) -> None:
        """As `kubectl rollout undo --to-revision`: find the DaemonSet's ControllerRevision with
        that hash (one LIST by label) and replace the pod template with its data (a strategic
        merge patch with `$patch: replace`, so nothing of the failed template survives)."""
        revisions = self.list_all(
            f"list controllerrevisions of {namespace}/{name}",
            self.apps.list_controller_revision_for_all_namespaces,
            label_selector=f"{DAEMON_POD_SELECTOR}={revision}",
        )
        target = next(
            (
                r
                for r in revisions
                if (r.get("metadata") or {}).get("namespace") == namespace
                and controller_ref(r.get("metadata") or {}).get("uid") == uid
            ),
            None,
        )
        if target is None:
            raise NotFoundError(f"DaemonSet {namespace}/{name} has no revision {revision}")
        template = dict((target.get("data") or {}).get("spec", {}).get("template") or {})
        self._patch_daemonset(
            f"roll back DaemonSet {namespace}/{name} to {revision}",
            namespace,
            name,
            {"spec": {"template": {**template, "$patch": "replace"}}},
            _content_type="application/strategic-merge-patch+json",
        )

    def delete_daemonset(self, namespace: str, name: str) -> None:
        with self._writing(DAEMONSETS, namespace, name) as settle:
            settle(
                self.retry(
                    f"delete DaemonSet {namespace}/{name}",
                    lambda: self.apps.delete_namespaced_daemon_set(
                        name, namespace, propagation_policy="Background", _preload_content=False
                    ),
                ),
                lambda ds: ds is None or bool(ds["metadata"].get("deletionTimestamp")),
            )

    def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        with self._writing(PODS, namespace, name) as settle:
            settle(
                delete_pod(self, namespace, name, uid),
                lambda pod: pod is None or pod.uid != uid or pod.deleting,
            )

    def create_pull_job(self, manifest: Mapping[str, Any]) -> None:
        meta = manifest["metadata"]
        job = job_body(dict(manifest))
        if job is None:
            raise ClusterError(f"Job {meta['name']}: not a batch/v1 Job manifest")
        self.retry(
            f"create Job {meta['namespace']}/{meta['name']}",
            lambda: self.batch.create_namespaced_job(
                meta["namespace"], job, _preload_content=False
            ),
            retry_conflicts=False,
        )

    def delete_job(self, namespace: str, name: str) -> None:
        self.retry(
            f"delete Job {namespace}/{name}",
            lambda: self.batch.delete_namespaced_job(
                name, namespace, propagation_policy="Background", _preload_content=False
            ),
        )

    def set_pod_condition(self, namespace: str, name: str, uid: str, condition: Condition) -> None:
        def shown(pod: PodObs | None) -> bool:
            if pod is None or pod.uid != uid or condition.type not in PLANNER_CONDITIONS:
                return True  # gone, replaced, or a condition the cache does not keep
            now = pod.condition(condition.type)
            return now is not None and (now.status, now.reason, now.message) == (
                condition.status,
                condition.reason,
                condition.message,
            )

        with self._writing(PODS, namespace, name) as settle:
            settle(set_pod_condition(self, namespace, name, uid, condition), shown)
