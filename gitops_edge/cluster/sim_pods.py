"""The simulated scheduler and kubelet: which nodes a DaemonSet's pods may run on, pods created
(Pending, unbound, pinned to their node by a required node affinity), bound `schedule_delay`
seconds later (never to a NotReady node, never with an unschedulable image), removed (or left
Terminating on a NotReady node; once gone, the Jobs they own go too: the garbage collector), and
their readiness over the logical clock (sooner where the node holds their images). The
DaemonSet controller that drives them is `sim_controller`.
Side effects: mutates the `SimState` it is given, nothing else.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from gitops_edge.cluster.k8s_objects import format_time, parse_time
from gitops_edge.cluster.sim_job_steps import node_images
from gitops_edge.cluster.sim_state import Key, Obj, SimState, node_ready
from gitops_edge.model.observed import REVISION_HASH_LABEL, TEMPLATE_GENERATION_LABEL
from gitops_edge.model.placement import (
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


def ready_condition(pod: Obj) -> dict[str, Any]:
    for cond in pod["status"]["conditions"]:
        if cond["type"] == "Ready":
            return cond  # type: ignore[no-any-return]
    raise ValueError(f"pod {pod['metadata']['name']} has no Ready condition")


def _set_ready(pod: Obj, ready: bool, at: float) -> None:
    cond = ready_condition(pod)
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
        forget_pod(state, key)
    else:
        pod["metadata"].setdefault("deletionTimestamp", state.time())


def forget_pod(state: SimState, key: Key) -> None:
    """A pod is gone for good; the garbage collector deletes what it owned (the pre-pull Jobs
    whose ownerReference names its uid)."""
    pod = state.pods.pop(key)
    state.unindex_pod(key, pod)
    uid = pod["metadata"].get("uid")
    for job_key in [
        k
        for k, job in state.jobs.items()
        if any(r.get("uid") == uid for r in job["metadata"].get("ownerReferences") or ())
    ]:
        del state.jobs[job_key]


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
        if ready_condition(pod)["status"] == "True" or pod["metadata"].get("deletionTimestamp"):
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


def pod_available(pod: Obj, *, min_ready: int, now: float) -> bool:
    cond = ready_condition(pod)
    return bool(
        cond["status"] == "True" and parse_time(cond["lastTransitionTime"]) + min_ready <= now
    )
