"""Rollout policy beyond OpenYurt, in the simulated cluster: a canary wave catches a broken image
before later waves start, bake time between waves, maintenance windows that defer and then let
a group proceed, halts that hold until the repository changes, automatic rollback to the last
fully available revision, and a property: no group outside its window ever loses a pod."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from repo_config import write_config

from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model.desired import DesiredState
from gitops_edge.model.maintenance import open_at
from gitops_edge.model.plan import (
    DaemonSetPlan,
    DeletePod,
    Plan,
    RollbackDaemonSet,
    SetPodCondition,
)
from gitops_edge.reconciler.apply import apply_actions
from gitops_edge.reconciler.reconcile import load_desired, plan_once, reconcile_once
from gitops_edge.reports.status_table import render_status
from gitops_edge.source.status import group_status, status_files

GROUPS = """\
apiVersion: gitops-edge.io/v1alpha1
kind: NodeGroup
metadata:
  name: {name}
spec:
  selector:
    matchLabels: {{apps.openyurt.io/nodepool: {name}}}
{window}"""

WORKLOAD = """\
apiVersion: gitops-edge.io/v1alpha1
kind: EdgeDaemonSet
metadata:
  name: agent
  namespace: edge
spec:
  strategy:
    type: {model}
    maxUnavailable: 1
  rollout:
{rollout}
  template:
    metadata:
      labels: {{app: agent}}
    spec:
      containers:
        - name: agent
          image: registry.example.com/agent:{image}
  groups:
{groups}
"""

WAVES = """\
    waves:
      - groups: [canary]
        bakeSeconds: {bake}
      - groups: [north, south]
    progressDeadlineSeconds: 60
    autoRollback: {rollback}
    waitForNotReady: {wait}"""


def write(
    root: Path,
    *,
    image: str,
    rollout: str | None = None,
    windows: dict[str, str] | None = None,
    groups: tuple[str, ...] = ("canary", "north", "south"),
    model: str = "AdvancedRollingUpdate",
) -> None:
    write_config(root)
    for name in groups:
        window = (windows or {}).get(name, "")
        (root / f"group-{name}.yaml").write_text(GROUPS.format(name=name, window=window))
    (root / "agent.yaml").write_text(
        WORKLOAD.format(
            model=model,
            rollout=rollout or WAVES.format(bake=0, rollback="false", wait="false"),
            image=image,
            groups="\n".join(f"    - name: {g}" for g in groups),
        )
    )


def fleet(**sizes: int) -> SimCluster:
    return SimCluster.create(
        namespaces=("edge",), groups=list((sizes or {"canary": 2, "north": 3, "south": 3}).items())
    )


def images(cluster: SimCluster, group: str) -> list[str]:
    return sorted(
        pod["spec"]["containers"][0]["image"].rpartition(":")[2]
        for pod in cluster._state.pods.values()
        if pod["spec"]["nodeName"].startswith(group)
        and not pod["metadata"].get("deletionTimestamp")
    )


def passes(
    desired: DesiredState, cluster: SimCluster, count: int, *, tick: float = 10
) -> list[Plan]:
    plans = []
    for _ in range(count):
        plans.extend(reconcile_once(desired, cluster).plans)
        cluster.tick(tick)
    return plans


def group_plan(plan: Plan, group: str) -> DaemonSetPlan:
    return next(ds for ds in plan.daemonsets if ds.group == group)


def rolled_out(tmp: Path, cluster: SimCluster, **kwargs: object) -> Path:
    repo = tmp / "repo"
    write(repo, image="1", **kwargs)  # type: ignore[arg-type]
    passes(load_desired(repo, revision="r1"), cluster, 3)
    return repo


def test_a_canary_wave_catches_a_broken_image_and_later_waves_never_start(tmp_path: Path) -> None:
    cluster = fleet()
    repo = rolled_out(tmp_path, cluster)
    cluster.set_image_broken("registry.example.com/agent:2", True)
    write(repo, image="2")
    desired = load_desired(repo, revision="r2")
    deleted: set[str] = set()
    for _ in range(20):
        result = reconcile_once(desired, cluster)
        deleted |= {r.action.node for r in result.results if isinstance(r.action, DeletePod)}
        cluster.tick(10)
    assert deleted and all(node.startswith("canary") for node in deleted)
    assert images(cluster, "north") == ["1", "1", "1"] and images(cluster, "south") == ["1"] * 3
    plan = plan_once(desired, cluster)
    canary = group_plan(plan, "canary")
    assert canary.halted and "not available 60 s after they started" in canary.halted
    assert canary.actions == ()
    north = group_plan(plan, "north")
    assert north.wave == "2/2" and "wave 2/2 waits: group canary is halted" in north.held
    rows = [{"workload": "agent", **group_status(ds, ())} for ds in plan.daemonsets]
    table = render_status(rows)
    assert "wave 1/2, HALTED" in table and "wave 2/2, waiting (wave)" in table
    summary = status_files(desired, plan)["README.md"]
    assert "| agent | canary | AdvancedRollingUpdate |" in summary and "**halted**" in summary
    assert "waiting: earlier wave" in summary


def test_a_halt_holds_even_if_pods_recover_until_the_repository_changes(tmp_path: Path) -> None:
    cluster = fleet()
    repo = rolled_out(tmp_path, cluster)
    cluster.set_image_broken("registry.example.com/agent:2", True)
    write(repo, image="2")
    passes(load_desired(repo, revision="r2"), cluster, 12)
    cluster.set_image_broken("registry.example.com/agent:2", False)  # it starts after all
    cluster.tick(30)
    plan = plan_once(load_desired(repo, revision="r2"), cluster)
    assert group_plan(plan, "canary").halted  # sticky: the same spec stays halted
    write(repo, image="3")  # the fix
    fixed = load_desired(repo, revision="r3")
    passes(fixed, cluster, 30)
    assert {g: images(cluster, g) for g in ("canary", "north", "south")} == {
        "canary": ["3", "3"],
        "north": ["3", "3", "3"],
        "south": ["3", "3", "3"],
    }
    assert not any(ds.halted or ds.held for ds in plan_once(fixed, cluster).daemonsets)


def test_auto_rollback_restores_the_last_fully_available_image(tmp_path: Path) -> None:
    cluster = fleet()
    policy = WAVES.format(bake=0, rollback="true", wait="false")
    repo = rolled_out(tmp_path, cluster, rollout=policy)
    cluster.set_image_broken("registry.example.com/agent:2", True)
    write(repo, image="2", rollout=policy)
    desired = load_desired(repo, revision="r2")
    plans = passes(desired, cluster, 20)
    assert any(isinstance(a, RollbackDaemonSet) for p in plans for a in p.actions)
    assert images(cluster, "canary") == ["1", "1"]
    canary = group_plan(plan_once(desired, cluster), "canary")
    assert canary.rolled_back and canary.progress.current == 2
    assert "rolled back" in status_files(desired, plan_once(desired, cluster))["README.md"]
    assert images(cluster, "north") == ["1", "1", "1"]  # the later wave never started
    assert (repo / "agent.yaml").read_text().count("agent:2") == 1  # the repository is untouched


def test_bake_time_holds_the_next_wave(tmp_path: Path) -> None:
    cluster = fleet()
    policy = WAVES.format(bake=300, rollback="false", wait="false")
    repo = rolled_out(tmp_path, cluster, rollout=policy)
    write(repo, image="2", rollout=policy)
    desired = load_desired(repo, revision="r2")
    passes(desired, cluster, 6)  # canary done after ~2 passes
    assert images(cluster, "canary") == ["2", "2"] and images(cluster, "north") == ["1"] * 3
    north = group_plan(plan_once(desired, cluster), "north")
    assert "baking until" in north.held
    cluster.tick(300)
    passes(desired, cluster, 6)
    assert images(cluster, "north") == ["2"] * 3 and images(cluster, "south") == ["2"] * 3


def test_notready_nodes_of_an_earlier_wave_do_not_hold_later_waves_unless_asked(
    tmp_path: Path,
) -> None:
    for wait, later in (("false", ["2", "2", "2"]), ("true", ["1", "1", "1"])):
        cluster = fleet()
        policy = WAVES.format(bake=0, rollback="false", wait=wait)
        repo = rolled_out(tmp_path / wait, cluster, rollout=policy)
        cluster.set_node_ready("canary-01", False)
        write(repo, image="2", rollout=policy)
        passes(load_desired(repo, revision="r2"), cluster, 10)
        assert images(cluster, "north") == later, wait


WINDOW = """\
  maintenanceWindow:
    schedule: "0 2 * * *"
    duration: 1h
    timeZone: UTC
"""


def test_a_window_defers_the_group_and_says_when_it_opens_then_it_proceeds(tmp_path: Path) -> None:
    cluster = fleet(north=3)  # the clock starts at 2026-01-01T00:00:00Z
    repo = tmp_path / "repo"
    write(
        repo, image="1", groups=("north",), windows={"north": WINDOW}, rollout="    bakeSeconds: 0"
    )
    passes(load_desired(repo, revision="r1"), cluster, 2)  # creating pods is allowed
    assert images(cluster, "north") == ["1"] * 3
    write(
        repo, image="2", groups=("north",), windows={"north": WINDOW}, rollout="    bakeSeconds: 0"
    )
    desired = load_desired(repo, revision="r2")
    plans = passes(desired, cluster, 6)
    assert not any(isinstance(a, DeletePod) for p in plans for a in p.actions)
    north = group_plan(plan_once(desired, cluster), "north")
    assert "next window opens 2026-01-01T02:00:00Z" in north.held
    cluster.tick(2 * 3600 - cluster.now % 86400)  # 02:00
    passes(desired, cluster, 8)
    assert images(cluster, "north") == ["2"] * 3


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    start=st.integers(min_value=0, max_value=23),
    length=st.integers(min_value=1, max_value=3),
    ticks=st.lists(st.integers(min_value=60, max_value=3 * 3600), min_size=4, max_size=10),
    model=st.sampled_from(["AdvancedRollingUpdate", "OTA"]),
)
def test_no_group_outside_its_window_ever_loses_a_pod(
    start: int, length: int, ticks: list[int], model: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        window = WINDOW.replace("0 2 * * *", f"0 {start} * * *").replace("1h", f"{length}h")
        kwargs = {"groups": ("north", "south"), "windows": {"north": window}, "model": model}
        cluster = fleet(north=4, south=2)
        write(repo, image="1", rollout="    bakeSeconds: 0", **kwargs)  # type: ignore[arg-type]
        passes(load_desired(repo, revision="r1"), cluster, 2)
        write(repo, image="2", rollout="    bakeSeconds: 0", **kwargs)  # type: ignore[arg-type]
        desired = load_desired(repo, revision="r2")
        north_ds = next(d for d in desired.daemonsets if d.group == "north")
        assert north_ds.window is not None

        for seconds in ticks:
            is_open = open_at(north_ds.window, cluster.now) is not None
            before = {
                k
                for k, p in cluster._state.pods.items()
                if p["spec"]["nodeName"].startswith("north")
            }
            result = reconcile_once(desired, cluster)
            moved = [
                r.action
                for r in result.results
                if isinstance(r.action, DeletePod | SetPodCondition)
                and r.action.node.startswith("north")
                and not (
                    isinstance(r.action, SetPodCondition) and r.action.condition.status == "False"
                )
            ]
            after = {
                k
                for k, p in cluster._state.pods.items()
                if p["spec"]["nodeName"].startswith("north")
            }
            if not is_open:
                assert moved == [] and before <= after
            cluster.tick(seconds)


def test_a_crash_between_the_rollback_and_its_record_still_ends_rolled_back(tmp_path: Path) -> None:
    cluster = fleet()
    policy = WAVES.format(bake=0, rollback="true", wait="false")
    repo = rolled_out(tmp_path, cluster, rollout=policy)
    cluster.set_image_broken("registry.example.com/agent:2", True)
    write(repo, image="2", rollout=policy)
    desired = load_desired(repo, revision="r2")
    for _ in range(20):
        plan = plan_once(desired, cluster)
        rollback = [a for a in plan.actions if isinstance(a, RollbackDaemonSet)]
        if rollback:  # apply only up to the rollback: the pass dies before recording it
            actions = plan.actions[: plan.actions.index(rollback[0]) + 1]
            apply_actions(actions, cluster)
            break
        apply_actions(plan.actions, cluster)
        cluster.tick(10)
    else:
        raise AssertionError("no rollback planned")
    passes(desired, cluster, 6)
    canary = group_plan(plan_once(desired, cluster), "canary")
    assert canary.rolled_back and images(cluster, "canary") == ["1", "1"]
