"""The simulated cluster: DaemonSet controller (OnDelete, native RollingUpdate), revisions,
readiness over the clock, NotReady semantics, persistence and locking, the `sim` CLI."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path
from typing import Any

import pytest

from gitops_edge.cli.main import main
from gitops_edge.cluster.base import NotFoundError
from gitops_edge.cluster.k8s_objects import build_observed, format_time, parse_time
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.observed import Condition, Observed, PodObs


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
    return SimCluster.create(groups=[("a", 3), ("b", 2)])


def test_nodes_are_named_and_labelled_deterministically() -> None:
    one = SimCluster.create(groups=[("pool", 12)], not_ready=3, seed=9).observe()
    two = SimCluster.create(groups=[("pool", 12)], not_ready=3, seed=9).observe()
    assert one == two
    assert [n.name for n in one.nodes][:2] == ["pool-01", "pool-02"]
    assert one.nodes[0].labels["apps.openyurt.io/nodepool"] == "pool"
    assert sum(not n.ready for n in one.nodes) == 3
    wide = SimCluster.create(groups=[("x", 100)]).observe()
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
    fleet = SimCluster.create(groups=[("a", 6)])
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}}
    fleet.apply_daemonset(manifest(strategy=strategy))
    fleet.tick(10)
    fleet.apply_daemonset(manifest(strategy=strategy, image="registry.example.com/web:2"))
    assert roll(fleet, passes=4)[-1] == 6


def test_native_rolling_update_stalls_when_not_ready_nodes_use_up_max_unavailable() -> None:
    fleet = SimCluster.create(groups=[("a", 6)])
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
    holder = ctx.Process(target=_hold_lock, args=(str(path), 1.0, ready))
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


# ── the `sim` command line ──────────────────────────────────────────────────────────────────


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_sim_cli_init_node_tick_image_show(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(tmp_path / "f.json")
    code, out, _ = cli(
        capsys, "sim", "init", state, "--groups", "hz=3,sh=2", "--not-ready", "1", "--seed", "4"
    )
    assert code == 0 and "5 nodes in 2 groups, 1 NotReady" in out
    assert cli(capsys, "sim", "node", state, "hz-01", "--not-ready")[0] == 0
    assert cli(capsys, "sim", "tick", state, "--seconds", "30")[0] == 0
    assert cli(capsys, "sim", "image", state, "x/y:1", "--broken")[0] == 0
    code, out, _ = cli(capsys, "sim", "show", state, "--format", "json")
    data = json.loads(out)
    assert data["now"] == "2026-01-01T00:00:30Z"
    hz01 = next(n for n in data["nodes"] if n["name"] == "hz-01")
    assert hz01 == {"name": "hz-01", "labels": hz01["labels"], "ready": False}
    assert hz01["labels"]["apps.openyurt.io/nodepool"] == "hz"
    assert data["daemonsets"] == [] and data["pods"] == []
    code, out, _ = cli(capsys, "sim", "show", state)
    assert code == 0 and "hz" in out and "NOT READY" in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--groups", "hz"], "NAME=COUNT"),
        (["--groups", "Bad_Name=2"], "DNS label"),
        (["--groups", "hz=0"], "at least 1"),
        (["--groups", "hz=2,hz=3"], "twice"),
        (["--groups", "hz=2", "--not-ready", "3"], "has 2 nodes"),
    ],
)
def test_sim_init_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    path = tmp_path / "f.json"
    code, _, err = cli(capsys, "sim", "init", str(path), *argv)
    assert code == 2 and needle in err
    assert not path.exists()


def test_sim_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = str(tmp_path / "f.json")
    code, _, err = cli(capsys, "sim", "tick", state)
    assert code == 2 and "sim init" in err
    cli(capsys, "sim", "init", state, "--groups", "hz=2")
    code, _, err = cli(capsys, "sim", "node", state, "nope", "--ready")
    assert code == 2 and "no node 'nope'" in err and "hz-01" in err
    code, _, err = cli(capsys, "sim", "init", state, "--groups", "hz=2")
    assert code == 2 and "--force" in err
