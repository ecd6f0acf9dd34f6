"""The simulated cluster's KubeEdge node-job controller (DESIGN §4): NodeUpgradeJob and
ImagePrePullJob, `v1alpha1` and `v1alpha2`, and ConfigUpdateJob (v1alpha2; its own steps in
`sim_config_update`), executed with KubeEdge's semantics over the
logical clock, their status written in the shape of the version they were created in.

- Node selection: `nodeNames` or `labelSelector`. v1alpha1 skips nodes that are missing, not
  edge nodes (label node-role.kubernetes.io/edge) or NotReady when the job starts (a node with
  no Ready condition is ready), and a NodeUpgradeJob also skips nodes already at or past the
  target version, nodes whose version is not `{k8s}-kubeedge-{edgecore}` and nodes labelled
  nodeupgradejob.operations.kubeedge.io/status (the v1alpha1 controller's needUpgrade);
  v1alpha2 lists missing and NotReady nodes as failed node tasks.
- Steps, `ready_delay` seconds each: v1alpha1 runs stage by stage for all nodes (Checking, then
  Upgrading or Pulling: a stage starts when every node finished the previous one); v1alpha2
  runs each node's action flow on its own: Check, [WaitingConfirmation with
  requireConfirmation: until `confirm`], BackUp, Upgrade, and RollBack after a failed Upgrade;
  or Check, Pull. At most `concurrency` nodes run at once. A check fails when the node fails
  one of the job's checkItems (simulated: annotation sim.gitops-edge.io/failing-checks); an
  upgrade fails on nodes annotated sim.gitops-edge.io/failing-upgrade.
- A pull takes one step per image the node does not hold yet; a broken image fails after
  1 + retryTimes attempts. Pulled images join the node's status.images, and pods whose images
  a node holds become Ready sooner. A successful upgrade sets the node's edge version.
- A step whose node is offline does not finish: after timeoutSeconds (v1alpha1: default 300)
  the node task fails (v1alpha1, event TimeOut) or becomes Unknown (v1alpha2, reason
  "timeout"; a task still Pending times out counting from the job's start; without
  timeoutSeconds a v1alpha2 task never times out). v1alpha2 dispatches only to connected
  (Ready) nodes; v1alpha1 sends regardless.
- Failure tolerance: v1alpha1 stops dispatching once failed ≥ nodes × failureTolerate and fails
  the job when the running nodes are done; v1alpha2 decides when no node is left to run
  (`gitops_edge.model.nodejobs`).
Deviation: a v1alpha1 job that selects no node is marked Failed (upstream leaves it at Init).
What one node task does (selection, steps, their length, outcome and effects) is in
`sim_job_steps`. Bookkeeping lives under the object's `_sim` key, which no reader looks at; the
status is written from it by `sim_job_status`.
Side effects: mutates the `SimState` it is given, nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitops_edge.cluster import sim_config_update
from gitops_edge.cluster.sim_job_status import v1alpha1_status, v1alpha2_status
from gitops_edge.cluster.sim_job_steps import (
    ROLLBACK,
    WAITING,
    is_pull,
    last_step,
    pull_images,
    ready_at,
    ready_since,
    selected,
    step_length,
    step_outcome,
    steps,
    upgrade_node,
)
from gitops_edge.cluster.sim_state import Obj, SimState, node_ready
from gitops_edge.model import nodejobs as nj

_INF = float("inf")


# ── the controller ────────────────────────────────────────────────────────────────────────────


def start_job(state: SimState, job: Obj) -> None:
    """Initialise a just-created job: select its nodes (at the current time)."""
    spec = nj.job_spec(job)
    t = state.now
    tasks: dict[str, dict[str, Any]] = {}
    for name in selected(state, spec):
        node = state.nodes.get(name)
        problem = ""
        if node is None:
            problem = f"node {name} does not exist"
        elif nj.EDGE_ROLE_LABEL not in (node["metadata"].get("labels") or {}):
            problem = f"node {name} is not an edge node"
        elif not ready_at(node, t, spec.version):
            problem = f"node {name} is not ready"
        elif spec.version == nj.V1ALPHA1 and spec.kind == nj.UPGRADE:
            problem = nj.v1alpha1_upgrade_skip(
                name=name,
                labels=node["metadata"].get("labels") or {},
                kubelet_version=str((node["status"].get("nodeInfo") or {}).get("kubeletVersion")),
                target=spec.target_version,
            )
        if problem and spec.version == nj.V1ALPHA1:
            continue  # v1alpha1 skips them
        task: dict[str, Any] = {"phase": nj.NODE_PENDING, "step": -1, "since": t, "reason": ""}
        if problem:
            task.update(phase=nj.NODE_FAILURE, reason=problem, time=t)
        tasks[name] = task
    run: dict[str, Any] = {"at": t, "stage": 0, "stopping": False, "tasks": tasks, "images": {}}
    job["_sim"] = run
    if not tasks:  # v1alpha2 decides Failure for no node; v1alpha1 would wait at Init forever
        why = "every selected node is missing, not an edge node or NotReady"
        run["final"] = [nj.JOB_FAILURE, f"no node to run on: {why}"]
    elif spec.version == nj.V1ALPHA2:
        _after_node(spec, run, steps(spec), t)  # every node may have failed at selection
    advance(state, job)


def advance_node_jobs(state: SimState) -> None:
    for key in sorted(state.node_jobs):
        advance(state, state.node_jobs[key])


def advance(state: SimState, job: Obj) -> None:
    run = job.get("_sim")
    if run is None or run.get("written"):
        return
    spec = nj.job_spec(job)
    order = steps(spec)
    t = float(run["at"])
    while "final" not in run:
        _dispatch(state, spec, run, order, t)
        event = _next_event(state, spec, run, order, t)
        if event is None or event[0] > state.now:
            break
        t, name, timed_out = event
        _complete(state, spec, run, order, name, t=t, timed_out=timed_out)
        _after_node(spec, run, order, t)
    run["at"] = max(t, state.now) if "final" not in run else t
    job["status"] = (
        v1alpha1_status(spec, run, order)
        if spec.version == nj.V1ALPHA1
        else v1alpha2_status(spec, run)
    )
    if "final" in run:
        run["written"] = True


def _running(run: Mapping[str, Any]) -> list[str]:
    return [n for n, task in run["tasks"].items() if task["phase"] == nj.NODE_IN_PROGRESS]


def _dispatch(
    state: SimState, spec: nj.JobSpec, run: dict[str, Any], order: list[str], t: float
) -> None:
    if run["stopping"]:
        return
    free = spec.concurrency - len(_running(run))
    for name, task in run["tasks"].items():
        if free <= 0:
            return
        if task["phase"] != nj.NODE_PENDING or task.get("stage_done"):
            continue
        node = state.nodes.get(name)
        if spec.version == nj.V1ALPHA2 and not ready_at(node, t):
            continue  # not connected to cloudcore: skipped until it is
        step = run["stage"] if spec.version == nj.V1ALPHA1 else 0
        task.update(phase=nj.NODE_IN_PROGRESS, step=step, since=t, time=t)
        free -= 1


def _next_event(
    state: SimState, spec: nj.JobSpec, run: Mapping[str, Any], order: list[str], t: float
) -> tuple[float, str, bool] | None:
    """The earliest (time, node, timed out) among running tasks, or a pending v1alpha2 node
    coming back (reported as a dispatch at that time)."""
    best: tuple[float, str, bool] | None = None
    for name, task in sorted(run["tasks"].items()):
        node = state.nodes.get(name)
        if task["phase"] == nj.NODE_PENDING:
            if spec.version == nj.V1ALPHA2 and not run["stopping"] and node is not None:
                ready, since = node_ready(node)
                if ready and since > t and len(_running(run)) < spec.concurrency:
                    candidate = (since, name, False)
                    best = candidate if best is None or candidate < best else best
            if spec.version == nj.V1ALPHA2 and spec.timeout_seconds:
                # no action yet: upstream counts from the job's creation (= the task's since)
                candidate = (float(task["since"]) + spec.timeout_seconds, name, True)
                best = candidate if best is None or candidate < best else best
            continue
        if task["phase"] != nj.NODE_IN_PROGRESS:
            continue
        start = float(task["since"])
        ready, since = ready_since(node, spec.version)
        if node is not None and ready and since > start:
            start = since  # the edge got the message when it reconnected
        step = order[task["step"]]
        length = step_length(state, spec, node, step) if node else _INF
        if step == WAITING:  # until confirmed (`sim confirm`)
            length = max(float(task.get("confirmed", _INF)) - start, 0.0)
        end = start + length
        if node is None or (not ready and end > since):
            end = _INF  # offline before the step could finish
        timeout = spec.timeout_seconds
        deadline = float(task["since"]) + timeout if timeout else _INF
        candidate = (end, name, False) if end <= deadline else (deadline, name, True)
        best = candidate if best is None or candidate < best else best
    return best


def _complete(
    state: SimState,
    spec: nj.JobSpec,
    run: dict[str, Any],
    order: list[str],
    name: str,
    *,
    t: float,
    timed_out: bool,
) -> None:
    task = run["tasks"][name]
    step = order[task["step"]]
    if task["phase"] == nj.NODE_PENDING and not timed_out:  # a v1alpha2 node came back
        task.update(phase=nj.NODE_IN_PROGRESS, step=0, since=t, time=t)
        return
    if timed_out:
        task.update(
            phase=nj.NODE_FAILURE if spec.version == nj.V1ALPHA1 else nj.NODE_UNKNOWN,
            reason="timeout"
            if spec.version == nj.V1ALPHA2
            else f"node task {step} execution timeout ({spec.timeout_seconds} s)",
            time=t,
            timed_out=True,
        )
        return
    node = state.nodes[name]
    problem = step_outcome(state, spec, node, step)
    flow = task.setdefault("flow", [])
    if step != WAITING:  # reported when the node reached it
        flow.append({"action": step, "ok": not problem, "reason": problem, "time": t})
    if step == ROLLBACK:  # upstream: the flow's last action succeeded, the task is Successful
        reason = f"{task['reason']}; rolled back"
        task.update(phase=nj.NODE_SUCCESSFUL, reason=reason, time=t)
        return
    if problem and step == "Upgrade" and order[-1] == ROLLBACK:
        task.update(step=len(order) - 1, since=t, time=t, reason=problem)
        return
    last = task["step"] == last_step(order)
    if problem or last:
        if is_pull(step):
            run["images"][name] = pull_images(state, spec, node)
        elif not problem and spec.kind == nj.UPGRADE:
            upgrade_node(node, spec.target_version)
        elif spec.kind == nj.CONFIG_UPDATE:
            sim_config_update.finish(spec, node, flow=flow, t=t)
        task.update(
            phase=nj.NODE_FAILURE if problem else nj.NODE_SUCCESSFUL, reason=problem, time=t
        )
        return
    if spec.version == nj.V1ALPHA1:  # the stage is done for this node: wait for the others
        task.update(phase=nj.NODE_PENDING, step=task["step"], since=t, time=t, stage_done=True)
        return
    task.update(step=task["step"] + 1, since=t, time=t)
    if order[task["step"]] == WAITING:  # the edge reports it at once, then waits
        flow.append({"action": WAITING, "ok": True, "reason": "", "time": t})


def confirm(state: SimState, job: Obj, nodes: frozenset[str] = frozenset()) -> list[str]:
    """Confirm the upgrade on the job's nodes waiting at WaitingConfirmation (all of them, or
    those of `nodes`), as `keadm ctl confirm` on each node does; the nodes confirmed."""
    advance(state, job)
    run = job.get("_sim") or {}
    order = steps(nj.job_spec(job))
    done = []
    for name, task in sorted((run.get("tasks") or {}).items()):
        waiting = task["phase"] == nj.NODE_IN_PROGRESS and order[task["step"]] == WAITING
        if waiting and "confirmed" not in task and (not nodes or name in nodes):
            task["confirmed"] = state.now
            done.append(name)
    advance(state, job)
    return done


def _after_node(spec: nj.JobSpec, run: dict[str, Any], order: list[str], t: float) -> None:
    tasks = run["tasks"]
    failed = sum(task["phase"] in (nj.NODE_FAILURE, nj.NODE_UNKNOWN) for task in tasks.values())
    if spec.version == nj.V1ALPHA2:
        processing = sum(task["phase"] not in nj.NODE_FINAL for task in tasks.values())
        phase = nj.v1alpha2_phase(
            total=len(tasks), processing=processing, failed=failed, tolerate=spec.failure_tolerate
        )
        if phase in (nj.JOB_COMPLETED, nj.JOB_FAILURE):
            run["final"] = [
                phase,
                _tolerance_reason(failed, len(tasks)) if phase == nj.JOB_FAILURE else "",
            ]
        return
    if nj.v1alpha1_tolerance_exceeded(
        failed=failed, total=len(tasks), tolerate=spec.failure_tolerate
    ):
        run["stopping"] = True
    if _running(run):
        return
    waiting = [task for task in tasks.values() if task["phase"] == nj.NODE_PENDING]
    if run["stopping"]:
        run["final"] = [nj.JOB_FAILURE, _tolerance_reason(failed, len(tasks))]
        return
    if any(not task.get("stage_done") for task in waiting):
        return
    if run["stage"] + 1 >= len(order) or not waiting:
        run["final"] = [nj.JOB_COMPLETED, ""]
        return
    run["stage"] += 1
    for task in waiting:
        task.pop("stage_done", None)


def _tolerance_reason(failed: int, total: int) -> str:
    return (
        f"the number of failed nodes is {failed}/{total}, which exceeds the failure tolerance "
        "threshold."
    )
