"""The simulated cluster's state: Kubernetes-shaped objects in dicts, plus the clock, and the
indexes that keep the controller linear at fleet scale. Serialises to and from one JSON value.

Owns the state's shape and its (de)serialisation; no behaviour of the controller. No I/O.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from gitops_edge.cluster.k8s_objects import format_time, parse_time
from gitops_edge.model.placement import target_node

FORMAT = "gitops-edge-sim/v1"
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
Key = tuple[str, str]  # (namespace, name)
Obj = dict[str, Any]
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet of Kubernetes' generated names
# The namespaces every cluster has (kube-apiserver creates them).
SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")


def namespace_object(name: str, *, uid: str = "", created: str = "") -> Obj:
    """A v1 Namespace as the API server stores it (the name label it adds, phase Active)."""
    meta: Obj = {"name": name, "labels": {"kubernetes.io/metadata.name": name}}
    if uid:
        meta["uid"] = uid
    if created:
        meta["creationTimestamp"] = created
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": meta,
        "status": {"phase": "Active"},
    }


def _system_namespaces() -> dict[str, Obj]:
    return {name: namespace_object(name) for name in SYSTEM_NAMESPACES}


@dataclass
class SimState:
    """Mutable on purpose: the simulated API server's storage. Only the sim modules touch it."""

    now: float = START
    seed: int = 0
    ready_delay: float = 5.0
    counter: int = 0
    broken_images: set[str] = field(default_factory=set)
    unschedulable_images: set[str] = field(default_factory=set)  # pods never bound
    schedule_delay: float = 0.0  # seconds a new pod waits, unbound, for the scheduler
    controller_stopped: bool = False  # the DaemonSet controller creates and deletes nothing
    openyurt_installed: bool = False  # whether a simulated yurt-manager would be present
    namespaces: dict[str, Obj] = field(default_factory=_system_namespaces)
    nodes: dict[str, Obj] = field(default_factory=dict)
    daemonsets: dict[Key, Obj] = field(default_factory=dict)
    revisions: dict[Key, Obj] = field(default_factory=dict)
    pods: dict[Key, Obj] = field(default_factory=dict)
    jobs: dict[Key, Obj] = field(default_factory=dict)  # batch/v1 Jobs (image pre-pulls)
    node_jobs: dict[Key, Obj] = field(default_factory=dict)  # KubeEdge jobs by (kind, name)
    job_versions: tuple[str, ...] = ("v1alpha1", "v1alpha2")  # operations.kubeedge.io served
    events: dict[Key, Obj] = field(default_factory=dict)  # core/v1 Events (sim_events)
    # Indexes, rebuilt on load, never saved.
    pods_by_ds: dict[Key, set[Key]] = field(default_factory=lambda: defaultdict(set))
    pods_by_node: dict[str, set[Key]] = field(default_factory=lambda: defaultdict(set))
    eligible_cache: dict[Key, tuple[str, frozenset[str]]] = field(default_factory=dict)
    newest: dict[Key, tuple[int, str]] = field(default_factory=dict)  # DS → (revision, hash)
    label_index: dict[tuple[str, str], set[str]] | None = None  # (label, value) → node names
    # DaemonSets whose controller run a pod deletion queued (`sim_controller.settle`).
    unsynced: set[Key] = field(default_factory=set)

    def next_id(self) -> int:
        self.counter += 1
        return self.counter

    def new_uid(self) -> str:
        digest = hashlib.sha256(f"{self.seed}:uid:{self.next_id()}".encode()).digest()
        return str(uuid.UUID(bytes=digest[:16], version=4))

    def new_pod_name(self, namespace: str, prefix: str) -> str:
        while True:
            digest = hashlib.sha256(f"{self.seed}:name:{self.next_id()}".encode()).digest()
            suffix = "".join(_NAME_ALPHABET[b % len(_NAME_ALPHABET)] for b in digest[:5])
            name = f"{prefix}-{suffix}"
            if (namespace, name) not in self.pods:
                return name

    def time(self) -> str:
        return format_time(self.now)

    def index_pod(self, key: Key, pod: Obj) -> None:
        owner = owner_key(pod)
        if owner is not None:
            self.pods_by_ds[owner].add(key)
        self.pods_by_node[target_node(pod)].add(key)

    def unindex_pod(self, key: Key, pod: Obj) -> None:
        owner = owner_key(pod)
        if owner is not None:
            self.pods_by_ds[owner].discard(key)
        self.pods_by_node[target_node(pod)].discard(key)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "now": self.now,
            "seed": self.seed,
            "readyDelay": self.ready_delay,
            "counter": self.counter,
            "brokenImages": sorted(self.broken_images),
            "unschedulableImages": sorted(self.unschedulable_images),
            "scheduleDelay": self.schedule_delay,
            "controllerStopped": self.controller_stopped,
            "openyurtInstalled": self.openyurt_installed,
            # Insertion order: a saved and reloaded cluster observes exactly the same.
            "namespaces": list(self.namespaces.values()),
            "nodes": list(self.nodes.values()),
            "daemonsets": list(self.daemonsets.values()),
            "controllerrevisions": list(self.revisions.values()),
            "pods": list(self.pods.values()),
            "jobs": list(self.jobs.values()),
            "nodeJobs": list(self.node_jobs.values()),
            "jobVersions": list(self.job_versions),
            "events": list(self.events.values()),
        }

    @classmethod
    def from_json(cls, data: Any, *, source: str) -> SimState:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ValueError(
                f"{source}: not a gitops-edge simulated cluster (format {found!r}, expected "
                f"{FORMAT!r}); create one with `gitops-edge sim init {source} --groups a=6`"
            )
        try:
            state = cls(
                now=float(data["now"]),
                seed=int(data["seed"]),
                ready_delay=float(data["readyDelay"]),
                counter=int(data["counter"]),
                broken_images=set(data["brokenImages"]),
                unschedulable_images=set(data.get("unschedulableImages", ())),
                schedule_delay=float(data.get("scheduleDelay", 0.0)),
                controller_stopped=bool(data.get("controllerStopped", False)),
                openyurt_installed=bool(data.get("openyurtInstalled", False)),
                nodes={n["metadata"]["name"]: n for n in data["nodes"]},
                daemonsets={obj_key(d): d for d in data["daemonsets"]},
                revisions={obj_key(r): r for r in data["controllerrevisions"]},
                pods={obj_key(p): p for p in data["pods"]},
                jobs={obj_key(j): j for j in data.get("jobs", [])},
                node_jobs={(j["kind"], j["metadata"]["name"]): j for j in data.get("nodeJobs", [])},
                job_versions=tuple(data.get("jobVersions", ("v1alpha1", "v1alpha2"))),
                events={obj_key(e): e for e in data.get("events", [])},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{source}: damaged simulated cluster state ({exc!r})") from None
        if "namespaces" in data:
            state.namespaces = {n["metadata"]["name"]: n for n in data["namespaces"]}
        else:  # a file from before namespaces: the system ones and every one its objects use
            for objects in (state.daemonsets, state.revisions, state.pods, state.jobs):
                for namespace, _ in sorted(objects):
                    state.namespaces.setdefault(namespace, namespace_object(namespace))
        for key, pod in state.pods.items():
            state.index_pod(key, pod)
        for rev in state.revisions.values():
            owner = owner_key(rev)
            number = int(rev["revision"])
            if owner is not None and number > state.newest.get(owner, (0, ""))[0]:
                digest = rev["metadata"]["labels"]["controller-revision-hash"]
                state.newest[owner] = (number, digest)
        return state


def obj_key(obj: Obj) -> Key:
    meta = obj["metadata"]
    return (meta.get("namespace", "default"), meta["name"])


def owner_key(pod: Obj) -> Key | None:
    meta = pod["metadata"]
    for ref in meta.get("ownerReferences") or ():
        if ref.get("controller") and ref.get("kind") == "DaemonSet":
            return (meta.get("namespace", "default"), ref["name"])
    return None


def node_ready(node: Obj | None) -> tuple[bool, float]:
    """(Ready, since when) from the node's Ready condition; a missing node is not Ready."""
    if node is None:
        return False, 0.0
    for cond in node["status"]["conditions"]:
        if cond["type"] == "Ready":
            return cond["status"] == "True", parse_time(cond["lastTransitionTime"])
    return False, 0.0
