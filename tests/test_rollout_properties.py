"""Property tests: the planner + apply + simulated cluster, over random fleets and readiness
schedules (DESIGN §2).

For every pass of an AdvancedRollingUpdate rollout:
- budget: the pods it takes down that were available (counted independently here, from the
  observed state before the pass) never exceed max(0, maxUnavailable − unavailable before);
- NotReady nodes are never touched (no pod deleted on a node NotReady when observed);
- once readiness stops changing, every Ready node runs only a current, available pod within
  ceil(N / budget) + 3 passes, and every NotReady node still outdated is reported as deferred.
"""

from __future__ import annotations

import math
import tempfile
from collections import defaultdict
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from repo_config import write_config

from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model.desired import DesiredState
from gitops_edge.model.observed import Observed, PodObs
from gitops_edge.model.openyurt import resolve_max_unavailable
from gitops_edge.model.plan import ApplyDaemonSet, DaemonSetPlan, DeletePod
from gitops_edge.planner import plan
from gitops_edge.reconciler.apply import apply_actions
from gitops_edge.reconciler.reconcile import load_desired, reconcile_once

PASS_SECONDS = 30.0  # > ready delay 5 s + minReadySeconds ≤ 20 s: pods available by next pass

WORKLOAD = """apiVersion: gitops-edge.io/v1alpha1
kind: EdgeDaemonSet
metadata:
  name: app
  namespace: edge
spec:
  strategy:
    type: AdvancedRollingUpdate
    maxUnavailable: {budget}
  minReadySeconds: {min_ready}
  template:
    metadata:
      labels: {{app: app}}
    spec:
      containers:
        - name: main
          image: registry.example.com/app:{version}
  groups:
{groups}"""
GROUP = """---
apiVersion: gitops-edge.io/v1alpha1
kind: NodeGroup
metadata:
  name: {name}
spec:
  selector:
    matchLabels:
      apps.openyurt.io/nodepool: {name}
"""


def desired_state(
    root: Path, *, groups: list[str], budget: str, min_ready: int, version: str
) -> DesiredState:
    repo = root / version
    write_config(repo, name="app")
    (repo / "groups.yaml").write_text("".join(GROUP.format(name=g) for g in groups))
    (repo / "app.yaml").write_text(
        WORKLOAD.format(
            budget=budget,
            min_ready=min_ready,
            version=version,
            groups="".join(f"    - name: {g}\n" for g in groups),
        )
    )
    return load_desired(repo, revision=version)


def _available(pod: PodObs, *, min_ready: int, now: float) -> bool:
    return pod.ready and pod.ready_since is not None and pod.ready_since + min_ready <= now


def unavailable_ready_nodes(observed: Observed, ds_name: str, *, min_ready: int) -> int:
    """DESIGN §2's count, independent of the planner: Ready nodes with ≠ 1 live pod, or an old
    and a new pod, or only a new pod not yet available."""
    ds = next(d for d in observed.daemonsets if d.name == ds_name)
    ready = {n.name: n.ready for n in observed.nodes}
    by_node: dict[str, list[PodObs]] = defaultdict(list)
    for pod in observed.pods:
        if pod.owner_name == ds_name:
            by_node[pod.node].append(pod)
    count = 0
    for node, pods in by_node.items():
        if not ready.get(node):
            continue
        live = [p for p in pods if not p.deleting]
        new_not_available = live and (
            live[0].revision_hash == ds.current_revision
            and not _available(live[0], min_ready=min_ready, now=observed.now)
        )
        if len(live) != 1 or new_not_available:
            count += 1
    return count


def hosting_nodes(observed: Observed, ds_name: str) -> int:
    return len({p.node for p in observed.pods if p.owner_name == ds_name})


def check_round(
    state: Observed, daemonsets: tuple[DaemonSetPlan, ...], *, budget: str, min_ready: int
) -> None:
    ready = {n.name: n.ready for n in state.nodes}
    pods = {p.uid: p for p in state.pods}
    for ds in daemonsets:
        deleted = [a for a in ds.actions if isinstance(a, DeletePod)]
        assert all(ready[a.node] for a in deleted), "a NotReady node was touched"
        if not deleted:
            continue
        taken_down = [
            a for a in deleted if _available(pods[a.uid], min_ready=min_ready, now=state.now)
        ]
        limit = resolve_max_unavailable(budget, hosting_nodes(state, ds.name))
        already = unavailable_ready_nodes(state, ds.name, min_ready=min_ready)
        assert len(taken_down) <= max(0, limit - already), (ds.name, limit, already)


fleets = st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=3)
budgets = st.one_of(
    st.integers(min_value=0, max_value=4).map(str),
    st.sampled_from(["0%", "10%", "25%", "30%", "50%", "95%", "100%"]),
)
# A readiness schedule: for each of the first passes, nodes (by index) that flip readiness.
schedules = st.lists(st.lists(st.integers(min_value=0, max_value=30), max_size=4), max_size=5)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    sizes=fleets,
    budget=budgets,
    min_ready=st.sampled_from([0, 10, 20]),
    initially_down=st.lists(st.integers(min_value=0, max_value=30), max_size=4),
    schedule=schedules,
)
def test_advanced_rolling_update_properties(
    sizes: list[int],
    budget: str,
    min_ready: int,
    initially_down: list[int],
    schedule: list[list[int]],
) -> None:
    groups = [f"g{i}" for i in range(len(sizes))]
    cluster = SimCluster.create(groups=list(zip(groups, sizes, strict=True)))
    names = sorted(n.name for n in cluster.observe().nodes)
    with tempfile.TemporaryDirectory() as tmp:
        v1 = desired_state(
            Path(tmp), groups=groups, budget=budget, min_ready=min_ready, version="1.0.0"
        )
        v2 = desired_state(
            Path(tmp), groups=groups, budget=budget, min_ready=min_ready, version="2.0.0"
        )
    reconcile_once(v1, cluster)
    cluster.tick(PASS_SECONDS)
    for i in initially_down:
        cluster.set_node_ready(names[i % len(names)], False)
    cluster.tick(PASS_SECONDS)

    def one_pass() -> None:
        """reconcile_once's rounds, with the invariants checked against each round's state."""
        for _ in range(2):
            state = cluster.observe()
            current = plan(v2, state)
            check_round(state, current.daemonsets, budget=budget, min_ready=min_ready)
            apply_actions(current.actions, cluster)
            if not any(isinstance(a, ApplyDaemonSet) for a in current.actions):
                break
        cluster.tick(PASS_SECONDS)

    for flips in schedule:
        for i in flips:
            name = names[i % len(names)]
            ready_now = {n.name: n.ready for n in cluster.observe().nodes}[name]
            cluster.set_node_ready(name, not ready_now)
        one_pass()

    # Readiness is stable from here on: bounded convergence.
    # Each pass upgrades `budget` nodes per DaemonSet (pods are available before the next pass).
    bound = 3 + max(
        math.ceil(n / max(1, resolve_max_unavailable(budget, n))) for n in range(1, max(sizes) + 1)
    )
    for _ in range(bound):
        one_pass()
    observed = cluster.observe()
    ready = {n.name: n.ready for n in observed.nodes}
    current = {d.name: d.current_revision for d in observed.daemonsets}
    for pod in observed.pods:
        if ready[pod.node]:
            assert pod.revision_hash == current[pod.owner_name], f"{pod.node} not converged"
            assert _available(pod, min_ready=min_ready, now=observed.now)
    outdated_down = {
        p.node
        for p in observed.pods
        if not ready[p.node] and p.revision_hash != current[p.owner_name]
    }
    deferred = {d.node for ds in plan(v2, observed).daemonsets for d in ds.deferred}
    assert outdated_down <= deferred
