"""The simulated cluster's part of KubeEdge's ConfigUpdateJob (`operations.kubeedge.io/v1alpha2`)
that differs from the other node jobs, which `sim_jobs` runs with the same v1alpha2 rules
(node selection, concurrency, per-node timeout, failureTolerate):

- each node task's action flow is Check → BackUp → Update (KubeEdge's ConfigUpdateJobAction),
  with RollBack recorded after a failed Update (keadm restores the backed-up edgecore.yaml);
- an Update fails on a node whose annotation sim.gitops-edge.io/failing-config-fields lists
  one of the job's updateFields keys (set with `SimCluster.set_failing_config_fields`): the
  simulated edgecore does not start with that field, so the node task fails after RollBack;
- a successful Update merges the fields into the node's simulated edgecore configuration,
  annotation sim.gitops-edge.io/edgecore-config (JSON, sorted keys).

Side effects: mutates the node objects it is given, nothing else.
"""

from __future__ import annotations

import json
from typing import Any

from gitops_edge.cluster.sim_state import Obj
from gitops_edge.model import nodejobs as nj

FAILING_FIELDS_ANNOTATION = "sim.gitops-edge.io/failing-config-fields"
EDGECORE_CONFIG_ANNOTATION = "sim.gitops-edge.io/edgecore-config"
CHECK, BACKUP, UPDATE, ROLLBACK = "Check", "BackUp", "Update", "RollBack"
STEPS = (CHECK, BACKUP, UPDATE)


def failing_fields(node: Obj) -> set[str]:
    text = (node["metadata"].get("annotations") or {}).get(FAILING_FIELDS_ANNOTATION, "")
    return {key.strip() for key in text.split(",") if key.strip()}


def update_outcome(spec: nj.JobSpec, node: Obj) -> str:
    """ "" when the Update step succeeds on the node, else why it failed."""
    bad = sorted(failing_fields(node) & {key for key, _ in spec.update_fields})
    if not bad:
        return ""
    return f"edgecore did not start with the new {', '.join(bad)}: rolled back"


def finish(spec: nj.JobSpec, node: Obj, *, flow: list[dict[str, Any]], t: float) -> None:
    """After the node's last step: a failed Update is followed by a RollBack; a successful one
    sets the fields in the node's simulated edgecore configuration."""
    last = flow[-1]
    if last["action"] != UPDATE:
        return  # Check or BackUp failed: nothing was changed on the node
    if not last["ok"]:
        flow.append({"action": ROLLBACK, "ok": True, "reason": "", "time": t})
        return
    annotations = node["metadata"].setdefault("annotations", {})
    config = json.loads(annotations.get(EDGECORE_CONFIG_ANNOTATION) or "{}")
    config.update(dict(spec.update_fields))
    annotations[EDGECORE_CONFIG_ANNOTATION] = json.dumps(config, sort_keys=True)


def set_failing_fields(node: Obj, fields: list[str]) -> None:
    """Make a ConfigUpdateJob's Update fail on the node when it sets one of `fields` (none:
    every update succeeds)."""
    annotations = node["metadata"].setdefault("annotations", {})
    if fields:
        annotations[FAILING_FIELDS_ANNOTATION] = ",".join(sorted(set(fields)))
    else:
        annotations.pop(FAILING_FIELDS_ANNOTATION, None)
