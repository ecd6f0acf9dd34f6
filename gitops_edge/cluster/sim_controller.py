"""The simulated cluster's controllers: DaemonSet (ControllerRevisions, scheduling onto eligible
nodes, OnDelete and native RollingUpdate) and pod readiness over the logical clock.

Models real Kubernetes where a rollout depends on it (DESIGN §8): a NotReady node gets no new
pod (its not-ready taint), keeps its existing pod (not Ready any more), and a pod deleted there
stays Terminating until the node is Ready again. Pods are created Pending and unbound, pinned to
their node by a required node affinity `matchFields metadata.name In [NODE]`; a scheduler binds
them `schedule_delay` seconds later, never while the node is NotReady, and never when an image
of the pod is marked unschedulable (condition PodScheduled=False, reason Unschedulable). The
DaemonSet controller can be stopped (`controller_stopped`): it then creates, deletes and
counts nothing, as when kube-controller-manager is down or every new pod is refused (quota,
admission webhook, Pod Security); ControllerRevisions are still recorded on apply. Native
RollingUpdate follows kube-controller-manager's `rollingUpdate` (maxSurge 0), so NotReady nodes
use up maxUnavailable and stall it.
Simplifications: pods keep only their containers' names and images; no revision history limit.
Side effects: mutates the `SimState` it is given, nothing else.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from gitops_edge.cluster.k8s_objects import format_time, parse_time
from gitops_edge.cluster.sim_jobs import advance_node_jobs, node_images
from gitops_edge.cluster.sim_state import Key, Obj, SimState, node_ready
from gitops_edge.observed import REVISION_HASH_LABEL, TEMPLATE_GENERATION_LABEL
from gitops_edge.placement import (
    DAEMON_TOLERATIONS,
    NODE_NAME_FIELD,
    placement_from,
    taints_from,
    target_node,
)

CACHED_READY_FRACTION = 0.2  # pods whose images the node holds start this much sooner
# One list shared by every simulated pod (never mutated): a fleet has 200,000 of them.
DAEMON_POD_TOLERATIONS = [
    {"key": t.key, "operator": t.operator, "effect": t.effect} for t in DAEMON_TOLERATIONS
]


def template_hash(template: Any) -> str:
    blob = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


# ── nodes ─────────────────────────────────────────────────────────────────────────────────────


def node_is_eligible(pod_spec: Mapping[str, Any], node: Obj) -> bool:
    """The DaemonSet controller should run a pod of this template on the node: nodeSelector,
    required node affinity, and taints against tolerations (`placement`)."""
    labels = node["metadata"].get("labels") or {}
    return placement_from(pod_spec).admits(node["metadata"]["name"], labels, taints_from(node))


def eligible_nodes(state: SimState, key: Key) -> frozenset[str]:
    """Nodes the DaemonSet may run on; cached per template. A plain nodeSelector (the common
    case: rendered per-group DaemonSets) is answered from a (label, value) index."""
    ds = state.daemonsets[key]
    pod_spec = ds["spec"]["template"].get("spec") or {}
    digest = template_hash(pod_spec)
    cached = state.eligible_cache.get(key)
    if cached is not None and cached[0] == digest:
        return cached[1]
    selector = pod_spec.get("nodeSelector") or {}
    tainted = any((n.get("spec") or {}).get("taints") for n in state.nodes.values())
    if selector and not pod_spec.get("affinity") and not tainted:
        index = _label_index(state)
        nodes = frozenset(set.intersection(*(index.get(item, set()) for item in selector.items())))
    else:
        nodes = frozenset(n for n, obj in state.nodes.items() if node_is_eligible(pod_spec, obj))
    state.eligible_cache[key] = (digest, nodes)
    return nodes


def _label_index(state: SimState) -> dict[tuple[str, str], set[str]]:
    if state.label_index is None:
        index: dict[tuple[str, str], set[str]] = defaultdict(set)
        for name, node in state.nodes.items():
            for item in (node["metadata"].get("labels") or {}).items():
                index[item].add(name)
        state.label_index = index
    return state.label_index


# ── pods ──────────────────────────────────────────────────────────────────────────────────────


def _ready_condition(pod: Obj) -> dict[str, Any]:
    for cond in pod["status"]["conditions"]:
        if cond["type"] == "Ready":
            return cond  # type: ignore[no-any-return]
    raise ValueError(f"pod {pod['metadata']['name']} has no Ready condition")


def _set_ready(pod: Obj, ready: bool, at: float) -> None:
    cond = _ready_condition(pod)
    status = "True" if ready else "False"
    if cond["status"] != status:
        cond["status"] = status
        cond["lastTransitionTime"] = format_time(at)


def create_pod(state: SimState, *, ds_key: Key, node: str) -> Key:
    ds = state.daemonsets[ds_key]
    namespace, ds_name = ds_key
    template = ds["spec"]["template"]
    _, newest = state.newest[ds_key]
    name = state.new_pod_name(namespace, ds_name)
    now = state.time()
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels[REVISION_HASH_LABEL] = newest
    labels[TEMPLATE_GENERATION_LABEL] = str(ds["metadata"]["generation"])
    containers = [
        {"name": c.get("name", ""), "image": c.get("image", "")}
        for c in (template.get("spec") or {}).get("containers") or ()
    ]
    pod: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": state.new_uid(),
            "labels": labels,
            "creationTimestamp": now,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "DaemonSet",
                    "name": ds_name,
                    "uid": ds["metadata"]["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": {
            "containers": containers,
            # What the DaemonSet controller adds to every daemon pod: tolerations of the node
            # conditions (not-ready/unreachable NoExecute, pressure and unschedulable NoSchedule),
            # so its pod is not evicted from a NotReady node.
            "tolerations": DAEMON_POD_TOLERATIONS,
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchFields": [
                                    {"key": NODE_NAME_FIELD, "operator": "In", "values": [node]}
                                ]
                            }
                        ]
                    }
                }
            },
        },
        "status": {
            "phase": "Pending",
            "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": now}],
        },
    }
    key = (namespace, name)
    state.pods[key] = pod
    state.index_pod(key, pod)
    return key


def schedule_pods(state: SimState, keys: Iterable[Key]) -> None:
    """The scheduler: bind each unbound pod to its target node once `schedule_delay` has passed
    since it was created, if the node is Ready and no image of the pod is unschedulable; an
    unschedulable pod gets PodScheduled=False, reason Unschedulable, and stays Pending."""
    for key in keys:
        pod = state.pods.get(key)
        if pod is None or pod["spec"].get("nodeName") or pod["metadata"].get("deletionTimestamp"):
            continue
        node = target_node(pod)
        images = [c["image"] for c in pod["spec"]["containers"]]
        conditions = pod["status"]["conditions"]
        if any(image in state.unschedulable_images for image in images):
            if not any(c["type"] == "PodScheduled" for c in conditions):
                conditions.append(
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": f"0/1 nodes are available: the pod does not fit node {node}",
                        "lastTransitionTime": state.time(),
                    }
                )
            continue
        ready, since = node_ready(state.nodes.get(node))
        at = max(parse_time(pod["metadata"]["creationTimestamp"]) + state.schedule_delay, since)
        if at > state.now or not ready:
            continue
        bound_at = format_time(at)  # when it was bound, between two ticks of the clock
        pod["spec"]["nodeName"] = node
        pod["status"]["startTime"] = bound_at
        pod["status"]["phase"] = "Running"
        pod["status"]["conditions"] = [
            *(c for c in conditions if c["type"] != "PodScheduled"),
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": bound_at},
        ]


def remove_pod(state: SimState, key: Key) -> None:
    """Delete a pod: gone at once when unbound or on a Ready node; Terminating on a NotReady
    one (until its kubelet confirms)."""
    pod = state.pods[key]
    bound = pod["spec"].get("nodeName")
    ready, _ = node_ready(state.nodes.get(bound)) if bound else (True, 0.0)
    if ready:
        del state.pods[key]
        state.unindex_pod(key, pod)
    else:
        pod["metadata"].setdefault("deletionTimestamp", state.time())


def refresh_readiness(state: SimState, pods: Iterable[Key] | None = None) -> None:
    """Pods on NotReady nodes are not Ready; others turn Ready `ready_delay` seconds after they
    started or their node came back (a fifth of that when the node already holds every image
    of the pod, pre-pulled by an ImagePrePullJob), unless an image is broken."""
    for key in state.pods if pods is None else pods:
        pod = state.pods[key]
        if not pod["spec"].get("nodeName"):
            continue  # waiting for the scheduler: not started, not Ready
        ready, since = node_ready(state.nodes.get(pod["spec"]["nodeName"]))
        if not ready:
            _set_ready(pod, False, since)
            continue
        if _ready_condition(pod)["status"] == "True" or pod["metadata"].get("deletionTimestamp"):
            continue
        images = [c["image"] for c in pod["spec"]["containers"]]
        if any(image in state.broken_images for image in images):
            continue
        node = state.nodes[pod["spec"]["nodeName"]]
        held = node_images(node) if node["status"].get("images") else set()
        delay = state.ready_delay * (CACHED_READY_FRACTION if held.issuperset(images) else 1.0)
        at = max(parse_time(pod["status"]["startTime"]), since) + delay
        if at <= state.now:
            _set_ready(pod, True, at)


def _available(pod: Obj, *, min_ready: int, now: float) -> bool:
    cond = _ready_condition(pod)
    return bool(
        cond["status"] == "True" and parse_time(cond["lastTransitionTime"]) + min_ready <= now
    )


# ── DaemonSets ────────────────────────────────────────────────────────────────────────────────


def _pods_by_node(state: SimState, key: Key) -> dict[str, list[Key]]:
    out: dict[str, list[Key]] = defaultdict(list)
    for pod_key in sorted(state.pods_by_ds.get(key, ())):
        out[target_node(state.pods[pod_key])].append(pod_key)
    return out


def _is_new(pod: Obj, *, newest: str, generation: int) -> bool:
    labels: dict[str, str] = pod["metadata"]["labels"]
    return labels.get(REVISION_HASH_LABEL) == newest or labels.get(
        TEMPLATE_GENERATION_LABEL
    ) == str(generation)


def _max_unavailable(ds: Obj, desired: int) -> int:
    value = ((ds["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {}).get(
        "maxUnavailable", 1
    )
    if isinstance(value, str) and value.endswith("%"):
        return -(-int(value[:-1]) * desired // 100)
    return int(value)


def _rolling_update(state: SimState, key: Key, *, ready_eligible: list[str]) -> None:
    """kube-controller-manager's DaemonSet rollingUpdate, maxSurge 0. As upstream, a node that
    should run the pod (Ready and eligible) but has none counts unavailable (upstream adds such
    nodes with no pods to its node → pods map), and so do nodes with no live pod."""
    ds = state.daemonsets[key]
    _, newest = state.newest[key]
    generation = int(ds["metadata"]["generation"])
    min_ready = int(ds["spec"].get("minReadySeconds") or 0)
    by_node = _pods_by_node(state, key)
    unavailable = sum(1 for node in ready_eligible if node not in by_node)
    delete: list[Key] = []
    candidates: list[Key] = []
    for _, pod_keys in sorted(by_node.items()):
        live = [k for k in pod_keys if not state.pods[k]["metadata"].get("deletionTimestamp")]
        new = [k for k in live if _is_new(state.pods[k], newest=newest, generation=generation)]
        old = [k for k in live if k not in new]
        if len(new) > 1 or len(old) > 1 or not live or (new and old):
            unavailable += 1
        elif new:
            if not _available(state.pods[new[0]], min_ready=min_ready, now=state.now):
                unavailable += 1
        elif not _available(state.pods[old[0]], min_ready=min_ready, now=state.now):
            delete.append(old[0])
        else:
            candidates.append(old[0])
    room = max(0, _max_unavailable(ds, len(ready_eligible)) - unavailable)
    for pod_key in [*delete, *candidates[:room]]:
        remove_pod(state, pod_key)


def sync_daemonset(state: SimState, key: Key, *, refreshed: bool = False) -> None:
    """Run the DaemonSet controller once for `key`. `refreshed`: the readiness of every pod was
    just recomputed (`sync_all`), so only pods created here need it."""
    if state.controller_stopped:
        refresh_readiness(state, sorted(state.pods_by_ds.get(key, ())))
        return
    ds = state.daemonsets[key]
    eligible = eligible_nodes(state, key)
    placement = None
    for node, pod_keys in _pods_by_node(state, key).items():
        if node in eligible:
            continue
        obj = state.nodes.get(node)
        if obj is not None:  # a NoSchedule taint keeps new pods off, not running ones
            placement = placement or placement_from(ds["spec"]["template"].get("spec") or {})
            labels = obj["metadata"].get("labels") or {}
            if placement.keeps_running(node, labels, taints_from(obj)):
                continue
        for pod_key in pod_keys:
            remove_pod(state, pod_key)
    ready_eligible = [n for n in sorted(eligible) if node_ready(state.nodes[n])[0]]
    if (ds["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate":
        _rolling_update(state, key, ready_eligible=ready_eligible)
    hosting = {target_node(state.pods[k]) for k in state.pods_by_ds.get(key, ())}
    created = [
        create_pod(state, ds_key=key, node=node) for node in ready_eligible if node not in hosting
    ]
    owned = sorted(state.pods_by_ds.get(key, ()))
    schedule_pods(state, created if refreshed else owned)
    refresh_readiness(state, created if refreshed else owned)
    _update_status(state, key, desired=len(ready_eligible))


def _update_status(state: SimState, key: Key, *, desired: int) -> None:
    ds = state.daemonsets[key]
    _, newest = state.newest[key]
    generation = int(ds["metadata"]["generation"])
    min_ready = int(ds["spec"].get("minReadySeconds") or 0)
    pods = [state.pods[k] for k in state.pods_by_ds.get(key, ())]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    ready = [p for p in live if _ready_condition(p)["status"] == "True"]
    available = [p for p in live if _available(p, min_ready=min_ready, now=state.now)]
    ds["status"] = {
        "observedGeneration": generation,
        "desiredNumberScheduled": desired,
        "currentNumberScheduled": len({target_node(p) for p in live}),
        "numberReady": len(ready),
        "numberAvailable": len(available),
        "numberUnavailable": max(0, desired - len(available)),
        "updatedNumberScheduled": sum(
            _is_new(p, newest=newest, generation=generation) for p in live
        ),
    }


def sync_all(state: SimState) -> None:
    advance_node_jobs(state)  # first: a pre-pull fills image caches the pods then use
    schedule_pods(state, sorted(state.pods))
    refresh_readiness(state)
    advance_jobs(state)
    for key in sorted(state.daemonsets):
        sync_daemonset(state, key, refreshed=True)


def advance_jobs(state: SimState) -> None:
    """Pre-pull Jobs: `ready_delay` seconds after creation, on a Ready node, the Job completes,
    or fails when one of its images is broken (never Ready); on a NotReady node it waits."""
    for job in state.jobs.values():
        status = job.setdefault("status", {})
        if status.get("conditions"):
            continue  # finished
        spec = job["spec"]["template"]["spec"]
        if not node_ready(state.nodes.get(spec.get("nodeName", "")))[0]:
            continue
        if parse_time(job["metadata"]["creationTimestamp"]) + state.ready_delay > state.now:
            continue
        images = [c.get("image") for c in spec.get("containers") or ()]
        failed = any(image in state.broken_images for image in images)
        kind = "Failed" if failed else "Complete"
        status.update(
            {"failed" if failed else "succeeded": 1, "completionTime": state.time()},
            conditions=[{"type": kind, "status": "True", "lastTransitionTime": state.time()}],
        )


def record_revision(state: SimState, key: Key) -> None:
    """The ControllerRevision for the DaemonSet's template: reused (and made newest again) when
    the template returns to an earlier one (rollback), else created."""
    ds = state.daemonsets[key]
    namespace, name = key
    digest = template_hash(ds["spec"]["template"])
    newest_number, newest_hash = state.newest.get(key, (0, ""))
    if digest == newest_hash:
        return
    number = newest_number + 1
    rev_key = (namespace, f"{name}-{digest}")
    if rev_key in state.revisions:
        state.revisions[rev_key]["revision"] = number
    else:
        state.revisions[rev_key] = {
            "apiVersion": "apps/v1",
            "kind": "ControllerRevision",
            "metadata": {
                "name": rev_key[1],
                "namespace": namespace,
                "uid": state.new_uid(),
                "labels": {REVISION_HASH_LABEL: digest},
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "DaemonSet",
                        "name": name,
                        "uid": ds["metadata"]["uid"],
                        "controller": True,
                    }
                ],
            },
            "data": {"spec": {"template": ds["spec"]["template"]}},
            "revision": number,
        }
    state.newest[key] = (number, digest)
