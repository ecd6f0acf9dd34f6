"""The simulated cluster's controllers: DaemonSet (ControllerRevisions, pods on eligible nodes,
OnDelete and native RollingUpdate) and the node jobs' clock; the pods themselves (eligibility,
scheduling, readiness over the logical clock) are `sim_pods`'.

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

from collections import defaultdict

from gitops_edge.cluster.k8s_objects import parse_time
from gitops_edge.cluster.sim_jobs import advance_node_jobs
from gitops_edge.cluster.sim_pods import (
    create_pod,
    eligible_nodes,
    pod_available,
    ready_condition,
    refresh_readiness,
    remove_pod,
    schedule_pods,
    template_hash,
)
from gitops_edge.cluster.sim_state import Key, Obj, SimState, node_ready
from gitops_edge.model.observed import REVISION_HASH_LABEL, TEMPLATE_GENERATION_LABEL
from gitops_edge.model.placement import (
    placement_from,
    taints_from,
    target_node,
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
            if not pod_available(state.pods[new[0]], min_ready=min_ready, now=state.now):
                unavailable += 1
        elif not pod_available(state.pods[old[0]], min_ready=min_ready, now=state.now):
            delete.append(old[0])
        else:
            candidates.append(old[0])
    room = max(0, _max_unavailable(ds, len(ready_eligible)) - unavailable)
    for pod_key in [*delete, *candidates[:room]]:
        remove_pod(state, pod_key)


def sync_daemonset(state: SimState, key: Key, *, refreshed: bool = False) -> None:
    """Run the DaemonSet controller once for `key`. `refreshed`: the readiness of every pod was
    just recomputed (`sync_all`), so only pods created here need it."""
    state.unsynced.discard(key)
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


def settle(state: SimState) -> None:
    """Run the DaemonSet controller once for each DaemonSet a pod deletion queued it for
    (`SimProtocol.delete_pod`): a batch of deletions costs one run per DaemonSet, not one run
    over all its pods per deletion, as the real controller, woken by a burst of watch events,
    syncs each DaemonSet once."""
    for key in sorted(state.unsynced):
        if key in state.daemonsets:
            sync_daemonset(state, key)
    state.unsynced.clear()


def _update_status(state: SimState, key: Key, *, desired: int) -> None:
    ds = state.daemonsets[key]
    _, newest = state.newest[key]
    generation = int(ds["metadata"]["generation"])
    min_ready = int(ds["spec"].get("minReadySeconds") or 0)
    pods = [state.pods[k] for k in state.pods_by_ds.get(key, ())]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    ready = [p for p in live if ready_condition(p)["status"] == "True"]
    available = [p for p in live if pod_available(p, min_ready=min_ready, now=state.now)]
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
