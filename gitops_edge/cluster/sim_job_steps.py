"""One node task of the simulated KubeEdge node-job controller (`sim_jobs`): which nodes a job
selects and whether they count as Ready, the steps of a task in its version's words, how long
each takes and whether it fails (the `sim checks` / `sim upgrade-fails` / `sim config-fails`
marks on the node), and what a finished step does to the node (its edge version, its images).
Side effects: `upgrade_node` and `pull_images` mutate the node object they are given.
"""

from __future__ import annotations

import re
from typing import Any

from gitops_edge.cluster import sim_config_update
from gitops_edge.cluster.sim_state import Obj, SimState, node_ready
from gitops_edge.model import nodejobs as nj
from gitops_edge.model.desired import LabelSelector

FAILING_CHECKS_ANNOTATION = "sim.gitops-edge.io/failing-checks"
FAILING_UPGRADE_ANNOTATION = "sim.gitops-edge.io/failing-upgrade"
WAITING, ROLLBACK = "WaitingConfirmation", "RollBack"
_KUBEEDGE_VERSION = re.compile(r"kubeedge-v[0-9][0-9A-Za-z.+_-]*$")


# ── nodes ─────────────────────────────────────────────────────────────────────────────────────


def ready_since(node: Obj | None, version: str) -> tuple[bool, float]:
    """`node_ready`, except that for v1alpha1 an existing node with no Ready condition counts
    as Ready since ever (its controllers skip a node whose Ready condition is not True; v1alpha2's
    nodes.IsReadyNode wants a Ready condition that is True)."""
    if (
        version == nj.V1ALPHA1
        and node is not None
        and not any(c["type"] == "Ready" for c in node["status"].get("conditions") or ())
    ):
        return True, 0.0
    return node_ready(node)


def ready_at(node: Obj | None, t: float, version: str = nj.V1ALPHA2) -> bool:
    """Whether the node was Ready at `t` (the sim keeps one transition: the last)."""
    ready, since = ready_since(node, version)
    return t >= since if ready else t < since


def node_images(node: Obj) -> set[str]:
    return {name for entry in node["status"].get("images") or () for name in entry["names"]}


def failing_checks(node: Obj) -> set[str]:
    text = (node["metadata"].get("annotations") or {}).get(FAILING_CHECKS_ANNOTATION, "")
    return {item.strip() for item in text.split(",") if item.strip()}


def selected(state: SimState, spec: nj.JobSpec) -> list[str]:
    if spec.node_names:
        return list(dict.fromkeys(spec.node_names))
    selector = spec.selector or LabelSelector()
    return [
        name
        for name, node in sorted(state.nodes.items())
        if selector.matches(node["metadata"].get("labels") or {})
    ]


# ── steps ─────────────────────────────────────────────────────────────────────────────────────


def steps(spec: nj.JobSpec) -> list[str]:
    """The steps of one node task, in the version's words."""
    if spec.version == nj.V1ALPHA1:
        return [nj.V1_CHECKING, nj.V1_UPGRADING if spec.kind == nj.UPGRADE else nj.V1_PULLING]
    if spec.kind == nj.CONFIG_UPDATE:
        return list(sim_config_update.STEPS)
    if spec.kind == nj.PREPULL:
        return ["Check", "Pull"]
    confirm = [WAITING] if spec.require_confirmation else []
    return ["Check", *confirm, "BackUp", "Upgrade", ROLLBACK]


def last_step(order: list[str]) -> int:
    """The index of a task's last step when all goes well (RollBack only follows a failure)."""
    return len(order) - 2 if order[-1] == ROLLBACK else len(order) - 1


def is_pull(step: str) -> bool:
    return step in ("Pull", nj.V1_PULLING)


def step_length(state: SimState, spec: nj.JobSpec, node: Obj, step: str) -> float:
    if not is_pull(step):
        return state.ready_delay
    held = node_images(node)
    attempts = sum(
        0 if image in held else (1 + spec.retry_times if image in state.broken_images else 1)
        for image in spec.images
    )
    return state.ready_delay * max(attempts, 1)


def step_outcome(state: SimState, spec: nj.JobSpec, node: Obj, step: str) -> str:
    """ "" when the step succeeded, else why it failed."""
    if step in ("Check", nj.V1_CHECKING):
        failing = sorted(failing_checks(node) & set(spec.check_items))
        if failing:
            return f"pre-check failed: {', '.join(failing)} over the threshold"
    if step == sim_config_update.UPDATE and spec.kind == nj.CONFIG_UPDATE:
        return sim_config_update.update_outcome(spec, node)
    if is_pull(step):
        broken = [i for i in spec.images if i in state.broken_images]
        if broken:
            tries = 1 + spec.retry_times
            return f"failed to pull {', '.join(broken)} ({tries} attempts)"
    annotations = node["metadata"].get("annotations") or {}
    if step == "Upgrade" and annotations.get(FAILING_UPGRADE_ANNOTATION):
        return f"keadm upgrade edge --toVersion {spec.target_version} failed"
    return ""


def upgrade_node(node: Obj, version: str) -> None:
    """A successful upgrade: the node reports the new KubeEdge version."""
    info = node["status"].setdefault("nodeInfo", {})
    old = str(info.get("kubeletVersion", ""))
    new = f"kubeedge-{version}"
    info["kubeletVersion"] = (
        _KUBEEDGE_VERSION.sub(new, old) if _KUBEEDGE_VERSION.search(old) else new
    )


def pull_images(state: SimState, spec: nj.JobSpec, node: Obj) -> list[dict[str, Any]]:
    """A finished pull: images that are not broken join the node's cache; per-image results."""
    results = []
    cached = node["status"].setdefault("images", [])
    held = node_images(node)
    for image in spec.images:
        broken = image in state.broken_images
        if not broken and image not in held:
            cached.append({"names": [image], "sizeBytes": 0})
            held.add(image)
        reason = f"failed to pull image {image} ({1 + spec.retry_times} attempts)" if broken else ""
        results.append({"image": image, "ok": not broken, "reason": reason})
    return results
