"""`make demo`: the rollout story on a simulated edge fleet, told in one run.

A fleet of four node groups (29 nodes, 3 of them NotReady); a pull request that changes three
versions, one line each; reconcile passes with the clock advancing: AdvancedRollingUpdate rolls
every Ready node without exceeding its budget while NotReady nodes are deferred, then catches
them up when they return; the same change on a native RollingUpdate DaemonSet stalls; an OTA
workload marks its pods `PodNeedUpgrade=True`; finally a canary wave catches a broken image
before the other groups are touched and rolls it back. Every figure printed comes from the planner's
Plan and the simulated cluster; the demo checks the budget after every pass and exits 1 if it
was ever exceeded. Every pass runs the reconcile pipeline (`pipeline.Pipeline`), as
`reconcile --once` does, on the fleet in memory. Side effects: a temporary folder (removed at
the end) with a copy of `example-repo`; prints to stdout.
"""

from __future__ import annotations

import difflib
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from gitops_edge.cluster.sim import SimCluster
from gitops_edge.demo_canary_repo import CANARY_REPO
from gitops_edge.model.desired import DesiredState, UpdateModel
from gitops_edge.model.observed import POD_NEED_UPGRADE
from gitops_edge.model.plan import DaemonSetPlan, DeletePod, Plan, RollbackDaemonSet
from gitops_edge.reconciler.event_recorder import EventRecorder
from gitops_edge.reconciler.pipeline import FolderSource, Pipeline, this_cluster
from gitops_edge.reconciler.reconcile import plan_once

EXAMPLE = Path(__file__).resolve().parent.parent / "example-repo"
FLEET = (("hangzhou", 8), ("shanghai", 10), ("beijing", 6), ("shenzhen", 4))
GROUP_LABELS = ("apps.openyurt.io/nodepool", "apps.kubeedge.io/belonging-to")
LAB_GATEWAY = "shenzhen-lab-gw-01"  # listed by name in groups/shenzhen.yaml, no pool label
OFFLINE = ("shanghai-03", "shanghai-07", "beijing-02")
PASS_SECONDS = 30.0
MAX_PASSES = 12
# The pull request: (file, old line, new line) — one line per workload.
CHANGES = (
    (
        "workloads/log-agent.yaml",
        "          image: registry.example.com/edge/log-agent:1.4.2",
        "          image: registry.example.com/edge/log-agent:1.4.3",
    ),
    (
        "workloads/node-exporter.yaml",
        "          image: quay.io/prometheus/node-exporter:v1.8.2",
        "          image: quay.io/prometheus/node-exporter:v1.9.0",
    ),
    (
        "workloads/ota-updater.yaml",
        "          image: registry.example.com/edge/ota-updater:2.3.0",
        "          image: registry.example.com/edge/ota-updater:2.4.0",
    ),
)
SHOWN = ("log-agent", "node-exporter")  # per-pass rows; OTA has its own section


def say(text: str = "") -> None:
    print(text, flush=True)


def heading(text: str) -> None:
    say()
    say(f"── {text} " + "─" * max(0, 76 - len(text)))


@contextmanager
def workspace() -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix="gitops-edge-demo-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def open_pull_request(repo: Path) -> list[str]:
    """Apply CHANGES to the copy of example-repo; return the unified diff."""
    diff: list[str] = []
    for rel, old, new in CHANGES:
        path = repo / rel
        before = path.read_text()
        if before.count(old + "\n") != 1:
            raise SystemExit(f"demo: {rel} no longer has the line {old.strip()!r} exactly once")
        after = before.replace(old + "\n", new + "\n")
        path.write_text(after)
        diff.extend(
            difflib.unified_diff(
                before.splitlines(), after.splitlines(), f"a/{rel}", f"b/{rel}", n=0, lineterm=""
            )
        )
    return diff


def build_fleet() -> SimCluster:
    cluster = SimCluster.create(groups=FLEET, group_label_keys=GROUP_LABELS, seed=7)
    cluster.add_node(LAB_GATEWAY, {"kubernetes.io/hostname": LAB_GATEWAY}, ready=True)
    return cluster


def bar(done: int, total: int, width: int = 12) -> str:
    filled = round(width * done / total) if total else width
    return "[" + "#" * filled + "." * (width - filled) + "]"


def row(ds: DaemonSetPlan) -> str:
    """One line of per-group progress, from the planner's own figures."""
    p = ds.progress
    head = f"  {ds.name:26} {bar(p.current, p.nodes)} {p.current:2}/{p.nodes:<2}"
    if ds.model is UpdateModel.ADVANCED_ROLLING_UPDATE and ds.budget is not None:
        deletes = sum(isinstance(a, DeletePod) for a in ds.actions)
        tail = f" budget {ds.budget.max_unavailable}, unavailable {p.unavailable}"
        tail += f", deleting {deletes}" if deletes else ""
    elif ds.model is UpdateModel.OTA:
        tail = f" PodNeedUpgrade=True on {p.ota_pending} pods (the nodes upgrade themselves)"
    else:
        tail = f" unavailable {p.unavailable}, outdated {p.outdated}"
    deferred = sorted(d.node for d in ds.deferred)
    if deferred:
        tail += f", deferred: {', '.join(deferred)}"
    for note in ds.notes:
        if "stalled" in note:
            tail += "  STALLED"
    return head + tail


def show_progress(plan: Plan, workloads: Sequence[str]) -> None:
    for ds in plan.daemonsets:
        if ds.workload in workloads:
            say(row(ds))


def pipeline_over(cluster: SimCluster, repo: Path, *, revision: str) -> Pipeline:
    """The reconcile pipeline `reconcile --once` runs, over `repo` (a local folder, loaded as
    `revision`) and the fleet in memory; it records no Events (the demo prints what happened)."""
    return Pipeline(
        source=FolderSource(repo, revision=revision),
        clusters=this_cluster(cluster),
        events=EventRecorder(enabled=False, log=lambda *a, **k: None),
    )


def desired_of(pipeline: Pipeline) -> DesiredState:
    """The pipeline's fetch and validate-and-render steps; the demo's repository is valid."""
    loaded = pipeline.load()
    if loaded.desired is None:
        raise SystemExit(f"demo: revision {loaded.revision} is invalid: {loaded.diagnostics}")
    return loaded.desired


def settle(cluster: SimCluster, pipeline: Pipeline) -> Plan:
    """Reconcile until nothing is left to do (the fleet before the pull request)."""
    desired = desired_of(pipeline)
    for _ in range(MAX_PASSES):
        outcome = pipeline.run_pass(desired)
        cluster.tick(PASS_SECONDS)
        if not outcome.results:
            break
    return plan_once(desired, cluster)


def _signature(plan: Plan) -> tuple[tuple[int, ...], ...]:
    return tuple(
        (ds.progress.current, ds.progress.outdated, ds.progress.unavailable, len(ds.actions))
        for ds in plan.daemonsets
    )


def rollout(
    cluster: SimCluster, pipeline: Pipeline, *, label: str, start: float
) -> tuple[Plan, int]:
    """Pass after pass until nothing moves any more; prints per-group progress; returns the
    last plan and the worst excess over an AdvancedRollingUpdate budget (0 = never exceeded)."""
    desired = desired_of(pipeline)
    worst = 0
    last = plan_once(desired, cluster)
    for number in range(1, MAX_PASSES + 1):
        before = _signature(last)
        outcome = pipeline.run_pass(desired)
        after = plan_once(desired, cluster)  # the fleet right after this pass's deletions
        for ds in after.daemonsets:
            if ds.budget is not None:
                worst = max(worst, ds.budget.unavailable - ds.budget.max_unavailable)
        done = sum(r.outcome == "done" for r in outcome.results)
        say(f"{label}pass {number} (t=+{cluster.now - start:.0f}s): {done} actions")
        show_progress(outcome.plans[-1], SHOWN)
        cluster.tick(PASS_SECONDS)
        last = plan_once(desired, cluster)
        if not last.actions and _signature(last) == before:
            break
    say(f"{label}after the last pass:")
    show_progress(last, SHOWN)
    return last, worst


def ota_nodes_take_upgrade(cluster: SimCluster, count: int) -> list[str]:
    """What the edge agent does when its node asks (POST …/pods/<pod>/upgrade): checks
    PodNeedUpgrade=True, then deletes the pod so the DaemonSet controller recreates it."""
    taken = []
    for pod in sorted(cluster.observe().pods, key=lambda p: p.node):
        cond = pod.condition(POD_NEED_UPGRADE)
        if pod.owner_name.startswith("ota-updater-") and cond and cond.status == "True":
            cluster.delete_pod(pod.namespace, pod.name, pod.uid)
            taken.append(pod.node)
            if len(taken) == count:
                break
    return taken


BROKEN = "registry.example.com/edge/agent:2.1.0"


def canary_wave(tmp: Path) -> bool:
    """A canary wave catches a broken image before the other groups are touched."""
    cluster = SimCluster.create(groups=[("canary", 2), ("north", 6), ("south", 6)])
    repo = tmp / "canary-repo"
    repo.mkdir()
    for name, text in CANARY_REPO.items():
        (repo / name).write_text(text)
    settle(cluster, pipeline_over(cluster, repo, revision="v2.0.0"))
    say("edge-agent 2.0.0 runs on canary (2 nodes), north (6) and south (6); waves: canary,")
    say("then north + south after a 60 s bake; new pods must be available within 90 s")
    agent = repo / "agent.yaml"
    agent.write_text(agent.read_text().replace("agent:2.0.0", "agent:2.1.0"))
    cluster.set_image_broken(BROKEN, True)
    say(f"the pull request bumps it to {BROKEN.rpartition(':')[2]}, an image that never starts")
    pipeline = pipeline_over(cluster, repo, revision="v2.1.0")
    desired = desired_of(pipeline)
    touched: set[str] = set()
    for number in range(1, 9):
        result = pipeline.run_pass(desired)
        touched |= {r.action.node for r in result.results if isinstance(r.action, DeletePod)}
        for r in result.results:
            if isinstance(r.action, RollbackDaemonSet | DeletePod) or "halt " in r.action.reason:
                say(f"  pass {number}: {r.action.reason}")
        cluster.tick(PASS_SECONDS)
    final = plan_once(desired, cluster)
    for ds in final.daemonsets:
        p = ds.progress
        if ds.rolled_back:
            state = f"{p.current}/{p.nodes} on 2.0.0 again: rolled back {ds.rolled_back}"
        elif ds.held:
            state = f"{p.outdated}/{p.nodes} untouched on 2.0.0, held: waits for wave 1"
        else:
            state = f"{p.current}/{p.nodes} current" + (", halted" if ds.halted else "")
        say(f"  {ds.group:7} wave {ds.wave}: {state}")
    later = {p.node for p in cluster.observe().pods if not p.node.startswith("canary")}
    untouched = not (touched & later)
    say(
        "north and south were never touched: "
        + ("yes" if untouched else "NO")
        + "; canary is back on 2.0.0 and the repository is unchanged (revert or fix to move on)"
    )
    return untouched and any(ds.rolled_back for ds in final.daemonsets)


def main() -> int:
    heading("1. A simulated edge fleet")
    cluster = build_fleet()
    start = cluster.now
    for name in OFFLINE:
        cluster.set_node_ready(name, False)
    groups = ", ".join(f"{g} ({n} nodes)" for g, n in FLEET)
    say(f"{sum(n for _, n in FLEET) + 1} nodes in 4 groups: {groups}, plus {LAB_GATEWAY}")
    say(f"NotReady (link to the cloud down): {', '.join(OFFLINE)}")

    with workspace() as tmp:
        repo = tmp / "repo"
        shutil.copytree(EXAMPLE, repo)
        heading("2. Validate and apply the desired state (example-repo)")
        pipeline = pipeline_over(cluster, repo, revision="base")
        desired = desired_of(pipeline)
        say(f"valid: {len(desired.groups)} node groups, {len(desired.daemonsets)} DaemonSets")
        settle(cluster, pipeline)
        say("every Ready node runs its pods (NotReady nodes get none until they return)")
        for name in OFFLINE:  # they were offline only briefly; they run the old version
            cluster.set_node_ready(name, True)
        settle(cluster, pipeline)
        for name in OFFLINE:
            cluster.set_node_ready(name, False)
        cluster.tick(PASS_SECONDS)
        say(f"{', '.join(OFFLINE)} ran the old pods, then lost their link again")

        heading("3. The pull request: one line per workload")
        for line in open_pull_request(repo):
            say(f"  {line}")
        pipeline = pipeline_over(cluster, repo, revision="pr-1")
        desired = desired_of(pipeline)
        preview = plan_once(desired, cluster)
        changed = [ds.name for ds in preview.daemonsets if ds.actions]
        say(f"plan preview (what `gitops-edge plan` shows in the PR): {len(changed)} DaemonSets")
        say("change: " + ", ".join(changed))

        heading("4. Reconcile, pass after pass (30 s apart)")
        say("log-agent: AdvancedRollingUpdate 30%; node-exporter: native RollingUpdate")
        say("maxUnavailable 1; ota-updater: OTA (nodes pull the upgrade themselves)")
        last, worst = rollout(cluster, pipeline, label="", start=start)
        say()
        log_agent = [ds for ds in last.daemonsets if ds.workload == "log-agent"]
        ready_done = all(
            ds.progress.current == ds.progress.nodes - ds.progress.deferred for ds in log_agent
        )
        deferred = sorted(d.node for ds in log_agent for d in ds.deferred)
        say(
            f"log-agent: every Ready node is current: {'yes' if ready_done else 'NO'}; "
            f"deferred, not blocking: {', '.join(deferred) or 'none'}"
        )
        say("node-exporter (native RollingUpdate) in shanghai and beijing:")
        for ds in last.daemonsets:
            for note in ds.notes:
                if ds.workload == "node-exporter" and "stalled" in note:
                    say(f"  {ds.name}: {note}")

        heading("5. OTA: pods marked for the node to upgrade")
        marked = [
            (p.node, p.name)
            for p in cluster.observe().pods
            if p.owner_name.startswith("ota-updater-")
            and (c := p.condition(POD_NEED_UPGRADE)) is not None
            and c.status == "True"
        ]
        say(f"{len(marked)} ota-updater pods carry PodNeedUpgrade=True, e.g.:")
        for node, pod in sorted(marked)[:4]:
            say(f"  {pod} on {node}")
        taken = ota_nodes_take_upgrade(cluster, 2)
        say(f"the nodes {', '.join(taken)} ask their edge agent for the upgrade")
        say("(POST /openyurt.io/v1/namespaces/<ns>/pods/<pod>/upgrade): the pod is recreated")
        cluster.tick(PASS_SECONDS)
        pipeline.run_pass(desired)
        after = plan_once(desired, cluster)
        for ds in after.daemonsets:
            if ds.workload == "ota-updater":
                say(row(ds))

        heading("6. The links come back")
        for name in OFFLINE:
            cluster.set_node_ready(name, True)
        say(f"Ready again: {', '.join(OFFLINE)}")
        last, worst_again = rollout(cluster, pipeline, label="catch-up ", start=start)
        worst = max(worst, worst_again)

        heading("7. Waves: a canary group catches a broken image")
        caught = canary_wave(tmp)

    heading("Result")
    aru = [ds for ds in last.daemonsets if ds.model is UpdateModel.ADVANCED_ROLLING_UPDATE]
    complete = all(ds.progress.current == ds.progress.nodes for ds in aru)
    say(
        f"AdvancedRollingUpdate: {sum(ds.progress.current for ds in aru)}/"
        f"{sum(ds.progress.nodes for ds in aru)} nodes current "
        f"({'complete' if complete else 'INCOMPLETE'})"
    )
    say(
        "budget: never exceeded"
        if worst <= 0
        else f"budget EXCEEDED by {worst} node(s) at some pass: this is a bug"
    )
    say(f"canary wave: broken image caught and rolled back: {'yes' if caught else 'NO'}")
    say("try it by hand: see README, section 'Rolling out'")
    return 0 if complete and worst <= 0 and caught else 1


if __name__ == "__main__":
    sys.exit(main())
