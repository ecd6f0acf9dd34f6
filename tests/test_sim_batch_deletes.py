"""The simulated cluster's DaemonSet controller reacts to pod deletions once per DaemonSet, not
once per deletion (issue 20: 500 deletions took ~30 s, each one re-running the controller over
every pod of the DaemonSet), and what the next read sees is unchanged: the replacements."""

from __future__ import annotations

import pytest
from test_sim import manifest, pods_of, revision

from gitops_edge.cluster import sim_controller
from gitops_edge.cluster.sim import SimCluster


def test_deletions_queue_one_controller_run_per_daemonset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fleet = SimCluster.create(namespaces=("edge",), groups=[("a", 20)])
    fleet.apply_daemonset(manifest())
    fleet.apply_daemonset(manifest(name="api"))
    fleet.tick(10)
    fleet.apply_daemonset(manifest(image="registry.example.com/web:2"))
    fleet.apply_daemonset(manifest(name="api", image="registry.example.com/web:2"))
    observed = fleet.observe()
    new = {name: revision(observed, name) for name in ("web", "api")}
    victims = pods_of(observed, "web")[:8] + pods_of(observed, "api")[:5]
    runs: list[tuple[str, str]] = []
    real = sim_controller.sync_daemonset

    def counted(state: object, key: tuple[str, str], **kwargs: bool) -> None:
        runs.append(key)
        real(state, key, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sim_controller, "sync_daemonset", counted)
    for pod in victims:
        fleet.delete_pod(pod.namespace, pod.name, pod.uid)
    after = fleet.observe()
    assert sorted(runs) == [("edge", "api"), ("edge", "web")]
    for name, gone in (("web", victims[:8]), ("api", victims[8:])):
        pods = pods_of(after, name)
        assert len(pods) == 20 and len({p.node for p in pods}) == 20
        replaced = [p for p in pods if p.node in {v.node for v in gone}]
        assert {p.revision_hash for p in replaced} == {new[name]}
        assert all(p.uid not in {v.uid for v in gone} for p in replaced)


def test_a_deleted_pod_is_replaced_before_the_clock_moves() -> None:
    """The queued controller run happens before `tick`: the replacement's age counts from the
    deletion, as when the controller runs at once."""
    fleet = SimCluster.create(namespaces=("edge",), groups=[("a", 2)])
    fleet.apply_daemonset(manifest())
    fleet.tick(10)
    victim = pods_of(fleet.observe())[0]
    fleet.delete_pod(victim.namespace, victim.name, victim.uid)
    fleet.tick(5)  # the pods become ready 5 s after they are created
    replaced = [p for p in pods_of(fleet.observe()) if p.node == victim.node]
    assert len(replaced) == 1 and replaced[0].ready
