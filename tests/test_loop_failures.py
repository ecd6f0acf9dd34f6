"""Failures are visible (issue 14 item 8): the loop logs every failed action and every plan
error with its reason — structured fields in JSON logs, at most 20 records per kind and
pass plus one summary — and counts them in `gitops_edge_errors_total` by kind."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, get_args

import pytest
from prometheus_client import generate_latest

from gitops_edge.cli.logs import make_logger
from gitops_edge.cluster.base import ClusterError
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model.desired import DesiredState, RepoConfig
from gitops_edge.model.observed import Condition
from gitops_edge.model.plan import Action, DeletePod, SetPodCondition
from gitops_edge.reconciler.apply import FAILED, ActionResult
from gitops_edge.reconciler.failures import ACTION_KINDS, KINDS
from gitops_edge.reconciler.loop import Loaded, LoopSettings, run_loop
from gitops_edge.reconciler.metrics import LoopMetrics
from gitops_edge.reconciler.reconcile import PassResult, load_desired, reconcile_once

CONFIG = """apiVersion: gitops-edge.io/v1alpha1
kind: RepositoryConfig
metadata:
  name: fleet
spec:
  defaultNamespace: default
"""
GROUPS = """apiVersion: gitops-edge.io/v1alpha1
kind: NodeGroup
metadata:
  name: a
spec:
  selector:
    matchLabels: {pool: a}
---
apiVersion: gitops-edge.io/v1alpha1
kind: NodeGroup
metadata:
  name: x
spec:
  selector:
    matchLabels: {zone: x}
"""
# web runs per group over a and x, which share node a-x: a plan error for both DaemonSets.
# log runs everywhere, all at once (100%): its pod deletions are the actions that fail.
WORKLOADS = """apiVersion: gitops-edge.io/v1alpha1
kind: EdgeDaemonSet
metadata:
  name: web
  namespace: default
spec:
  strategy:
    type: AdvancedRollingUpdate
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:1.19.4
  groups:
    - name: a
    - name: x
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: log
  namespace: default
  annotations:
    apps.openyurt.io/update-strategy: AdvancedRollingUpdate
    apps.openyurt.io/max-unavailable: 100%
spec:
  selector:
    matchLabels: {app: log}
  updateStrategy:
    type: OnDelete
  template:
    metadata:
      labels: {app: log}
    spec:
      containers:
        - name: log
          image: fluent/fluent-bit:TAG
"""
FORBIDDEN = (
    'pods "{name}" is forbidden: User "system:serviceaccount:gitops-edge:reconciler" cannot '
    'delete resource "pods" in API group "" in the namespace "{ns}" (403 Forbidden; see '
    "https://deploy:s3cret-token@git.example.com/fleet.git)"
)


def write_repo(root: Path, tag: str) -> Path:
    (root / "groups").mkdir(parents=True, exist_ok=True)
    (root / "gitops-edge.yaml").write_text(CONFIG)
    (root / "groups" / "groups.yaml").write_text(GROUPS)
    (root / "workloads.yaml").write_text(WORKLOADS.replace("TAG", tag))
    return root


def overlapping_fleet() -> SimCluster:
    cluster = SimCluster.create(groups=[("a", 3)], group_label_keys=("pool",))
    cluster.add_node("a-x", {"pool": "a", "zone": "x"})
    return cluster


@pytest.fixture
def failing_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, DesiredState]:
    """A fleet with overlapping groups whose `log` DaemonSet was updated to a new image, and a
    cluster that forbids pod deletions: the next pass has 4 failed deletions and 2 plan errors."""
    repo = write_repo(tmp_path / "repo", "3.0.0")
    cluster = overlapping_fleet()
    reconcile_once(load_desired(repo, revision="r1"), cluster)
    cluster.tick(30)  # every pod Ready

    def forbidden(namespace: str, name: str, uid: str) -> None:
        raise ClusterError(FORBIDDEN.format(name=name, ns=namespace))

    monkeypatch.setattr(cluster, "delete_pod", forbidden)
    return cluster, load_desired(write_repo(repo, "3.1.0"), revision="r2")


def one_pass(
    cluster: Any, desired: DesiredState, *, log: Any, metrics: LoopMetrics | None = None
) -> None:
    run_loop(
        load=lambda: Loaded(desired.revision, desired),
        reconcile=lambda d: reconcile_once(d, cluster),
        settings=LoopSettings(interval=0.01, max_passes=1),
        stop=threading.Event(),
        wake=threading.Event(),
        log=log,
        transient=(ClusterError,),
        **({"on_failures": metrics.record_failures} if metrics else {}),
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_each_failed_action_and_plan_error_is_a_structured_json_record(
    failing_pass: tuple[Any, DesiredState], capsys: pytest.CaptureFixture[str]
) -> None:
    cluster, desired = failing_pass
    one_pass(cluster, desired, log=make_logger("json"))
    err = capsys.readouterr().err
    records = json_lines(err)
    failed = [r for r in records if r.get("event") == "action_failed"]
    assert sorted(r["object"] for r in failed) == [
        f"Pod default/{p}" for p in sorted(pod_names(cluster, "log"))
    ]
    for record in failed:
        assert record["level"] == "error"
        assert record["kind"] == "action_delete_pod"
        pod = record["object"].removeprefix("Pod ")
        assert record["action"].startswith(f"delete pod {pod} on node ")
        assert record["reason"].startswith(f'pods "{pod.split("/")[1]}" is forbidden')
        assert "403 Forbidden" in record["reason"]
        assert record["revision"] == "r2"
    plan_errors = [r for r in records if r.get("event") == "plan_error"]
    assert sorted(r["object"] for r in plan_errors) == [
        "DaemonSet default/web-a",
        "DaemonSet default/web-x",
    ]
    for record in plan_errors:
        assert record["level"] == "error" and record["kind"] == "plan_daemonset"
        assert "node a-x is in groups a and x of workload web" in record["reason"]
    assert "s3cret-token" not in err and "//***@git.example.com" in err  # credentials masked
    summary = next(r for r in records if r["msg"] == "pass")
    assert (summary["failed"], summary["plan_errors"]) == (4, 2)  # typed, not "4"


def pod_names(cluster: SimCluster, daemonset: str) -> list[str]:
    return [p.name for p in cluster.observe().pods if p.owner_name == daemonset]


def test_text_log_names_the_action_object_and_reason(
    failing_pass: tuple[Any, DesiredState], capsys: pytest.CaptureFixture[str]
) -> None:
    cluster, desired = failing_pass
    one_pass(cluster, desired, log=make_logger("text"))
    lines = capsys.readouterr().err.splitlines()
    failed = [line for line in lines if "action failed" in line]
    assert len(failed) == 4
    assert all("delete pod default/log-" in line and "403 Forbidden" in line for line in failed)
    assert len([line for line in lines if "plan error" in line and "web-" in line]) == 2


def test_failures_are_counted_by_kind(failing_pass: tuple[Any, DesiredState]) -> None:
    cluster, desired = failing_pass
    metrics = LoopMetrics()
    one_pass(cluster, desired, log=lambda *a, **k: None, metrics=metrics)
    text = generate_latest(metrics.registry).decode()
    assert 'gitops_edge_errors_total{kind="action_delete_pod"} 4.0' in text
    assert 'gitops_edge_errors_total{kind="plan_daemonset"} 2.0' in text
    assert 'kind="action"' not in text  # replaced by the kinds of action


def test_ten_thousand_identical_failures_log_twenty_and_a_summary() -> None:
    def deletion(i: int) -> ActionResult:
        pod = DeletePod("ns", f"p{i}", "uid", f"n{i}", outside_budget=False, reason="outdated")
        return ActionResult(pod, FAILED, "503 Service Unavailable")

    needs = Condition("PodNeedUpgrade", "True")
    mark = SetPodCondition("ns", "q", "uid", "n", condition=needs, reason="mark")
    results = (*map(deletion, range(10_000)), ActionResult(mark, FAILED, "422 Invalid"))
    records: list[tuple[str, str, dict[str, Any]]] = []
    metrics = LoopMetrics()
    run_loop(
        load=lambda: Loaded("r", DesiredState("r", RepoConfig(), (), ())),
        reconcile=lambda d: PassResult(plans=(), results=results),
        settings=LoopSettings(interval=0.01, max_passes=1),
        stop=threading.Event(),
        wake=threading.Event(),
        log=lambda level, msg, **f: records.append((level, msg, f)),
        transient=(OSError,),
        on_failures=metrics.record_failures,
    )
    deletions = [f for _, _, f in records if f.get("kind") == "action_delete_pod"]
    assert [f["event"] for f in deletions] == ["action_failed"] * 20 + ["failures_suppressed"]
    assert [f["object"] for f in deletions[:3]] == ["Pod ns/p0", "Pod ns/p1", "Pod ns/p2"]
    summary = next(m for _, m, f in records if f.get("event") == "failures_suppressed")
    assert summary == "… and 9,980 more failed actions of kind action_delete_pod"
    assert deletions[-1]["count"] == 9980
    marks = [f for _, _, f in records if f.get("kind") == "action_set_condition"]
    assert len(marks) == 1 and marks[0]["reason"] == "422 Invalid"  # its own allowance
    text = generate_latest(metrics.registry).decode()
    assert 'gitops_edge_errors_total{kind="action_delete_pod"} 10000.0' in text
    assert 'gitops_edge_errors_total{kind="action_set_condition"} 1.0' in text


def test_the_loop_command_logs_plan_errors_and_serves_their_count(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", "3.0.0")
    sim = tmp_path / "fleet.json"
    SimCluster.init_file(sim, overlapping_fleet())
    command = [sys.executable, "-m", "gitops_edge", "reconcile", str(repo), "--cluster"]
    options = ["--interval", "3600", "--log-format", "json", "--metrics-addr", "127.0.0.1:0"]
    loop = subprocess.Popen(
        [*command, f"sim:{sim}", *options],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert loop.stderr is not None
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(r["msg"] == "pass" for r in records):
        records += json_lines(loop.stderr.readline())
    try:
        url = next(r["address"] for r in records if r["msg"] == "metrics served")
        with urllib.request.urlopen(url, timeout=10) as response:
            scraped = response.read().decode()
    finally:
        loop.terminate()
        loop.communicate(timeout=30)
    errors = [r for r in records if r.get("event") == "plan_error"]
    assert sorted(r["object"] for r in errors) == [
        "DaemonSet default/web-a",
        "DaemonSet default/web-x",
    ]
    assert 'gitops_edge_errors_total{kind="plan_daemonset"} 2.0' in scraped


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_credentials_never_reach_a_log_record(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = "https://deploy:s3cret-token@git.example.com/fleet.git"
    make_logger(fmt)("error", f"cannot fetch {url}", reason=f"fatal: {url}")
    err = capsys.readouterr().err
    assert "s3cret-token" not in err and err.count("https://***@git.example.com") == 2


def test_every_action_has_a_documented_kind() -> None:
    assert set(get_args(Action)) == set(ACTION_KINDS)
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert all(f"| `{kind}` |" in readme for kind in KINDS)
