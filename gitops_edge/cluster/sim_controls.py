"""The simulation controls and inspection of the simulated cluster (`SimControls`): what the
demo, the tests and `gitops-edge sim` change by hand (namespaces, nodes and their readiness,
the clock, failing node checks and upgrades, node-job confirmations, served job versions, hand
edits of DaemonSets, broken or unschedulable images, a stopped controller, taints) and what
they read back (Events, the JSON of `sim show`).
Side effects: none beyond the in-memory `SimState` (the file is `sim`'s).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from gitops_edge.cluster import (
    sim_config_update,
    sim_edit,
    sim_events,
    sim_job_steps,
    sim_jobs,
    sim_pods,
)
from gitops_edge.cluster import sim_controller as ctl
from gitops_edge.cluster.base import NotFoundError
from gitops_edge.cluster.k8s_objects import (
    format_time,
)
from gitops_edge.cluster.sim_protocol import SimProtocol
from gitops_edge.cluster.sim_state import (
    Obj,
    node_ready,
    owner_key,
)
from gitops_edge.model import nodejobs as nj

EDGE_ROLE_LABEL = "node-role.kubernetes.io/edge"
AGENT_ROLE_LABEL = "node-role.kubernetes.io/agent"  # keadm join sets both
EDGE_VERSION = "v1.29.5-kubeedge-v1.15.1"  # below the seed NodeUpgradeJob's v1.16.0


class SimControls(SimProtocol):
    """Hand controls and inspection, beside the protocol operations."""

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
                    sim_pods.forget_pod(s, key)
        sim_pods.refresh_readiness(s, sorted(s.pods_by_node.get(name, ())))
        # Only DaemonSets with pods there, or that may schedule there, are affected.
        affected = {owner_key(s.pods[k]) for k in on_node if k in s.pods} | {
            key for key in s.daemonsets if name in sim_pods.eligible_nodes(s, key)
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
            annotations[sim_job_steps.FAILING_CHECKS_ANNOTATION] = ",".join(sorted(set(checks)))
        else:
            annotations.pop(sim_job_steps.FAILING_CHECKS_ANNOTATION, None)

    def set_failing_config_fields(self, name: str, fields: Sequence[str]) -> None:
        """Make a ConfigUpdateJob's Update fail (then roll back) on the node when the job sets
        one of `fields` (edgecore configuration paths); none: every update succeeds."""
        node = self._state.nodes.get(name)
        if node is None:
            raise NotFoundError(f"no node {name!r}")
        sim_config_update.set_failing_fields(node, list(fields))

    def set_failing_upgrade(self, name: str, failing: bool) -> None:
        """Make the node's v1alpha2 Upgrade action fail (then RollBack runs), or succeed."""
        node = self._state.nodes.get(name)
        if node is None:
            raise NotFoundError(f"no node {name!r}")
        annotations = node["metadata"].setdefault("annotations", {})
        if failing:
            annotations[sim_job_steps.FAILING_UPGRADE_ANNOTATION] = "true"
        else:
            annotations.pop(sim_job_steps.FAILING_UPGRADE_ANNOTATION, None)

    def confirm_node_job(self, name: str, nodes: Sequence[str] = ()) -> list[str]:
        """Confirm a v1alpha2 NodeUpgradeJob (requireConfirmation) on its nodes waiting at
        WaitingConfirmation, or on those of `nodes`; the nodes confirmed."""
        job = self._state.node_jobs.get((nj.UPGRADE, name))
        if job is None:
            raise NotFoundError(f"no NodeUpgradeJob {name!r}")
        return sim_jobs.confirm(self._state, job, frozenset(nodes))

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
                    "images": sorted(sim_job_steps.node_images(self._state.nodes[n.name])),
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


def _counts(ds: Obj) -> dict[str, int]:
    status = ds.get("status") or {}
    return {
        "desired": int(status.get("desiredNumberScheduled", 0)),
        "ready": int(status.get("numberReady", 0)),
        "updated": int(status.get("updatedNumberScheduled", 0)),
        "available": int(status.get("numberAvailable", 0)),
    }
