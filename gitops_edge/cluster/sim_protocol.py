"""The `Cluster` protocol of the simulated cluster (`SimProtocol`): observe and the writes, as
the API server answers them, and the node-scoped reads of the edge agent.

An object in a namespace that does not exist is refused with the API server's error, and
deleting a namespace deletes what is in it; the controllers' reactions run in `sim_controller`
(DaemonSets, pods), `sim_jobs` (node jobs) and `sim_events` (Events).
Thread-safe: each operation holds the cluster's lock, so the reconciler's apply workers may
call it from several threads (they then take turns). A pod deletion queues the DaemonSet
controller's reaction (`sim_controller.settle`), which runs before anything else reads or
changes the state, so a batch of deletions costs one controller run per DaemonSet.
Side effects: none beyond the in-memory `SimState` (the file is `sim`'s).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Concatenate, ParamSpec, TypeVar

from gitops_edge.cluster import sim_controller as ctl
from gitops_edge.cluster import sim_events, sim_jobs, sim_pods
from gitops_edge.cluster.base import ClusterError, NamespaceMissingError, NotFoundError
from gitops_edge.cluster.k8s_objects import (
    build_observed,
    condition_to,
    controller_ref,
    node_job_from,
    pull_job_from,
)
from gitops_edge.cluster.sim_state import (
    Obj,
    SimState,
    namespace_object,
    node_ready,
    obj_key,
    owner_key,
)
from gitops_edge.model import nodejobs as nj
from gitops_edge.model.events import Event
from gitops_edge.model.observed import REVISION_HASH_LABEL, Condition, NamespaceObs, Observed
from gitops_edge.model.prepull import PULL_POD_LABEL

P = ParamSpec("P")
R = TypeVar("R")


def _serialized(
    method: Callable[Concatenate[SimProtocol, P], R],
) -> Callable[Concatenate[SimProtocol, P], R]:
    """Run `method` holding the cluster's lock."""

    def locked(self: SimProtocol, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._lock:
            return method(self, *args, **kwargs)

    locked.__name__, locked.__doc__ = method.__name__, method.__doc__
    return locked


class SimProtocol:
    """The protocol operations over one in-memory `SimState`."""

    _raw: SimState  # as it is, DaemonSet controller runs perhaps queued
    _lock: threading.RLock

    @property
    def _state(self) -> SimState:
        """The state with the DaemonSet controller caught up with queued pod deletions."""
        state = self._raw
        if state.unsynced:
            ctl.settle(state)
        return state

    @_serialized
    def observe(self) -> Observed:
        s = self._state
        observed = build_observed(
            now=s.now,
            nodes=s.nodes.values(),
            daemonsets=s.daemonsets.values(),
            revisions=s.revisions.values(),
            pods=s.pods.values(),
        )
        pull_jobs = tuple(
            pull_job_from(j)
            for j in s.jobs.values()
            if PULL_POD_LABEL in (j["metadata"].get("labels") or {})
        )
        return replace(
            observed,
            openyurt_installed=s.openyurt_installed,
            pull_jobs=pull_jobs,
            jobs=tuple(node_job_from(j) for _, j in sorted(s.node_jobs.items())),
            job_versions=s.job_versions,
            namespaces=tuple(
                NamespaceObs(
                    name=name,
                    labels=dict(n["metadata"].get("labels") or {}),
                    annotations=dict(n["metadata"].get("annotations") or {}),
                )
                for name, n in sorted(s.namespaces.items())
            ),
        )

    def _require_namespace(self, namespace: str, what: str) -> None:
        """As the API server's NamespaceLifecycle admission: no object in a missing namespace."""
        if namespace not in self._state.namespaces:
            raise NamespaceMissingError(namespace, what=what)

    @_serialized
    def apply_namespace(self, manifest: Mapping[str, Any]) -> None:
        s = self._state
        meta = json.loads(json.dumps(manifest["metadata"]))
        name = str(meta["name"])
        existing = s.namespaces.get(name)
        stored = existing or namespace_object(name, uid=s.new_uid(), created=s.time())
        stored_meta = stored["metadata"]
        stored_meta["labels"] = {
            **(meta.get("labels") or {}),
            "kubernetes.io/metadata.name": name,
        }
        stored_meta["annotations"] = dict(meta.get("annotations") or {})
        s.namespaces[name] = stored

    @_serialized
    def delete_namespace(self, name: str) -> None:
        """Delete a namespace and, at once (the namespace controller's work), what is in it."""
        s = self._state
        if name not in s.namespaces:
            raise NotFoundError(f"Namespace {name} not found")
        for namespace, ds_name in sorted(k for k in s.daemonsets if k[0] == name):
            self.delete_daemonset(namespace, ds_name)
        for key in sorted(k for k in s.pods if k[0] == name):
            sim_pods.remove_pod(s, key)
        for key in sorted(k for k in s.jobs if k[0] == name):
            del s.jobs[key]
        del s.namespaces[name]

    @_serialized
    def apply_daemonset(self, manifest: Mapping[str, Any]) -> None:
        s = self._state
        incoming = json.loads(json.dumps(manifest))  # a private deep copy
        meta = incoming["metadata"]
        meta.setdefault("namespace", "default")
        key = obj_key(incoming)
        if key not in s.daemonsets:
            self._require_namespace(key[0], f"apply DaemonSet {key[0]}/{key[1]}")
        existing = s.daemonsets.get(key)
        if existing is None:
            meta.update(uid=s.new_uid(), generation=1, creationTimestamp=s.time())
            incoming["status"] = {}
        else:
            old_meta = existing["metadata"]
            changed = existing["spec"] != incoming["spec"]
            meta.update(
                uid=old_meta["uid"],
                generation=old_meta["generation"] + (1 if changed else 0),
                creationTimestamp=old_meta["creationTimestamp"],
            )
            incoming["status"] = existing.get("status", {})
            # Server-side apply keeps what other writes set (annotate_daemonset's annotations).
            patched = existing.get("_patchedAnnotations") or []
            kept = {k: v for k, v in (old_meta.get("annotations") or {}).items() if k in patched}
            if kept:
                meta["annotations"] = {**kept, **(meta.get("annotations") or {})}
                incoming["_patchedAnnotations"] = patched
        s.daemonsets[key] = incoming
        ctl.record_revision(s, key)
        ctl.sync_daemonset(s, key)

    @_serialized
    def annotate_daemonset(
        self, namespace: str, name: str, annotations: Mapping[str, str | None]
    ) -> None:
        ds = self._state.daemonsets.get((namespace, name))
        if ds is None:
            raise NotFoundError(f"DaemonSet {namespace}/{name} not found")
        current = ds["metadata"].setdefault("annotations", {})
        patched = ds.setdefault("_patchedAnnotations", [])
        patched.extend(k for k in annotations if k not in patched)
        for key, value in annotations.items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = value

    @_serialized
    def rollback_daemonset(self, namespace: str, name: str, uid: str, revision: str) -> None:
        s = self._state
        key = (namespace, name)
        ds = s.daemonsets.get(key)
        if ds is None:
            raise NotFoundError(f"DaemonSet {namespace}/{name} not found")
        if ds["metadata"]["uid"] != uid:
            raise NotFoundError(f"DaemonSet {namespace}/{name} (uid {uid}) not found")
        target = next(
            (
                r
                for r in s.revisions.values()
                if controller_ref(r["metadata"]).get("uid") == uid
                and r["metadata"]["labels"].get(REVISION_HASH_LABEL) == revision
            ),
            None,
        )
        if target is None:
            raise NotFoundError(f"DaemonSet {namespace}/{name} has no revision {revision}")
        ds["spec"]["template"] = json.loads(json.dumps(target["data"]["spec"]["template"]))
        ds["metadata"]["generation"] += 1
        ctl.record_revision(s, key)
        ctl.sync_daemonset(s, key)

    @_serialized
    def delete_daemonset(self, namespace: str, name: str) -> None:
        s = self._state
        key = (namespace, name)
        ds = s.daemonsets.pop(key, None)
        if ds is None:
            raise NotFoundError(f"DaemonSet {namespace}/{name} not found")
        uid = ds["metadata"]["uid"]
        for rev_key in [
            k for k, r in s.revisions.items() if controller_ref(r["metadata"]).get("uid") == uid
        ]:
            del s.revisions[rev_key]
        for pod_key in sorted(s.pods_by_ds.pop(key, set())):
            sim_pods.remove_pod(s, pod_key)
        s.newest.pop(key, None)
        s.eligible_cache.pop(key, None)

    @_serialized
    def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        """Delete the pod; its DaemonSet's controller run is queued (`sim_controller.settle`)."""
        s = self._raw
        pod = s.pods.get((namespace, name))
        if pod is None or pod["metadata"]["uid"] != uid:
            raise NotFoundError(f"pod {namespace}/{name} (uid {uid}) not found")
        sim_pods.remove_pod(s, (namespace, name))
        owner = owner_key(pod)
        if owner is not None and owner in s.daemonsets:
            s.unsynced.add(owner)

    @_serialized
    def set_pod_condition(self, namespace: str, name: str, uid: str, condition: Condition) -> None:
        pod = self._pod(namespace, name, uid)
        conditions = [c for c in pod["status"]["conditions"] if c["type"] != condition.type]
        pod["status"]["conditions"] = [*conditions, condition_to(condition)]

    @_serialized
    def create_pull_job(self, manifest: Mapping[str, Any]) -> None:
        s = self._state
        job = json.loads(json.dumps(manifest))
        key = obj_key(job)
        self._require_namespace(key[0], f"create Job {key[0]}/{key[1]}")
        if key in s.jobs:
            raise ClusterError(f"Job {key[0]}/{key[1]} already exists")
        job["metadata"].update(uid=s.new_uid(), creationTimestamp=s.time())
        job["status"] = {}
        s.jobs[key] = job

    @_serialized
    def delete_job(self, namespace: str, name: str) -> None:
        if self._state.jobs.pop((namespace, name), None) is None:
            raise NotFoundError(f"Job {namespace}/{name} not found")

    @_serialized
    def create_node_job(self, manifest: Mapping[str, Any]) -> None:
        s = self._state
        job = json.loads(json.dumps(manifest))
        version = nj.version_of(str(job.get("apiVersion", "")))
        if version not in s.job_versions:
            served = ", ".join(s.job_versions) or "none"
            raise ClusterError(
                f"{job.get('kind')} {job['metadata']['name']}: {nj.GROUP}/{version} is not "
                f"served by this cluster (served: {served})"
            )
        key = (str(job["kind"]), str(job["metadata"]["name"]))
        if key in s.node_jobs:
            raise ClusterError(f"{key[0]} {key[1]} already exists")
        job["metadata"].update(uid=s.new_uid(), creationTimestamp=s.time())
        job["status"] = {}
        s.node_jobs[key] = job
        sim_jobs.start_job(s, job)

    @_serialized
    def delete_node_job(self, api_version: str, kind: str, name: str) -> None:
        if self._state.node_jobs.pop((kind, name), None) is None:
            raise NotFoundError(f"{kind} {name} not found")

    @_serialized
    def record_events(self, events: Sequence[Event]) -> None:
        sim_events.record(self._state, events)

    def _pod(self, namespace: str, name: str, uid: str) -> Obj:
        pod = self._state.pods.get((namespace, name))
        if pod is None or pod["metadata"]["uid"] != uid:
            raise NotFoundError(f"pod {namespace}/{name} (uid {uid}) not found")
        return pod

    # ── node-scoped reads (the edge agent) ──────────────────────────────────────────────────

    def node_pods(self, node: str) -> list[dict[str, Any]]:
        """Copies of the v1 Pod objects bound to `node`, in name order (a pod still waiting for
        the scheduler is not the node's yet)."""
        pods = self._state.pods
        keys = sorted(self._state.pods_by_node.get(node, ()))
        return [json.loads(json.dumps(pods[k])) for k in keys if pods[k]["spec"].get("nodeName")]

    def raw_pod(self, namespace: str, name: str) -> dict[str, Any]:
        pod = self._state.pods.get((namespace, name))
        if pod is None:
            raise NotFoundError(f"pod {namespace}/{name} not found")
        copied: dict[str, Any] = json.loads(json.dumps(pod))
        return copied

    def node_is_ready(self, node: str) -> bool:
        return node_ready(self._state.nodes.get(node))[0]
