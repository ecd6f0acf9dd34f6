"""How a node group changes a workload's pod template when it is rendered: pinned to the group's
nodes (a nodeSelector for a plain label group, a required nodeAffinity otherwise, ANDed with
the template's own terms) and the group entry's container overrides applied. Pure: no I/O
(the pod spec given is changed in place).
"""

from __future__ import annotations

import copy
from typing import Any

from gitops_edge.model.desired import LabelSelector, NodeGroup
from gitops_edge.repository.docpath import dict_at


def pin_to_group(pod_spec: dict[str, Any], group: NodeGroup) -> None:
    """Restrict the pod template to the group's nodes (selector OR listed nodes)."""
    selector = group.selector or LabelSelector()
    if not group.nodes and not selector.match_expressions:
        node_selector = pod_spec.setdefault("nodeSelector", {})
        node_selector.update(dict(selector.match_labels))
        return
    terms: list[dict[str, Any]] = []
    if group.selector is not None:
        expressions = [
            {"key": k, "operator": "In", "values": [v]} for k, v in selector.match_labels
        ] + [
            {
                "key": r.key,
                "operator": r.operator,
                **({"values": list(r.values)} if r.values else {}),
            }
            for r in selector.match_expressions
        ]
        terms.append({"matchExpressions": expressions})
    if group.nodes:
        terms.append(
            {
                "matchFields": [
                    {"key": "metadata.name", "operator": "In", "values": sorted(group.nodes)}
                ]
            }
        )
    required = (
        pod_spec.setdefault("affinity", {})
        .setdefault("nodeAffinity", {})
        .setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    )
    existing = required.get("nodeSelectorTerms") or []
    if existing:  # AND with the template's own terms: every combination of one of each
        terms = [
            {
                key: (ours.get(key, []) + theirs.get(key, []))
                for key in ("matchExpressions", "matchFields")
                if ours.get(key) or theirs.get(key)
            }
            for ours in terms
            for theirs in existing
        ]
    required["nodeSelectorTerms"] = terms


def _override_container(container: dict[str, Any], override: dict[str, Any]) -> None:
    if "image" in override:
        container["image"] = override["image"]
    for key in ("command", "args", "resources"):
        if key in override:
            container[key] = copy.deepcopy(override[key])
    if "env" in override:
        env = [e for e in container.get("env", []) if isinstance(e, dict)]
        names = {e.get("name") for e in override["env"]}
        container["env"] = [e for e in env if e.get("name") not in names] + copy.deepcopy(
            override["env"]
        )


def apply_overrides(pod_spec: dict[str, Any], group_entry: dict[str, Any]) -> None:
    """Apply a group entry's overrides: its own to the first container, `containers.NAME`
    to the container of that name (image, command, args, resources; env merged by name)."""
    containers = pod_spec.get("containers", [])
    if containers:
        _override_container(containers[0], group_entry)
    for name, override in dict_at(group_entry, "containers").items():
        for container in containers:
            if container.get("name") == name:
                _override_container(container, override)
