"""Kubernetes Events end to end on the simulated cluster, through the command line: a rollout
records Applied, PodsDeleted and RolloutComplete on its DaemonSets with the revision; a broken
image RolloutHalted and RolledBack (Warnings); a failed action an ApplyFailed Warning, counted
on one Event pass after pass; `--no-events` records none; an Event that cannot be written never
fails the pass and is logged once."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from test_rollout_policy import WAVES, write

from gitops_edge.cli.main import main
from gitops_edge.cluster.base import ClusterError
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model.events import Event
from gitops_edge.reconciler.event_recorder import EventRecorder
from gitops_edge.reconciler.reconcile import load_desired, reconcile_once

BROKEN = "registry.example.com/agent:2"


@pytest.fixture
def sim(tmp_path: Path) -> Path:
    state = tmp_path / "fleet.json"
    groups = ["--groups", "canary=2,north=3,south=3", "--namespaces", "edge"]
    assert main(["sim", "init", str(state), *groups]) == 0
    return state


def passes(repo: Path, sim: Path, count: int, *extra: str) -> list[int]:
    codes = []
    for _ in range(count):
        codes.append(main(["reconcile", str(repo), "--cluster", f"sim:{sim}", "--once", *extra]))
        assert main(["sim", "tick", str(sim), "--seconds", "10"]) == 0
    return codes


def events(sim: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["sim", "events", str(sim), "--format", "json"]) == 0
    listed: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return listed


def on(listed: list[dict[str, Any]], name: str) -> list[tuple[str, str]]:
    return [(e["type"], e["reason"]) for e in listed if e["involvedObject"]["name"] == name]


def test_a_rollout_halt_and_rollback_are_events_on_the_daemonsets(
    tmp_path: Path, sim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    policy = WAVES.format(bake=0, rollback="true", wait="false")
    write(repo, image="1", rollout=policy)
    passes(repo, sim, 4)
    listed = events(sim, capsys)
    canary = next(e for e in listed if e["involvedObject"]["name"] == "agent-canary")
    assert canary["type"] == "Normal" and canary["reason"] == "Applied"
    assert canary["message"].startswith("create DaemonSet edge/agent-canary")
    assert canary["message"].endswith("(revision worktree)")
    assert canary["metadata"]["annotations"] == {"gitops-edge.io/revision": "worktree"}
    assert canary["metadata"]["namespace"] == "edge"
    assert canary["involvedObject"]["uid"]  # observed in the pass's second round
    assert canary["source"] == {"component": "gitops-edge"}
    assert ("Normal", "RolloutComplete") in on(listed, "agent-canary")

    assert main(["sim", "image", str(sim), BROKEN, "--broken"]) == 0
    write(repo, image="2", rollout=policy)
    passes(repo, sim, 20)
    listed = events(sim, capsys)
    canary_events = on(listed, "agent-canary")
    assert ("Normal", "PodsDeleted") in canary_events
    assert ("Warning", "RolloutHalted") in canary_events
    assert ("Warning", "RolledBack") in canary_events
    assert on(listed, "agent-north").count(("Normal", "Applied")) == 2  # no pods moved there
    capsys.readouterr()
    assert main(["sim", "events", str(sim)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split() == [
        "LAST",
        "SEEN",
        "TYPE",
        "REASON",
        "OBJECT",
        "COUNT",
        "MESSAGE",
    ]
    assert "Warning  RolloutHalted" in text and "daemonset/edge/agent-canary" in text


def test_a_failed_action_is_a_warning_counted_on_one_event(
    tmp_path: Path, sim: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(self: SimCluster, manifest: Any) -> None:
        raise ClusterError('admission webhook "policy" denied the request')

    monkeypatch.setattr(SimCluster, "apply_daemonset", refused)
    repo = tmp_path / "repo"
    write(repo, image="1", groups=("canary",), rollout="    progressDeadlineSeconds: 60")
    assert passes(repo, sim, 2) == [1, 1]
    (failed,) = events(sim, capsys)
    assert (failed["type"], failed["reason"], failed["count"]) == ("Warning", "ApplyFailed", 2)
    assert failed["message"] == (
        "create DaemonSet edge/agent-canary (workload agent, group canary) from agent.yaml:20: "
        "failed: admission webhook "
        '"policy" denied the request (revision worktree)'
    )
    assert failed["firstTimestamp"] != failed["lastTimestamp"]


def test_no_events_records_none(
    tmp_path: Path, sim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    write(repo, image="1")
    passes(repo, sim, 2, "--no-events")
    assert events(sim, capsys) == []
    write(repo, image="2")
    passes(repo, sim, 1)
    assert ("Normal", "Applied") in on(events(sim, capsys), "agent-canary")


def test_events_that_cannot_be_written_never_fail_the_pass(
    tmp_path: Path, sim: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: SimCluster, events: Sequence[Event]) -> None:
        raise ClusterError("create Event edge/x.1: 403 events is forbidden")

    monkeypatch.setattr(SimCluster, "record_events", broken)
    repo = tmp_path / "repo"
    write(repo, image="1")
    capsys.readouterr()
    assert main(["reconcile", str(repo), "--cluster", f"sim:{sim}", "--once"]) == 0
    out, err = capsys.readouterr()
    assert "ok   create DaemonSet edge/agent-canary" in out
    assert "cannot record Kubernetes Events" in err and "403 events is forbidden" in err
    with SimCluster.open(sim, read_only=True) as cluster:
        assert len(cluster.observe().daemonsets) == 3  # the pass was saved


def test_a_failure_to_record_is_logged_once_until_events_are_written_again(
    tmp_path: Path,
) -> None:
    lines: list[tuple[str, str]] = []
    recorder = EventRecorder(enabled=True, log=lambda level, msg, **_: lines.append((level, msg)))
    repo = tmp_path / "repo"
    write(repo, image="1")
    desired = load_desired(repo, revision="r1")
    cluster = SimCluster.create(
        groups=[("canary", 2), ("north", 1), ("south", 1)], namespaces=("edge",)
    )
    outcome = reconcile_once(desired, cluster)
    failures = iter(
        ["create Event edge/a.1: 403 forbidden", "create Event edge/b.2: 403 forbidden"]
    )

    def failing(events: Sequence[Event]) -> None:
        raise ClusterError(next(failures))

    real = cluster.record_events
    cluster.record_events = failing  # type: ignore[method-assign]
    assert recorder.record(outcome, cluster=cluster, revision="r1")
    assert recorder.record(outcome, cluster=cluster, revision="r1")
    assert [level for level, _ in lines] == ["warning"]  # the same failure: logged once
    cluster.record_events = real  # type: ignore[method-assign]
    recorder.record(outcome, cluster=cluster, revision="r1")
    assert lines[-1] == ("info", "Kubernetes Events are recorded again")
    assert cluster.events()


def test_events_expire_an_hour_after_they_were_last_seen_on_the_simulated_clock(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    write(repo, image="1")
    cluster = SimCluster.create(
        groups=[("canary", 2), ("north", 1), ("south", 1)], namespaces=("edge",)
    )
    outcome = reconcile_once(load_desired(repo, revision="r1"), cluster)
    recorded = EventRecorder(enabled=True, log=lambda *_, **__: None).record(
        outcome, cluster=cluster, revision="r1"
    )
    assert len(cluster.events()) == len(recorded) > 0
    cluster.tick(3600)
    assert len(cluster.events()) == len(recorded)
    cluster.tick(1)
    assert cluster.events() == []
