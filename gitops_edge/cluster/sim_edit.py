"""Hand edits of the simulated cluster's DaemonSets, as `kubectl edit` or `kubectl set image`
would make them: the object is changed in place of its writer, keeping what the edit does not
touch (gitops-edge's annotations included, so its spec hash still matches the repository).

As on a real cluster, a changed spec bumps `metadata.generation`, and the DaemonSet controller
then records a ControllerRevision for a new template (a new one, or an earlier one made newest
again) and, for RollingUpdate, replaces the pods.
Side effects: mutates the `SimState` it is given, nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from gitops_edge.cluster import sim_controller as ctl
from gitops_edge.cluster.base import NotFoundError
from gitops_edge.cluster.sim_state import Obj, SimState

Edit = Callable[[dict[str, Any]], None]


def edit_daemonset(state: SimState, *, namespace: str, name: str, edit: Edit) -> None:
    """Apply `edit` to a copy of the DaemonSet, then store it as the API server would."""
    key = (namespace, name)
    ds = state.daemonsets.get(key)
    if ds is None:
        raise NotFoundError(f'daemonsets.apps "{name}" not found in namespace {namespace}')
    edited: Obj = json.loads(json.dumps(ds))
    edit(edited)
    meta = edited["metadata"]
    for field in ("name", "namespace", "uid", "creationTimestamp"):
        meta[field] = ds["metadata"].get(field)
    meta["generation"] = ds["metadata"]["generation"] + (edited["spec"] != ds["spec"])
    edited["status"] = ds.get("status", {})
    state.daemonsets[key] = edited
    ctl.record_revision(state, key)
    ctl.sync_daemonset(state, key)


def set_image(state: SimState, *, namespace: str, name: str, container: str, image: str) -> None:
    """`kubectl set image daemonset/NAME CONTAINER=IMAGE -n NAMESPACE`."""

    def change(ds: dict[str, Any]) -> None:
        spec = ds["spec"]["template"].setdefault("spec", {})
        found = [
            c
            for kind in ("initContainers", "containers")
            for c in spec.get(kind) or ()
            if c.get("name") == container
        ]
        if not found:
            names = [c.get("name") for c in spec.get("containers") or ()]
            raise NotFoundError(
                f"DaemonSet {namespace}/{name} has no container named {container!r} "
                f"(its containers: {', '.join(map(str, names)) or 'none'})"
            )
        for c in found:
            c["image"] = image

    edit_daemonset(state, namespace=namespace, name=name, edit=change)
