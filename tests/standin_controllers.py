"""The control plane's controllers, played by a test against the stand-in API server
(`kube_standin`, which runs none), as kube-controller-manager v1.28, kube-scheduler and the
kubelets do it (DESIGN §8):

- `run_daemonset_controller`: the DaemonSet controller. A DaemonSet whose template is new gets
  a ControllerRevision at once (`record_revision`; pkg/controller/history: named
  `<name>-<hash>`, labelled with the hash, `revision` one above the newest; a template that
  returns to an earlier revision makes that one newest again). Each Ready node the template
  may run on (nodeSelector, required node affinity, taints: `placement`) without a pod of the
  DaemonSet (a Terminating one counts: the controller waits for it) gets one as upstream's
  `NewPod` + `CreatePodTemplate` + `ReplaceDaemonSetPodNodeNameNodeAffinity` make it
  (`daemon_pod`): Pending, no `spec.nodeName`, a required node affinity
  `matchFields: metadata.name In [NODE]`, the tolerations of `AddOrUpdateDaemonPodTolerations`
  (not-ready and unreachable NoExecute: never evicted from a NotReady node), labels
  `controller-revision-hash` and `pod-template-generation`, a controller ownerReference with
  the DaemonSet's uid. A NotReady node gets no new pod (its not-ready NoSchedule taint).
- `run_scheduler`: kube-scheduler binds a pinned pod to its node (`spec.nodeName`, condition
  PodScheduled=True), or, when it does not fit (`fits` says no, or the node is NotReady),
  leaves it Pending with PodScheduled=False, reason Unschedulable.
- `run_kubelets`: the kubelet of each Ready node starts its bound pods (Running, Ready=True).
  Their half of graceful deletion is the stand-in's own (`kube_standin`: Terminating pods are
  confirmed while the node is Ready).
Side effects: writes to the StandIn it is given, through `put` (each write is a watch event).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from kube_standin import Obj, StandIn

from gitops_edge.cluster.sim_pods import node_is_eligible, template_hash
from gitops_edge.model.observed import REVISION_HASH_LABEL, TEMPLATE_GENERATION_LABEL

READY_LONG_AGO = "2020-01-01T00:00:00Z"  # a started pod is past any minReadySeconds
# AddOrUpdateDaemonPodTolerations (pkg/controller/daemon/util/daemonset_util.go, v1.28).
DAEMON_POD_TOLERATIONS: tuple[Obj, ...] = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)
HOST_NETWORK_TOLERATION: Obj = {
    "key": "node.kubernetes.io/network-unavailable",
    "operator": "Exists",
    "effect": "NoSchedule",
}
_suffixes = itertools.count(1)  # generateName's random suffix, made predictable


def owned_by(obj: Obj, uid: str) -> bool:
    refs = obj["metadata"].get("ownerReferences") or ()
    return any(ref.get("uid") == uid and ref.get("controller") for ref in refs)


def node_ready(node: Obj) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def record_revision(api: StandIn, ds: Obj) -> str:
    """The DaemonSet's ControllerRevision for its current template (created, or made newest
    again); returns its hash."""
    template = ds["spec"].get("template") or {}
    digest, uid = template_hash(template), ds["metadata"]["uid"]
    owned = [r for r in api.store["controllerrevisions"].values() if owned_by(r, uid)]
    newest = max(owned, key=lambda r: int(r["revision"]), default=None)
    if newest is not None and newest["metadata"]["labels"][REVISION_HASH_LABEL] == digest:
        return digest
    number = (int(newest["revision"]) if newest else 0) + 1
    earlier = [r for r in owned if r["metadata"]["labels"][REVISION_HASH_LABEL] == digest]
    if earlier:  # a rollback: the old revision becomes the newest
        api.put("controllerrevisions", {**earlier[0], "revision": number})
        return digest
    name, namespace = ds["metadata"]["name"], ds["metadata"]["namespace"]
    labels = (template.get("metadata") or {}).get("labels") or {}
    api.put(
        "controllerrevisions",
        {
            "apiVersion": "apps/v1",
            "metadata": {
                "name": f"{name}-{digest}",
                "namespace": namespace,
                "labels": {**labels, REVISION_HASH_LABEL: digest},
                "ownerReferences": [_owner(ds)],
            },
            "revision": number,
            "data": {"spec": {"template": {**template, "$patch": "replace"}}},
        },
    )
    return digest


def daemon_pod(ds: Obj, *, node: str, revision: str) -> Obj:
    """A pod of `ds` for `node`, as the DaemonSet controller creates it (not yet stored)."""
    template = ds["spec"].get("template") or {}
    meta, spec = dict(template.get("metadata") or {}), dict(template.get("spec") or {})
    tolerations = list(spec.get("tolerations") or ())
    added = [
        *DAEMON_POD_TOLERATIONS,
        *([HOST_NETWORK_TOLERATION] if spec.get("hostNetwork") else []),
    ]
    tolerations += [t for t in added if t not in tolerations]
    name = ds["metadata"]["name"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            **meta,
            "name": f"{name}-{next(_suffixes):05d}",
            "generateName": f"{name}-",
            "namespace": ds["metadata"]["namespace"],
            "labels": {
                **(meta.get("labels") or {}),
                REVISION_HASH_LABEL: revision,
                TEMPLATE_GENERATION_LABEL: str(ds["metadata"].get("generation") or 1),
            },
            "ownerReferences": [_owner(ds)],
        },
        "spec": {
            **spec,
            "tolerations": tolerations,
            "affinity": {
                **(spec.get("affinity") or {}),
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchFields": [
                                    {"key": "metadata.name", "operator": "In", "values": [node]}
                                ]
                            }
                        ]
                    }
                },
            },
        },
        "status": {"phase": "Pending", "qosClass": "BestEffort"},
    }


def run_daemonset_controller(api: StandIn) -> list[Obj]:
    """One sync of every DaemonSet: its revision, then the pods it lacks; returns them."""
    created = []
    for ds in list(api.store["daemonsets"].values()):
        if ds["metadata"].get("deletionTimestamp"):
            continue
        revision = record_revision(api, ds)
        uid = ds["metadata"]["uid"]
        pod_spec = (ds["spec"].get("template") or {}).get("spec") or {}
        hosting = {_pinned_node(p) for p in api.store["pods"].values() if owned_by(p, uid)}
        for node in list(api.store["nodes"].values()):
            name = node["metadata"]["name"]
            if name in hosting or not node_ready(node) or not node_is_eligible(pod_spec, node):
                continue
            created.append(api.put("pods", daemon_pod(ds, node=name, revision=revision)))
    return created


def run_scheduler(api: StandIn, *, fits: Callable[[Obj, Obj], bool] | None = None) -> None:
    """Bind every pending pod pinned to a node that `fits(pod, node)` (default: every Ready
    node); mark the others PodScheduled=False, reason Unschedulable."""
    for pod in list(api.store["pods"].values()):
        spec, meta = pod.get("spec") or {}, pod["metadata"]
        if spec.get("nodeName") or meta.get("deletionTimestamp"):
            continue
        target = _pinned_node(pod)
        node = api.store["nodes"].get(("", target))
        conditions = [
            c
            for c in (pod.setdefault("status", {}).get("conditions") or ())
            if c["type"] != "PodScheduled"
        ]
        if node is not None and node_ready(node) and (fits is None or fits(pod, node)):
            spec["nodeName"] = target
            conditions.append({"type": "PodScheduled", "status": "True"})
        else:
            total = len(api.store["nodes"])
            conditions.append(
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": f"0/{total} nodes are available: 1 node(s) did not fit the pod, "
                    f"{total - 1} node(s) didn't match Pod's node affinity/selector.",
                }
            )
        pod["status"]["conditions"] = conditions
        api.put("pods", pod)


def run_kubelets(api: StandIn, *, started: str = READY_LONG_AGO) -> None:
    """Each Ready node's kubelet starts its bound pods that are not Ready yet."""
    for pod in list(api.store["pods"].values()):
        node = api.store["nodes"].get(("", (pod.get("spec") or {}).get("nodeName") or ""))
        if node is None or not node_ready(node) or pod["metadata"].get("deletionTimestamp"):
            continue
        status = pod.setdefault("status", {})
        conditions = status.get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            continue
        ready = {"status": "True", "lastTransitionTime": started}
        status["phase"] = "Running"
        status["conditions"] = [
            *(
                c
                for c in conditions
                if c.get("type") not in ("Initialized", "Ready", "ContainersReady")
            ),
            {"type": "Initialized", **ready},
            {"type": "ContainersReady", **ready},
            {"type": "Ready", **ready},
        ]
        api.put("pods", pod)


def _owner(ds: Obj) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "name": ds["metadata"]["name"],
        "uid": ds["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _pinned_node(pod: Obj) -> str:
    """spec.nodeName once bound, else the node the controller pinned the pod to."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    terms = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution", {}
    ).get("nodeSelectorTerms") or ()
    for term in terms:
        for field in term.get("matchFields") or ():
            if field.get("key") == "metadata.name" and len(field.get("values") or ()) == 1:
                return str(field["values"][0])
    return ""
