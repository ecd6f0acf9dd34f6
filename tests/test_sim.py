"""The simulated cluster: DaemonSet controller (OnDelete, native RollingUpdate), revisions,
readiness over the clock, NotReady semantics, persistence and locking, the `sim` CLI."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path
from typing import Any

import pytest

from gitops_edge.cluster import sim
from gitops_edge.cluster.base import NotFoundError
from gitops_edge.cluster.k8s_objects import (
    build_observed,
    daemonset_from,
    format_time,
    node_from,
    parse_time,
    pod_from,
)
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.cluster.sim_pods import node_is_eligible
from gitops_edge.model.observed import Condition, Observed, PodObs


def manifest(
    *,
    name: str = "web",
    image: str = "registry.example.com/web:1",
    strategy: dict[str, Any] | None = None,
    pod_spec: dict[str, Any] | None = None,
    min_ready: int = 0,
) -> dict[str, Any]:
    spec = {"containers": [{"name": "main", "image": image}], **(pod_spec or {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": "edge"},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "updateStrategy": strategy or {"type": "OnDelete"},
            "minReadySeconds": min_ready,
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
        },
    }


def pods_of(observed: Observed, owner: str = "web") -> list[PodObs]:
    return sorted((p for p in observed.pods if p.owner_name == owner), key=lambda p: p.node)


def revision(observed: Observed, name: str = "web") -> str:
    return next(d.current_revision for d in observed.daemonsets if d.name == name)


@pytest.fixture
def fleet() -> SimCluster:
    return SimCluster.create(namespaces=("edge",), groups=[("a", 3), ("b", 2)])


def test_nodes_are_named_and_labelled_deterministically() -> None:
    one = SimCluster.create(
        namespaces=("edge",), groups=[("pool", 12)], not_ready=3, seed=9
    ).observe()
    two = SimCluster.create(
        namespaces=("edge",), groups=[("pool", 12)], not_ready=3, seed=9
    ).observe()
    assert one == two
    assert [n.name for n in one.nodes][:2] == ["pool-01", "pool-02"]
    assert one.nodes[0].labels["apps.openyurt.io/nodepool"] == "pool"
    assert sum(not n.ready for n in one.nodes) == 3
    wide = SimCluster.create(namespaces=("edge",), groups=[("x", 100)]).observe()
    assert wide.nodes[0].name == "x-001"


def test_pods_created_on_ready_nodes_and_ready_after_the_delay(fleet: SimCluster) -> None:
    fleet.apply_daemonset(manifest())
    pods = pods_of(fleet.observe())
    assert len(pods) == 5 and not any(p.ready for p in pods)
    fleet.tick(4)
    assert not any(p.ready for p in pods_of(fleet.observe()))
    fleet.tick(1)
    ready = pods_of(fleet.observe())
    assert all(p.ready and p.ready_since == fleet.now for p in ready)


def test_node_selector_and_affinity_decide_eligibility(fleet: SimCluster) -> None:
    fleet.apply_daemonset(
        manifest(name="sel", pod_spec={"nodeSelector": {"apps.openyurt.io/nodepool": "b"}})
    )
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "apps.openyurt.io/nodepool", "operator": "In", "values": ["a"]}
                        ]
                    },
                    {
                        "matchFields": [
                            {"key": "metadata.name", "operator": "In", "values": ["b-02"]}
                        ]
                    },
                ]
            }
        }
    }
    fleet.apply_daemonset(manifest(name="aff", pod_spec={"affinity": affinity}))
    observed = fleet.observe()
    assert [p.node for p in pods_of(observed, "sel")] == ["b-01", "b-02"]
    assert [p.node for p in pods_of(observed, "aff")] == ["a-01", "a-02", "a-03", "b-02"]


def test_on_delete_recreates_a_deleted_pod_from_the_newest_revision(fleet: SimCluster) -> None:
    fleet.apply_daemonset(manifest())
    fleet.tick(10)
    old_rev = revision(fleet.observe())
    fleet.apply_daemonset(manifest(image="registry.example.com/web:2"))
    observed = fleet.observe()
    new_rev = revision(observed)
    assert new_rev != old_rev
    assert {p.revision_hash for p in pods_of(observed)} == {old_rev}  # OnDelete: nothing moves
    victim = pods_of(observed)[0]
    fleet.delete_pod(victim.namespace, victim.name, victim.uid)
    replaced = [p for p in pods_of(fleet.observe()) if p.node == victim.node]
    assert len(replaced) == 1 and replaced[0].revision_hash == new_rev
    assert replaced[0].template_generation == 2


def test_rollback_reuses_the_revision_hash_and_makes_it_newest(fleet: SimCluster) -> None:
    fleet.apply_daemonset(manifest())
    first = revision(fleet.observe())
    fleet.apply_daemonset(manifest(image="registry.example.com/web:2"))
    fleet.apply_daemonset(manifest())
    observed = fleet.observe()
    assert revision(observed) == first
    ds = observed.daemonsets[0]
    assert ds.template_generation == 3
    assert all(p.revision_hash == first for p in pods_of(observed))


def test_delete_pod_checks_the_uid(fleet: SimCluster) -> None:
    fleet.apply_daemonset(manifest())
    pod = pods_of(fleet.observe())[0]
    with pytest.raises(NotFoundError):
        fleet.delete_pod(pod.namespace, pod.name, "another-uid")
    with pytest.raises(NotFoundError):
        fleet.delete_pod(pod.namespace, "no-such-pod", pod.uid)


def test_not_ready_node_keeps_its_pod_unready_and_deletion_stays_terminating(
    fleet: SimCluster,
) -> None:
    fleet.apply_daemonset(manifest())
    fleet.tick(10)
    fleet.set_node_ready("a-02", False)
    pod = next(p for p in pods_of(fleet.observe()) if p.node == "a-02")
    assert not pod.ready
    fleet.delete_pod(pod.namespace, pod.name, pod.uid)
    on_node = [p for p in pods_of(fleet.observe()) if p.node == "a-02"]
    assert [(p.name, p.deleting) for p in on_node] == [(pod.name, True)]
    fleet.tick(300)
    assert [p.deleting for p in pods_of(fleet.observe()) if p.node == "a-02"] == [True]
    fleet.set_node_ready("a-02", True)
    back = [p for p in pods_of(fleet.observe()) if p.node == "a-02"]
    assert len(back) == 1 and back[0].name != pod.name and not back[0].deleting
    fleet.tick(5)
    assert all(p.ready for p in pods_of(fleet.observe()))


def test_not_ready_node_gets_no_new_pod(fleet: SimCluster) -> None:
    fleet.set_node_ready("b-01", False)
    fleet.apply_daemonset(manifest())
    assert "b-01" not in {p.node for p in pods_of(fleet.observe())}
    fleet.set_node_ready("b-01", True)
    assert "b-01" in {p.node for p in pods_of(fleet.observe())}


def test_broken_image_never_becomes_ready(fleet: SimCluster) -> None:
    fleet.set_image_broken("registry.example.com/web:bad", True)
    fleet.apply_daemonset(manifest(image="registry.example.com/web:bad"))
    fleet.tick(600)
    assert not any(p.ready for p in pods_of(fleet.observe()))
    fleet.set_image_broken("registry.example.com/web:bad", False)
    fleet.tick(5)
    assert all(p.ready for p in pods_of(fleet.observe()))


def roll(fleet: SimCluster, *, passes: int) -> list[int]:
    """Updated pods after each 10-second tick."""
    counts = []
    for _ in range(passes):
        fleet.tick(10)
        rev = revision(fleet.observe())
        counts.append(sum(p.revision_hash == rev and p.ready for p in pods_of(fleet.observe())))
    return counts


def test_native_rolling_update_completes_when_all_nodes_are_ready() -> None:
    fleet = SimCluster.create(namespaces=("edge",), groups=[("a", 6)])
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}}
    fleet.apply_daemonset(manifest(strategy=strategy))
    fleet.tick(10)
    fleet.apply_daemonset(manifest(strategy=strategy, image="registry.example.com/web:2"))
    assert roll(fleet, passes=4)[-1] == 6


def test_native_rolling_update_stalls_when_not_ready_nodes_use_up_max_unavailable() -> None:
    fleet = SimCluster.create(namespaces=("edge",), groups=[("a", 6)])
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}
    fleet.apply_daemonset(manifest(strategy=strategy))
    fleet.tick(10)
    fleet.set_node_ready("a-02", False)
    fleet.set_node_ready("a-05", False)
    fleet.apply_daemonset(manifest(strategy=strategy, image="registry.example.com/web:2"))
    counts = roll(fleet, passes=10)
    # The first sync deletes the NotReady nodes' old (unavailable) pods outside the budget and
    # one candidate; from then on the two Terminating nodes count unavailable ≥ 1: stalled.
    assert counts == [1] * 10  # 1 of 4 Ready nodes updated, forever
    observed = fleet.observe()
    assert {p.node for p in pods_of(observed) if p.deleting} == {"a-02", "a-05"}
    fleet.set_node_ready("a-02", True)
    fleet.set_node_ready("a-05", True)
    assert roll(fleet, passes=12)[-1] == 6  # the stall ends when the nodes return


def test_set_pod_condition_adds_then_replaces(fleet: SimCluster) -> None:
    fleet.apply_daemonset(manifest())
    pod = pods_of(fleet.observe())[0]
    cond = Condition(
        "PodNeedUpgrade", "True", message="controllerrevision: x", last_transition_time=fleet.now
    )
    fleet.set_pod_condition(pod.namespace, pod.name, pod.uid, cond)
    fleet.set_pod_condition(
        pod.namespace,
        pod.name,
        pod.uid,
        Condition("PodNeedUpgrade", "False", last_transition_time=fleet.now),
    )
    seen = next(p for p in pods_of(fleet.observe()) if p.name == pod.name)
    assert [(c.type, c.status) for c in seen.conditions] == [
        ("Ready", "False"),
        ("PodScheduled", "True"),
        ("PodNeedUpgrade", "False"),
    ]


def test_delete_daemonset_cascades(fleet: SimCluster) -> None:
    fleet.apply_daemonset(manifest())
    fleet.delete_daemonset("edge", "web")
    observed = fleet.observe()
    assert observed.daemonsets == () and observed.pods == ()
    with pytest.raises(NotFoundError):
        fleet.delete_daemonset("edge", "web")


def test_state_file_round_trip(tmp_path: Path, fleet: SimCluster) -> None:
    fleet.apply_daemonset(manifest())
    fleet.tick(10)
    path = tmp_path / "fleet.json"
    SimCluster.init_file(path, fleet)
    with SimCluster.open(path) as loaded:
        assert loaded.observe() == fleet.observe()
        loaded.tick(5)
    with SimCluster.open(path) as again:
        assert again.now == fleet.now + 5


def test_failed_block_leaves_the_file_untouched(tmp_path: Path, fleet: SimCluster) -> None:
    path = tmp_path / "fleet.json"
    SimCluster.init_file(path, fleet)
    before = path.read_bytes()
    with pytest.raises(RuntimeError), SimCluster.open(path) as cluster:
        cluster.tick(100)
        raise RuntimeError("crash mid-pass")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fleet.json", "fleet.json.lock"]


def test_init_refuses_to_overwrite_without_force(tmp_path: Path, fleet: SimCluster) -> None:
    path = tmp_path / "fleet.json"
    SimCluster.init_file(path, fleet)
    with pytest.raises(FileExistsError, match="--force"):
        SimCluster.init_file(path, fleet)
    SimCluster.init_file(path, fleet, force=True)


@pytest.mark.parametrize(
    ("content", "needle"),
    [("{not json", "not a simulated cluster"), ('{"format": "other"}', "not a gitops-edge")],
)
def test_foreign_or_corrupt_file_is_refused(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "fleet.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=needle):
        SimCluster.load(path)


def _hold_lock(path: str, seconds: float, ready: Any) -> None:
    with SimCluster.locked(Path(path)):
        ready.set()
        time.sleep(seconds)


def test_a_second_process_waits_for_the_lock(tmp_path: Path, fleet: SimCluster) -> None:
    path = tmp_path / "fleet.json"
    SimCluster.init_file(path, fleet)
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(path), 2.0, ready))
    holder.start()
    try:
        assert ready.wait(30)
        start = time.monotonic()
        with SimCluster.open(path) as cluster:
            cluster.tick(1)
        assert time.monotonic() - start >= 0.5  # it waited for the other process
    finally:
        holder.join(30)


def test_k8s_time_round_trip() -> None:
    assert format_time(1_767_225_605.0) == "2026-01-01T00:00:05Z"
    assert parse_time("2026-01-01T00:00:05Z") == 1_767_225_605.0
    assert parse_time(format_time(1_767_225_605.25)) == 1_767_225_605.25


def test_build_observed_matches_revisions_by_owner_uid() -> None:
    ds = {"metadata": {"name": "d", "namespace": "n", "uid": "u1", "generation": 4}, "spec": {}}
    revs = [
        {
            "metadata": {
                "name": f"d-{h}",
                "labels": {"controller-revision-hash": h},
                "ownerReferences": [{"kind": "DaemonSet", "uid": uid, "controller": True}],
            },
            "revision": number,
        }
        for h, uid, number in (("aaa", "u1", 1), ("bbb", "u1", 3), ("ccc", "other", 9))
    ]
    observed = build_observed(now=0.0, nodes=[], daemonsets=[ds], revisions=revs, pods=[])
    assert observed.daemonsets[0].current_revision == "bbb"
    assert observed.daemonsets[0].template_generation == 4


def test_k8s_objects_parse_pods_nodes_and_daemonsets() -> None:
    pod = pod_from(
        {
            "metadata": {
                "name": "web-x2b4c",
                "namespace": "edge",
                "uid": "p1",
                "deletionTimestamp": "2026-01-01T00:01:00Z",
                "labels": {"controller-revision-hash": "abc", "pod-template-generation": "7"},
                "ownerReferences": [
                    {"kind": "Node", "name": "n", "uid": "x"},
                    {"kind": "DaemonSet", "name": "web", "uid": "d1", "controller": True},
                ],
            },
            "spec": {"nodeName": "a-01"},
            "status": {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "lastTransitionTime": "2026-01-01T00:00:05Z",
                    },
                    {"type": "PodNeedUpgrade", "status": "True", "message": "m", "reason": "r"},
                ]
            },
        }
    )
    assert (pod.owner_kind, pod.owner_name, pod.node) == ("DaemonSet", "web", "a-01")
    assert (pod.revision_hash, pod.template_generation) == ("abc", 7)
    assert pod.ready and pod.ready_since == 1_767_225_605.0 and pod.deleting
    need = pod.condition("PodNeedUpgrade")
    assert need is not None and (need.message, need.reason) == ("m", "r")
    orphan = pod_from({"metadata": {"name": "p", "labels": {}}, "spec": {}, "status": {}})
    assert (orphan.owner_kind, orphan.ready, orphan.ready_since, orphan.deleting) == (
        "",
        False,
        None,
        False,
    )
    assert orphan.namespace == "default" and orphan.template_generation is None
    node = node_from(
        {
            "metadata": {"name": "a-01", "labels": {"k": "v"}},
            "status": {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "False",
                        "lastTransitionTime": "2026-01-01T00:00:09Z",
                    }
                ],
                "nodeInfo": {"kubeletVersion": "v1.29.5-kubeedge-v1.16.0"},
            },
        }
    )
    assert (node.ready, node.ready_since, node.edge_version) == (
        False,
        1_767_225_609.0,
        "v1.29.5-kubeedge-v1.16.0",
    )
    ds = daemonset_from(
        {"metadata": {"name": "web", "uid": "d1"}, "spec": {}},
        [{"metadata": {"name": "web-5d8f9c7b6a"}, "revision": 2}],
    )
    assert (ds.namespace, ds.update_strategy, ds.current_revision) == (
        "default",
        "RollingUpdate",
        "5d8f9c7b6a",  # no label: the name's suffix
    )


def _node(labels: dict[str, str], name: str = "n-1") -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}}


def _affinity(*terms: dict[str, Any]) -> dict[str, Any]:
    required = {"nodeSelectorTerms": list(terms)}
    return {
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}
    }


@pytest.mark.parametrize(
    ("expression", "eligible"),
    [
        ({"key": "zone", "operator": "In", "values": ["z1", "z2"]}, True),
        ({"key": "zone", "operator": "NotIn", "values": ["z1"]}, False),
        ({"key": "missing", "operator": "NotIn", "values": ["z1"]}, True),
        ({"key": "zone", "operator": "Exists"}, True),
        ({"key": "zone", "operator": "DoesNotExist"}, False),
        ({"key": "cores", "operator": "Gt", "values": ["3"]}, True),
        ({"key": "cores", "operator": "Lt", "values": ["4"]}, False),
        ({"key": "zone", "operator": "Gt", "values": ["3"]}, False),  # not an integer
    ],
)
def test_match_expression_operators(expression: dict[str, Any], eligible: bool) -> None:
    node = _node({"zone": "z1", "cores": "4"})
    assert node_is_eligible(_affinity({"matchExpressions": [expression]}), node) is eligible


def test_affinity_terms_are_ored_and_requirements_anded() -> None:
    node = _node({"zone": "z1"}, name="edge-7")
    zone = {"key": "zone", "operator": "In", "values": ["z1"]}
    other = {"key": "metadata.name", "operator": "In", "values": ["edge-8"]}
    mine = {"key": "metadata.name", "operator": "NotIn", "values": ["edge-8"]}
    assert not node_is_eligible(
        _affinity({"matchExpressions": [zone], "matchFields": [other]}), node
    )
    assert node_is_eligible(_affinity({"matchExpressions": [zone], "matchFields": [mine]}), node)
    assert node_is_eligible(_affinity({"matchFields": [other]}, {"matchExpressions": [zone]}), node)
    with_selector = {**_affinity({"matchExpressions": [zone]}), "nodeSelector": {"zone": "z2"}}
    assert not node_is_eligible(with_selector, node)


def test_pods_leave_nodes_that_are_no_longer_eligible(fleet: SimCluster) -> None:
    pool = "apps.openyurt.io/nodepool"
    fleet.apply_daemonset(manifest(pod_spec={"nodeSelector": {pool: "a"}}))
    assert [p.node for p in pods_of(fleet.observe())] == ["a-01", "a-02", "a-03"]
    fleet.apply_daemonset(manifest(pod_spec={"nodeSelector": {pool: "b"}}))
    assert [p.node for p in pods_of(fleet.observe())] == ["b-01", "b-02"]


def test_rollback_makes_pods_of_the_old_revision_current_again(fleet: SimCluster) -> None:
    fleet.apply_daemonset(manifest())
    first = revision(fleet.observe())
    fleet.apply_daemonset(manifest(image="registry.example.com/web:2"))
    victim = pods_of(fleet.observe())[0]
    fleet.delete_pod(victim.namespace, victim.name, victim.uid)  # OnDelete: replaced at v2
    second = revision(fleet.observe())
    fleet.apply_daemonset(manifest())  # roll back
    observed = fleet.observe()
    assert revision(observed) == first
    hashes = sorted(p.revision_hash for p in pods_of(observed))
    assert hashes == sorted([second] + [first] * 4)
    revisions = sorted(
        (r["revision"], r["metadata"]["labels"]["controller-revision-hash"])
        for r in fleet._state.revisions.values()
    )
    assert revisions == [(2, second), (3, first)]  # reused, renumbered; no third revision


def test_max_unavailable_percentage_rounds_up() -> None:
    fleet = SimCluster.create(namespaces=("edge",), groups=[("a", 10)])
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%"}}
    fleet.apply_daemonset(manifest(strategy=strategy))
    fleet.tick(10)
    fleet.apply_daemonset(manifest(strategy=strategy, image="registry.example.com/web:2"))
    rev = revision(fleet.observe())
    assert sum(p.revision_hash == rev for p in pods_of(fleet.observe())) == 3  # ceil(2.5)


def _unavailable_ready_nodes(fleet: SimCluster) -> int:
    observed = fleet.observe()
    available = {p.node for p in observed.pods if p.ready and not p.deleting}
    return sum(1 for n in observed.nodes if n.ready and n.name not in available)


def test_a_ready_node_without_a_pod_counts_unavailable_in_a_rolling_update() -> None:
    fleet = SimCluster.create(namespaces=("edge",), groups=[("a", 5)])
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}
    fleet.apply_daemonset(manifest(strategy=strategy))
    fleet.tick(10)
    fleet.set_node_ready("a-05", False)
    fleet.apply_daemonset(manifest(strategy=strategy, image="registry.example.com/web:2"))
    # a-05's unavailable old pod is deleted outside the budget (Terminating), a-01's with it.
    fleet.tick(10)  # a-01 is available again; a-05 (no live pod) uses up the budget: stalled
    rev = revision(fleet.observe())
    assert [p.node for p in pods_of(fleet.observe()) if p.deleting] == ["a-05"]
    assert [p.node for p in pods_of(fleet.observe()) if p.revision_hash == rev] == ["a-01"]
    fleet.set_node_ready("a-05", True)  # its Terminating pod goes; the node has no pod yet
    # Upstream counts a node that should run a pod and has none as unavailable: no deletion.
    old = [p.node for p in pods_of(fleet.observe()) if p.revision_hash != rev]
    assert old == ["a-02", "a-03", "a-04"]
    while any(p.revision_hash != rev for p in pods_of(fleet.observe())):
        assert _unavailable_ready_nodes(fleet) <= 1
        fleet.tick(5)
    fleet.tick(5)
    assert _unavailable_ready_nodes(fleet) == 0


def test_set_pod_condition_checks_the_uid(fleet: SimCluster) -> None:
    fleet.apply_daemonset(manifest())
    pod = pods_of(fleet.observe())[0]
    with pytest.raises(NotFoundError):
        fleet.set_pod_condition(pod.namespace, pod.name, "stale", Condition("X", "True"))


def test_status_counts_follow_the_pods(fleet: SimCluster) -> None:
    fleet.set_node_ready("b-02", False)
    fleet.apply_daemonset(manifest())
    fleet.tick(10)
    ds = fleet.snapshot()["daemonsets"][0]
    assert (ds["desired"], ds["ready"], ds["updated"]) == (4, 4, 4)


def _hold_until(path: str, ready: Any, release: Any) -> None:
    with SimCluster.locked(Path(path)):
        ready.set()
        release.wait(30)


def test_a_lock_held_too_long_times_out_with_a_clear_error(
    tmp_path: Path, fleet: SimCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "fleet.json"
    SimCluster.init_file(path, fleet)
    monkeypatch.setattr(sim, "LOCK_TIMEOUT", 0.3)
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_until, args=(str(path), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(TimeoutError, match=r"fleet\.json\.lock"), SimCluster.open(path):
            pass
    finally:
        release.set()
        holder.join(30)


def test_missing_state_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="sim init"), SimCluster.open(tmp_path / "x.json"):
        pass


def test_pods_with_the_same_condition_share_one_condition_value() -> None:
    """A fleet's pods carry few distinct conditions (the same Ready transition, the same
    PodNeedUpgrade mark): parsing 1,000,000 pods keeps one `Condition` per distinct condition,
    not one per pod (memory and time of the initial sync). The values read are unchanged."""
    raw = [
        {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:05Z"},
        {"type": "PodNeedUpgrade", "status": "False", "message": "controllerrevision: h1"},
    ]

    def parsed(name: str) -> tuple[Condition, ...]:
        obj = {
            "metadata": {"name": name},
            "spec": {"nodeName": "n"},
            "status": {"conditions": json.loads(json.dumps(raw))},
        }
        return pod_from(obj).conditions

    first, second = parsed("a"), parsed("b")
    assert first == (
        Condition(type="Ready", status="True", last_transition_time=1_767_225_605.0),
        Condition(type="PodNeedUpgrade", status="False", message="controllerrevision: h1"),
    )
    assert all(a is b for a, b in zip(first, second, strict=True))
    odd = pod_from(
        {"metadata": {"name": "c"}, "spec": {}, "status": {"conditions": [{"type": "X"}]}}
    )
    assert odd.conditions == (Condition(type="X", status="Unknown"),)
