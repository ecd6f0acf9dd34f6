"""The status of a simulated KubeEdge node job in the shape of the version it was created in:
v1alpha1 (`state`, `time`, per-node `event`/`action`, images of a pre-pull under `status`)
and v1alpha2 (`phase`, per-node `actionFlow` and `imageStatus`), written from the bookkeeping
`sim_jobs` keeps under the job's `_sim` key. Pure functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitops_edge.cluster.k8s_objects import format_time
from gitops_edge.model import nodejobs as nj

_V1_EVENTS = {nj.V1_CHECKING: "Check", nj.V1_UPGRADING: "Upgrade", nj.V1_PULLING: "Pull"}


def _v1alpha1_node(name: str, task: Mapping[str, Any], order: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"nodeName": name}
    if task["step"] < 0:
        return out  # not started: upstream writes the name only
    step = order[task["step"]]
    out.update(event=_V1_EVENTS[step], time=format_time(float(task["time"])))
    if task.get("timed_out"):
        out.update(state=nj.V1_FAILED, event="TimeOut", action="Failure", reason=task["reason"])
    elif task["phase"] == nj.NODE_FAILURE:
        out.update(state=nj.V1_FAILED, action="Failure", reason=task["reason"])
    elif task["phase"] == nj.NODE_SUCCESSFUL:
        out.update(state=nj.V1_SUCCESSFUL, action="Success")
    else:
        out["state"] = step
        if task.get("stage_done"):
            out["action"] = "Success"
    return out


def v1alpha1_status(spec: nj.JobSpec, run: Mapping[str, Any], order: list[str]) -> dict[str, Any]:
    """A v1alpha1 job's status (`state`, `nodeStatus` or, for a pre-pull, `status`)."""
    tasks: Mapping[str, Any] = run["tasks"]
    final = run.get("final")
    started = any(task["step"] >= 0 for task in tasks.values())
    if final is not None:
        state = nj.V1_SUCCESSFUL if final[0] == nj.JOB_COMPLETED else nj.V1_FAILED
    else:
        state = order[run["stage"]] if started else nj.V1_INIT
    status: dict[str, Any] = {"state": state, "time": format_time(float(run["at"]))}
    if final is not None:
        status["action"] = "Success" if final[0] == nj.JOB_COMPLETED else "Failure"
        if final[1]:
            status["reason"] = final[1]
    nodes = [_v1alpha1_node(name, task, order) for name, task in tasks.items()]
    if spec.kind == nj.PREPULL:
        status["status"] = [
            {
                "nodeStatus": node,
                "imageStatus": [
                    {
                        "image": r["image"],
                        "state": "Successful" if r["ok"] else "Failed",
                        **({"reason": r["reason"]} if r["reason"] else {}),
                    }
                    for r in run["images"].get(node["nodeName"], ())
                ],
            }
            for node in nodes
        ]
    else:
        status["nodeStatus"] = nodes
    return status


def v1alpha2_status(spec: nj.JobSpec, run: Mapping[str, Any]) -> dict[str, Any]:
    """A v1alpha2 job's status (`phase`, `nodeStatus` with each node's action flow)."""
    tasks: Mapping[str, Any] = run["tasks"]
    final = run.get("final")
    started = any(task["phase"] != nj.NODE_PENDING or task["step"] >= 0 for task in tasks.values())
    phase = final[0] if final is not None else (nj.JOB_IN_PROGRESS if started else nj.JOB_INIT)
    status: dict[str, Any] = {"phase": phase}
    if final is not None and final[1]:
        status["reason"] = final[1]
    nodes = []
    for name, task in tasks.items():
        entry: dict[str, Any] = {"nodeName": name, "phase": task["phase"]}
        if task["reason"]:
            entry["reason"] = task["reason"]
        flow = [
            {
                "action": f["action"],
                "status": "True" if f["ok"] else "False",
                "time": format_time(float(f["time"])),
                **({"reason": f["reason"]} if f["reason"] else {}),
            }
            for f in task.get("flow", ())
        ]
        if flow:
            entry["actionFlow"] = flow
        if spec.kind == nj.PREPULL and name in run["images"]:
            entry["imageStatus"] = [
                {
                    "image": r["image"],
                    "status": "True" if r["ok"] else "False",
                    **({"reason": r["reason"]} if r["reason"] else {}),
                }
                for r in run["images"][name]
            ]
        nodes.append(entry)
    status["nodeStatus"] = nodes
    return status
