"""The simulated edge cluster: the `Cluster` protocol over an in-process model, persisted to one
JSON file (DESIGN §5). The embedded default for the demo, the tests and the benchmarks.

Owns: creating a fleet, the file (atomic save, a file lock so two processes never interleave),
the protocol operations (namespaces too: an object in a namespace that does not exist is refused
with the API server's error, and deleting a namespace deletes what is in it) and the simulation
controls (node readiness, clock, broken images,
hand edits of DaemonSets).
The controllers live in `sim_controller`. Side effects: `open`/`save`/`init_file` read and
write the state file and its `.lock` beside it; everything else is in memory. While an `open`
block runs, the objects alive when the state was loaded are frozen out of the cyclic garbage
collector (`gc.freeze`, undone when the block exits): a large fleet is millions of acyclic
dicts, and full collections walking them made a pass several times slower.
"""

from __future__ import annotations

import gc
import json
import os
import random
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from gitops_edge import nodejobs as nj
from gitops_edge.cluster import sim_controller as ctl
from gitops_edge.cluster import sim_edit, sim_events, sim_jobs
from gitops_edge.cluster.base import ClusterError, NamespaceMissingError, NotFoundError
from gitops_edge.cluster.k8s_objects import (
    build_observed,
    condition_to,
    controller_ref,
    format_time,
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
from gitops_edge.observed import REVISION_HASH_LABEL, Condition, NamespaceObs, Observed
from gitops_edge.pass_events import Event
from gitops_edge.prepull import PULL_POD_LABEL

POOL_LABEL = "apps.openyurt.io/nodepool"
EDGE_ROLE_LABEL = "node-role.kubernetes.io/edge"
AGENT_ROLE_LABEL = "node-role.kubernetes.io/agent"  # keadm join sets both
EDGE_VERSION = "v1.29.5-kubeedge-v1.16.0"
LOCK_TIMEOUT = 30.0


class SimCluster:
    """A simulated cluster. Not thread-safe; one process at a time through `open`."""

    def __init__(self, state: SimState) -> None:
        self._state = state

    # ── creating, loading, saving ──────────────────────────────────────────────────────────

    @classmethod
    def create(
        cls,
        *,
        groups: Sequence[tuple[str, int]],
        not_ready: int = 0,
        seed: int = 0,
        ready_delay: float = 5.0,
        group_label_keys: Sequence[str] = (POOL_LABEL,),
        openyurt_installed: bool = False,
        namespaces: Sequence[str] = (),
    ) -> SimCluster:
        """A fleet of `<group>-<nn>` nodes, each labelled with its group under every key of
        `group_label_keys`; `not_ready` of them (picked with `seed`) are NotReady. Its
        namespaces: Kubernetes' own (default, kube-system, …) and `namespaces`."""
        cluster = cls(
            SimState(seed=seed, ready_delay=ready_delay, openyurt_installed=openyurt_installed)
        )
        for namespace in namespaces:
            if namespace not in cluster._state.namespaces:
                cluster.add_namespace(namespace)
        for group, count in groups:
            width = max(2, len(str(count)))
            for i in range(1, count + 1):
                labels = {key: group for key in group_label_keys}
                cluster.add_node(f"{group}-{i:0{width}d}", labels)
        names = sorted(cluster._state.nodes)
        if not 0 <= not_ready <= len(names):
            raise ValueError(f"--not-ready {not_ready}: the fleet has {len(names)} nodes")
        for name in random.Random(seed).sample(names, not_ready):
            cluster.set_node_ready(name, False)
        return cluster

    @classmethod
    def load(cls, path: Path) -> SimCluster:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(
                f"{path}: no simulated cluster here; create one with "
                f"`gitops-edge sim init {path} --groups a=6,b=4`"
            ) from None
        with _gc_paused():  # a fleet is millions of small acyclic objects: 4x faster without GC
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: not a simulated cluster state file ({exc})") from None
            return cls(SimState.from_json(data, source=str(path)))

    def save(self, path: Path) -> None:
        """Write the state atomically: a temporary file in the same folder, fsync, rename."""
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            # json.dumps, not json.dump: only the one-shot path uses the C encoder (5x faster).
            text = json.dumps(self._state.to_json(), separators=(",", ":"))
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @staticmethod
    @contextmanager
    def locked(path: Path) -> Iterator[None]:
        lock_path = f"{path}.lock"
        try:
            with FileLock(lock_path, timeout=LOCK_TIMEOUT):
                yield
        except Timeout:
            raise TimeoutError(
                f"{path}: another gitops-edge process holds {lock_path} (waited "
                f"{LOCK_TIMEOUT:.0f} s); wait for it to finish"
            ) from None

    @classmethod
    @contextmanager
    def open(cls, path: Path, *, read_only: bool = False) -> Iterator[SimCluster]:
        """Lock, load, yield; save only when the block ends without an exception (and never
        when `read_only`: changes made in the block are then dropped)."""
        with cls.locked(path):
            cluster = cls.load(path)
            gc.freeze()
            try:
                yield cluster
                if not read_only:
                    cluster.save(path)
            finally:
                gc.unfreeze()

    @classmethod
    def init_file(cls, path: Path, cluster: SimCluster, *, force: bool = False) -> None:
        with cls.locked(path):
            if path.exists() and not force:
                raise FileExistsError(f"{path} exists; pass --force to replace it")
            cluster.save(path)

    # ── the Cluster protocol ───────────────────────────────────────────────────────────────

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

    def delete_namespace(self, name: str) -> None:
        """Delete a namespace and, at once (the namespace controller's work), what is in it."""
        s = self._state
        if name not in s.namespaces:
            raise NotFoundError(f"Namespace {name} not found")
        for namespace, ds_name in sorted(k for k in s.daemonsets if k[0] == name):
            self.delete_daemonset(namespace, ds_name)
        for key in sorted(k for k in s.pods if k[0] == name):
            ctl.remove_pod(s, key)
        for key in sorted(k for k in s.jobs if k[0] == name):
            del s.jobs[key]
        del s.namespaces[name]

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
            ctl.remove_pod(s, pod_key)
        s.newest.pop(key, None)
        s.eligible_cache.pop(key, None)

    def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        s = self._state
        pod = self._pod(namespace, name, uid)
        ctl.remove_pod(s, (namespace, name))
        owner = owner_key(pod)
        if owner is not None and owner in s.daemonsets:
            ctl.sync_daemonset(s, owner)

    def set_pod_condition(self, namespace: str, name: str, uid: str, condition: Condition) -> None:
        pod = self._pod(namespace, name, uid)
        conditions = [c for c in pod["status"]["conditions"] if c["type"] != condition.type]
        pod["status"]["conditions"] = [*conditions, condition_to(condition)]

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

    def delete_job(self, namespace: str, name: str) -> None:
        if self._state.jobs.pop((namespace, name), None) is None:
            raise NotFoundError(f"Job {namespace}/{name} not found")

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

    def delete_node_job(self, api_version: str, kind: str, name: str) -> None:
        if self._state.node_jobs.pop((kind, name), None) is None:
            raise NotFoundError(f"{kind} {name} not found")

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

    # ── simulation controls ────────────────────────────────────────────────────────────────

    @property
    def now(self) -> float:
        return self._state.now

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(sorted(self._state.nodes))

    def add_namespace(self, name: str) -> None:
        """Create a namespace by hand (`kubectl create namespace NAME`)."""
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", name):
            raise ValueError(
                f"namespace {name!r}: not a DNS-1123 label (lowercase letters, digits and '-')"
            )
        if name in self._state.namespaces:
            raise ValueError(f"namespace {name} already exists")
        self.apply_namespace({"metadata": {"name": name}})

    def add_node(self, name: str, labels: Mapping[str, str], *, ready: bool = True) -> None:
        s = self._state
        if name in s.nodes:
            raise ValueError(f"node {name} already exists")
        s.nodes[name] = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "uid": s.new_uid(),
                "labels": {
                    **labels,
                    "kubernetes.io/hostname": name,
                    EDGE_ROLE_LABEL: "",
                    AGENT_ROLE_LABEL: "",
                },
            },
            "status": {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True" if ready else "False",
                        "lastTransitionTime": s.time(),
                    }
                ],
                "nodeInfo": {"kubeletVersion": EDGE_VERSION},
            },
        }
        s.eligible_cache.clear()
        s.label_index = None
        ctl.sync_all(s)

    def set_node_ready(self, name: str, ready: bool) -> None:
        s = self._state
        node = s.nodes.get(name)
        if node is None:
            known = ", ".join(sorted(s.nodes)[:5])
            raise NotFoundError(f"no node {name!r} (nodes include {known}, …)")
        was, _ = node_ready(node)
        if was == ready:
            return
        for cond in node["status"]["conditions"]:
            if cond["type"] == "Ready":
                cond["status"] = "True" if ready else "False"
                cond["lastTransitionTime"] = s.time()
        on_node = sorted(s.pods_by_node.get(name, ()))
        if ready:  # the kubelet is back: Terminating pods finish
            for key in on_node:
                if s.pods[key]["metadata"].get("deletionTimestamp"):
                    s.unindex_pod(key, s.pods.pop(key))
        ctl.refresh_readiness(s, sorted(s.pods_by_node.get(name, ())))
        # Only DaemonSets with pods there, or that may schedule there, are affected.
        affected = {owner_key(s.pods[k]) for k in on_node if k in s.pods} | {
            key for key in s.daemonsets if name in ctl.eligible_nodes(s, key)
        }
        for key in sorted(k for k in affected if k is not None and k in s.daemonsets):
            ctl.sync_daemonset(s, key)

    def tick(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._state.now += seconds
        ctl.sync_all(self._state)

    def set_failing_checks(self, name: str, checks: Sequence[str]) -> None:
        """Make the node fail (or, with no checks, pass) node-job pre-checks: cpu, mem, disk."""
        node = self._state.nodes.get(name)
        if node is None:
            raise NotFoundError(f"no node {name!r}")
        unknown = sorted(set(checks) - set(nj.CHECK_ITEMS))
        if unknown:
            raise ValueError(f"unknown check {', '.join(unknown)}: use cpu, mem or disk")
        annotations = node["metadata"].setdefault("annotations", {})
        if checks:
            annotations[sim_jobs.FAILING_CHECKS_ANNOTATION] = ",".join(sorted(set(checks)))
        else:
            annotations.pop(sim_jobs.FAILING_CHECKS_ANNOTATION, None)

    def set_job_versions(self, versions: Sequence[str]) -> None:
        """Which operations.kubeedge.io versions the cluster serves (none: CRDs absent)."""
        unknown = sorted(set(versions) - set(nj.VERSIONS))
        if unknown:
            raise ValueError(f"unknown version {', '.join(unknown)}: use v1alpha1, v1alpha2")
        self._state.job_versions = tuple(v for v in nj.VERSIONS if v in versions)

    def edit_daemonset(self, namespace: str, name: str, edit: sim_edit.Edit) -> None:
        """Change a DaemonSet by hand, as `kubectl edit` would (`sim_edit.edit_daemonset`)."""
        sim_edit.edit_daemonset(self._state, namespace=namespace, name=name, edit=edit)

    def set_image(self, namespace: str, name: str, *, container: str, image: str) -> None:
        """`kubectl set image daemonset/NAME CONTAINER=IMAGE`: annotations kept, spec changed."""
        sim_edit.set_image(
            self._state, namespace=namespace, name=name, container=container, image=image
        )

    def set_image_broken(self, image: str, broken: bool) -> None:
        (self._state.broken_images.add if broken else self._state.broken_images.discard)(image)
        ctl.sync_all(self._state)

    def set_image_unschedulable(self, image: str, unschedulable: bool) -> None:
        """Pods with this image are never bound by the scheduler (they do not fit any node)."""
        images = self._state.unschedulable_images
        (images.add if unschedulable else images.discard)(image)
        ctl.sync_all(self._state)

    def set_schedule_delay(self, seconds: float) -> None:
        """How long a new pod waits, Pending and unbound, before the scheduler binds it."""
        if seconds < 0:
            raise ValueError("the scheduling delay cannot be negative")
        self._state.schedule_delay = seconds
        ctl.sync_all(self._state)

    def set_controller_stopped(self, stopped: bool) -> None:
        """Stop (or restart) the DaemonSet controller: stopped, deleted pods are not recreated."""
        self._state.controller_stopped = stopped
        ctl.sync_all(self._state)

    def set_node_taints(self, name: str, taints: Sequence[Mapping[str, str]]) -> None:
        """Replace the node's `spec.taints` ({key, value, effect} each)."""
        s = self._state
        node = s.nodes.get(name)
        if node is None:
            raise NotFoundError(f"no node {name!r}")
        node.setdefault("spec", {})["taints"] = [dict(t) for t in taints]
        s.eligible_cache.clear()
        ctl.sync_all(s)

    # ── inspection ─────────────────────────────────────────────────────────────────────────

    def events(self) -> list[dict[str, Any]]:
        """Copies of the core/v1 Events recorded (`sim_events.listed`)."""
        copied: list[dict[str, Any]] = json.loads(json.dumps(sim_events.listed(self._state)))
        return copied

    def snapshot(self) -> dict[str, Any]:
        """The stable JSON of `gitops-edge sim show --format json`."""
        observed = self.observe()
        return {
            "now": format_time(observed.now),
            "namespaces": [n.name for n in observed.namespaces or ()],
            "nodes": [
                {
                    "name": n.name,
                    "labels": dict(n.labels),
                    "ready": n.ready,
                    "edgeVersion": n.edge_version,
                    "images": sorted(sim_jobs.node_images(self._state.nodes[n.name])),
                }
                for n in sorted(observed.nodes, key=lambda n: n.name)
            ],
            "nodeJobs": [
                {
                    "kind": j.kind,
                    "name": j.name,
                    "apiVersion": j.api_version,
                    "phase": j.phase,
                    "reason": j.reason,
                    "nodes": [
                        {"node": n.node, "phase": n.phase, "step": n.step, "reason": n.reason}
                        for n in j.nodes
                    ],
                }
                for j in observed.jobs
            ],
            "daemonsets": [
                {
                    "namespace": d.namespace,
                    "name": d.name,
                    "currentRevision": d.current_revision,
                    "updateStrategy": d.update_strategy,
                    "generation": d.template_generation,
                    **_counts(self._state.daemonsets[(d.namespace, d.name)]),
                }
                for d in sorted(observed.daemonsets, key=lambda d: (d.namespace, d.name))
            ],
            "pods": [
                {
                    "namespace": p.namespace,
                    "name": p.name,
                    "node": p.node,
                    "owner": p.owner_name,
                    "revision": p.revision_hash,
                    "ready": p.ready,
                    "deleting": p.deleting,
                    "conditions": [
                        {
                            "type": c.type,
                            "status": c.status,
                            "message": c.message,
                            "lastTransitionTime": format_time(c.last_transition_time),
                        }
                        for c in p.conditions
                    ],
                }
                for p in sorted(observed.pods, key=lambda p: (p.namespace, p.name))
            ],
        }


@contextmanager
def _gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _counts(ds: Obj) -> dict[str, int]:
    status = ds.get("status") or {}
    return {
        "desired": int(status.get("desiredNumberScheduled", 0)),
        "ready": int(status.get("numberReady", 0)),
        "updated": int(status.get("updatedNumberScheduled", 0)),
        "available": int(status.get("numberAvailable", 0)),
    }
