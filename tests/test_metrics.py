"""The loop's Prometheus metrics: recorded from a real pass on the simulated cluster, served
over HTTP on loopback."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from loop_records import records_until_first_pass
from prometheus_client import generate_latest

from gitops_edge.cli.agent_cmd import parse_listen
from gitops_edge.cli.loop_cmd import start_metrics
from gitops_edge.cli.main import main
from gitops_edge.cluster.base import CloudUnreachableError, ClusterError
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model.desired import DesiredState, RepoConfig
from gitops_edge.model.plan import Plan
from gitops_edge.planner import plan
from gitops_edge.reconciler.failures import KINDS
from gitops_edge.reconciler.loop import Loaded, LoopSettings, run_loop
from gitops_edge.reconciler.metrics import LoopMetrics
from gitops_edge.reconciler.reconcile import PassResult, load_desired, reconcile_once
from gitops_edge.source.gitsource import GitSourceError

EXAMPLE = Path(__file__).resolve().parent.parent / "example-repo"


def test_metrics_after_a_pass_and_over_http() -> None:
    cluster = SimCluster.create(
        groups=[("hangzhou", 3), ("shanghai", 2)], group_label_keys=("apps.openyurt.io/nodepool",)
    )
    cluster.set_node_ready("shanghai-02", False)
    desired = load_desired(EXAMPLE, revision="abc123")
    outcome = reconcile_once(desired, cluster)
    cluster.tick(30)
    observed = cluster.observe()
    metrics = LoopMetrics()
    metrics.record_pass(
        desired=desired, observed=observed, plan=plan(desired, observed), seconds=0.25
    )
    metrics.record_error("GitSourceError")
    text = generate_latest(metrics.registry).decode()
    assert "gitops_edge_passes_total 1.0" in text
    assert 'gitops_edge_nodes{group="shanghai",state="NotReady"} 1.0' in text
    assert 'gitops_edge_nodes{group="hangzhou",state="Ready"} 3.0' in text
    assert (
        'gitops_edge_daemonset_nodes{daemonset="log-agent-hangzhou",group="hangzhou",'
        'namespace="edge-system",state="current",workload="log-agent"} 3.0'
    ) in text
    assert 'gitops_edge_last_applied_revision_info{revision="abc123"} 1.0' in text
    assert 'gitops_edge_errors_total{kind="GitSourceError"} 1.0' in text
    assert "gitops_edge_pass_duration_seconds_count 1.0" in text
    assert outcome.results
    server = metrics.serve("127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert b"gitops_edge_passes_total 1.0" in response.read()
    finally:
        server.shutdown()
        server.server_close()


# ── issue 17 item 7: metrics an operator can alert on ────────────────────────────────────────


def example_pass(**ready: bool) -> tuple[LoopMetrics, Plan]:
    """LoopMetrics after recording a pass of example-repo on a 5-node fleet (shanghai-02
    NotReady), and the plan recorded."""
    cluster = SimCluster.create(
        groups=[("hangzhou", 3), ("shanghai", 2)], group_label_keys=("apps.openyurt.io/nodepool",)
    )
    cluster.set_node_ready("shanghai-02", False)
    desired = load_desired(EXAMPLE, revision="abc123")
    reconcile_once(desired, cluster)
    cluster.tick(30)
    observed = cluster.observe()
    after = plan(desired, observed)
    metrics = LoopMetrics()
    metrics.record_pass(desired=desired, observed=observed, plan=after, seconds=0.25)
    return metrics, after


def record(plan_: Plan, metrics: LoopMetrics | None = None) -> str:
    """The exposition text after recording `plan_` (a plan of example-repo) as a pass."""
    metrics = metrics or LoopMetrics()
    desired = load_desired(EXAMPLE, revision=plan_.revision)
    observed = SimCluster.create(groups=[("hangzhou", 1)]).observe()
    metrics.record_pass(desired=desired, observed=observed, plan=plan_, seconds=1)
    return generate_latest(metrics.registry).decode()


def samples(metrics: LoopMetrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in metrics.registry.collect()
        for s in family.samples
        if s.name == name
    }


def test_daemonset_nodes_keep_two_namespaces_apart_and_are_named_as_nodes() -> None:
    metrics, after = example_pass()
    nginx = [ds for ds in after.daemonsets if ds.name == "nginx-daemonset"]
    assert sorted(ds.namespace for ds in nginx) == ["edge-apps", "ota-demo"]  # same workload
    nodes = samples(metrics, "gitops_edge_daemonset_nodes")
    for ds in nginx:
        for state, value in (("current", ds.progress.current), ("outdated", 0)):
            key = (
                ("daemonset", "nginx-daemonset"),
                ("group", "-"),
                ("namespace", ds.namespace),
                ("state", state),
                ("workload", "nginx-daemonset"),
            )
            assert nodes[key] == value
    hangzhou = {
        k: v for k, v in nodes.items() if ("daemonset", "log-agent-hangzhou") in k
    }  # current + outdated + updating = the nodes hosting it
    assert sorted((dict(k)["state"], v) for k, v in hangzhou.items()) == [
        ("current", 3.0),
        ("outdated", 0.0),
        ("updating", 0.0),
    ]
    assert "gitops_edge_pods" not in generate_latest(metrics.registry).decode()


def test_every_error_kind_has_a_series_before_the_first_error() -> None:
    metrics = LoopMetrics(pass_errors=(ClusterError, GitSourceError, OSError))
    errors = samples(metrics, "gitops_edge_errors_total")
    expected = {*KINDS, "ClusterError", "GitSourceError", "OSError"}
    assert {dict(k)["kind"] for k in errors} == expected
    assert set(errors.values()) == {0.0}
    # a failed pass counts under the transient error class it is one of: a bounded set
    metrics.record_failed_pass(CloudUnreachableError("link down"))
    metrics.record_failed_pass(FileNotFoundError("gone"))
    errors = samples(metrics, "gitops_edge_errors_total")
    assert errors[(("kind", "ClusterError"),)] == 1.0
    assert errors[(("kind", "OSError"),)] == 1.0
    assert len(errors) == len(expected)


def run_passes(metrics: LoopMetrics, loads: list[Loaded], *, fail: bool = False) -> None:
    def reconcile(desired: DesiredState) -> PassResult:
        if fail:
            raise ClusterError("the API server is down")
        return PassResult(plans=(), results=())

    pending = list(loads)
    run_loop(
        load=lambda: pending.pop(0),
        reconcile=reconcile,
        settings=LoopSettings(interval=0.01, max_passes=len(loads)),
        stop=threading.Event(),
        wake=threading.Event(),
        log=lambda *a, **k: None,
        transient=(ClusterError,),
        on_error=metrics.record_failed_pass,
        on_loaded=metrics.record_loaded,
        on_success=metrics.record_success,
    )


def good(revision: str) -> Loaded:
    return Loaded(revision, DesiredState(revision, RepoConfig(), (), ()))


def test_last_successful_pass_timestamp_moves_only_on_success() -> None:
    metrics = LoopMetrics()
    name = "gitops_edge_last_successful_pass_timestamp_seconds"
    assert samples(metrics, name) == {(): 0.0}
    run_passes(metrics, [good("r1")], fail=True)
    assert samples(metrics, name) == {(): 0.0}
    before = time.time()
    run_passes(metrics, [good("r1")])
    (stamp,) = samples(metrics, name).values()
    assert before <= stamp <= time.time()


def test_invalid_revision_is_a_gauge_with_its_revision() -> None:
    metrics = LoopMetrics()
    assert samples(metrics, "gitops_edge_invalid_revision") == {(): 0.0}
    run_passes(metrics, [good("r1"), Loaded("r2", None)])
    assert samples(metrics, "gitops_edge_invalid_revision") == {(): 1.0}
    assert samples(metrics, "gitops_edge_invalid_revision_info") == {(("revision", "r2"),): 1.0}
    run_passes(metrics, [good("r3")])
    assert samples(metrics, "gitops_edge_invalid_revision") == {(): 0.0}
    assert samples(metrics, "gitops_edge_invalid_revision_info") == {}


def test_halted_groups_and_deferred_nodes_are_gauges_per_daemonset() -> None:
    _, after = example_pass()
    target = next(ds for ds in after.daemonsets if ds.name == "log-agent-shanghai")
    changed = replace(
        target, halted="3 new pods not available", progress=replace(target.progress, deferred=1)
    )
    daemonsets = tuple(changed if ds is target else ds for ds in after.daemonsets)
    metrics = LoopMetrics()
    record(replace(after, daemonsets=daemonsets), metrics)
    key = (
        ("daemonset", "log-agent-shanghai"),
        ("group", "shanghai"),
        ("namespace", "edge-system"),
        ("workload", "log-agent"),
    )
    halted = samples(metrics, "gitops_edge_daemonset_halted")
    assert halted[key] == 1.0
    assert len(halted) == len(after.daemonsets) and sum(halted.values()) == 1.0  # 0 elsewhere
    deferred = samples(metrics, "gitops_edge_daemonset_deferred_nodes")
    assert deferred[key] == 1.0 and sum(deferred.values()) == 1.0


def by_kind_and_state(metrics: LoopMetrics, name: str) -> dict[tuple[str, str], float]:
    return {(dict(k)["kind"], dict(k)["state"]): v for k, v in samples(metrics, name).items()}


def test_node_jobs_are_counted_by_kind_and_state() -> None:
    metrics, after = example_pass()
    jobs = by_kind_and_state(metrics, "gitops_edge_node_jobs")
    assert jobs[("NodeUpgradeJob", "Completed")] == 2.0
    assert jobs[("ImagePrePullJob", "Failure")] == 2.0
    assert jobs[("NodeUpgradeJob", "Failure")] == 0.0  # every state has a series
    tasks = by_kind_and_state(metrics, "gitops_edge_node_job_nodes")
    assert tasks[("NodeUpgradeJob", "Successful")] == 7.0
    assert tasks[("ImagePrePullJob", "Failure")] == 1.0
    assert tasks[("ImagePrePullJob", "Successful")] == 1.0
    assert sum(len(j.nodes) for j in after.jobs) == sum(tasks.values())


def test_process_and_platform_metrics_are_served() -> None:
    text = generate_latest(LoopMetrics().registry).decode()
    assert "process_resident_memory_bytes" in text
    assert "process_cpu_seconds_total" in text
    assert "python_info{" in text


def test_pass_duration_buckets_reach_ten_minutes() -> None:
    metrics = LoopMetrics()
    metrics.duration.observe(200)
    buckets = samples(metrics, "gitops_edge_pass_duration_seconds_bucket")
    bounds = {dict(k)["le"]: v for k, v in buckets.items()}
    assert bounds["600.0"] == 1.0 and bounds["120.0"] == 0.0 and "300.0" in bounds


@pytest.mark.parametrize("address", [":0", "0.0.0.0:0"])
def test_metrics_addr_colon_port_listens_on_every_interface(address: str) -> None:
    assert parse_listen(":8080") == ("0.0.0.0", 8080)  # as Prometheus exporters read it
    lines: list[dict[str, Any]] = []
    metrics = start_metrics(address, lambda level, msg, **f: lines.append(f))
    assert metrics is not None
    url = lines[0]["address"]
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            assert b"gitops_edge_passes_total" in response.read()
    finally:
        metrics.server.shutdown()
        metrics.server.server_close()


def test_the_agent_reads_colon_port_the_same_way(capsys: pytest.CaptureFixture[str]) -> None:
    """`:PORT` is every interface for the agent too: not loopback, so --allow-remote."""
    assert main(["agent", "--node", "edge-01", "--cluster", "sim:/nowhere", "--listen", ":1"]) == 2
    assert "--listen :1: not a loopback address" in capsys.readouterr().err


SUCCESS = "gitops_edge_last_successful_pass_timestamp_seconds"


def test_the_loop_command_serves_the_new_metrics(tmp_path: Path) -> None:
    sim = tmp_path / "fleet.json"
    SimCluster.init_file(sim, SimCluster.create(groups=[("hangzhou", 2)]))
    command = [sys.executable, "-m", "gitops_edge", "reconcile", str(EXAMPLE)]
    options = ["--interval", "3600", "--log-format", "json", "--metrics-addr", ":0"]
    loop = subprocess.Popen(
        [*command, "--cluster", f"sim:{sim}", *options],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        records = records_until_first_pass(loop)
        url = next(r["address"] for r in records if r["msg"] == "metrics served")
        stamp = 0.0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not stamp:  # set just after the `pass` line
            with urllib.request.urlopen(url, timeout=10) as response:
                scraped = response.read().decode()
            found = re.search(rf"^{SUCCESS} (\S+)$", scraped, re.M)
            stamp = float(found.group(1)) if found else 0.0
    finally:
        loop.terminate()
        loop.communicate(timeout=30)
    assert stamp > 0
    assert "gitops_edge_invalid_revision 0.0" in scraped
    assert 'gitops_edge_errors_total{kind="GitSourceError"} 0.0' in scraped
    assert 'gitops_edge_errors_total{kind="ClusterError"} 0.0' in scraped
    assert "process_start_time_seconds" in scraped


ALERT_METRIC = re.compile(r"\b((?:gitops_edge|process)_[a-z0-9_]+)")


def readme_alerts() -> dict[str, Any]:
    readme = (EXAMPLE.parent / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", readme, re.S)
    (rule,) = [yaml.safe_load(b) for b in blocks if "kind: PrometheusRule" in b]
    assert isinstance(rule, dict)
    return rule


def test_readme_alerts_name_metrics_the_registry_serves() -> None:
    rule = readme_alerts()
    assert rule["apiVersion"] == "monitoring.coreos.com/v1" and rule["kind"] == "PrometheusRule"
    metrics, _ = example_pass()
    served = {s.name for family in metrics.registry.collect() for s in family.samples}
    served |= {family.name for family in metrics.registry.collect()}
    alerts = [r for group in rule["spec"]["groups"] for r in group["rules"]]
    names = {a["alert"] for a in alerts}
    assert {"GitopsEdgeReconcileStuck", "GitopsEdgeInvalidRevision"} <= names
    assert "GitopsEdgeRolloutHalted" in names
    for alert in alerts:
        named = set(ALERT_METRIC.findall(alert["expr"]))
        assert named, alert["alert"]
        assert named <= served, (alert["alert"], named - served)
        assert alert["labels"]["severity"] and alert["annotations"]["summary"]


def test_a_node_group_matching_no_node_is_a_warning_gauge() -> None:
    """example-repo's beijing and shenzhen groups match none of the 5 nodes (issue 18 item 6)."""
    metrics, after = example_pass()
    assert [w.group for w in after.empty_groups] == ["beijing", "shenzhen"]
    empty = {
        dict(k)["group"]: v for k, v in samples(metrics, "gitops_edge_nodegroup_empty").items()
    }
    assert empty == {"beijing": 1.0, "hangzhou": 0.0, "shanghai": 0.0, "shenzhen": 1.0}


def test_nodes_per_group_come_from_a_label_index_not_every_group_times_every_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`gitops_edge_nodes` counts each group's members (selector or explicit node list) by
    Ready state; they are looked up in a label index, not by asking every group about every
    node (1,000 groups × 100,000 nodes was most of a steady pass at that scale)."""
    from gitops_edge.model.desired import LabelRequirement, LabelSelector, NodeGroup, SourceRef
    from gitops_edge.model.observed import Node, Observed

    nodes = tuple(
        Node(name=f"n{i:03d}", labels={"pool": f"p{i % 20}", "zone": f"z{i % 3}"}, ready=i % 7 > 0)
        for i in range(200)
    )
    where = SourceRef(file="groups.yaml", line=1)
    groups = [
        NodeGroup(
            name=f"p{g}",
            selector=LabelSelector(match_labels=(("pool", f"p{g}"),)),
            nodes=(),
            source=where,
        )
        for g in range(20)
    ]
    groups.append(
        NodeGroup(
            name="mixed",
            selector=LabelSelector(
                match_expressions=(LabelRequirement(key="zone", operator="NotIn", values=("z0",)),)
            ),
            nodes=("n000", "n003", "absent"),
            source=where,
        )
    )
    desired = DesiredState(revision="r", config=RepoConfig(), groups=tuple(groups), daemonsets=())
    observed = Observed(now=0.0, nodes=nodes, daemonsets=(), pods=())
    expected = {}
    for group in groups:
        members = [n for n in nodes if group.contains(n.name, n.labels)]
        ready = sum(n.ready for n in members)
        expected[(group.name, "Ready")] = float(ready)
        expected[(group.name, "NotReady")] = float(len(members) - ready)
    asked = []
    contains = NodeGroup.contains
    monkeypatch.setattr(
        NodeGroup, "contains", lambda self, n, labels: asked.append(n) or contains(self, n, labels)
    )
    metrics = LoopMetrics()
    metrics.record_pass(
        desired=desired,
        observed=observed,
        plan=Plan(revision="r", now=0.0, daemonsets=()),
        seconds=1,
    )
    counted = {
        (s.labels["group"], s.labels["state"]): s.value
        for family in metrics.registry.collect()
        if family.name == "gitops_edge_nodes"
        for s in family.samples
    }
    assert counted == expected
    assert len(asked) <= len(nodes)


def test_nodes_per_group_follow_the_nodes_that_changed_without_a_new_label_index(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At 100,000 nodes, a pass after one node turned Ready built a label index of every node
    again for `gitops_edge_nodes` (0.26 s of a 1.15 s pass): while the groups are the same, the
    previous counts are updated from the nodes that changed (readiness, labels, added,
    removed), and equal counts made afresh."""
    from gitops_edge.model.desired import LabelSelector, NodeGroup, SourceRef
    from gitops_edge.model.observed import Node, Observed
    from gitops_edge.planner import index

    where = SourceRef(file="groups.yaml", line=1)
    groups = tuple(
        NodeGroup(
            name=f"p{g}",
            selector=LabelSelector(match_labels=(("pool", f"p{g}"),)),
            nodes=("n000",) if g == 0 else (),
            source=where,
        )
        for g in range(4)
    )
    desired = DesiredState(revision="r", config=RepoConfig(), groups=groups, daemonsets=())
    nodes = [Node(name=f"n{i:03d}", labels={"pool": f"p{i % 4}"}, ready=True) for i in range(40)]

    def counted(metrics: LoopMetrics, nodes: list[Node]) -> dict[tuple[str, str], float]:
        metrics.record_pass(
            desired=desired,
            observed=Observed(now=0.0, nodes=tuple(nodes), daemonsets=(), pods=()),
            plan=Plan(revision="r", now=0.0, daemonsets=()),
            seconds=1,
        )
        return {
            (s.labels["group"], s.labels["state"]): s.value
            for family in metrics.registry.collect()
            if family.name == "gitops_edge_nodes"
            for s in family.samples
        }

    metrics = LoopMetrics()
    counted(metrics, nodes)
    built: list[int] = []
    label_index = index.LabelIndex.of
    monkeypatch.setattr(index.LabelIndex, "of", lambda n: built.append(1) or label_index(n))
    nodes[0] = replace(nodes[0], ready=False)  # in p0 by name and by label
    nodes[5] = replace(nodes[5], labels={"pool": "p2"}, ready=False)  # p1 -> p2
    del nodes[9]
    nodes.append(Node(name="n900", labels={"pool": "p3"}, ready=True))
    after = counted(metrics, nodes)
    assert not built
    monkeypatch.setattr(index.LabelIndex, "of", label_index)
    assert after == counted(LoopMetrics(), nodes)
    assert after[("p1", "NotReady")] == 0.0 and after[("p2", "NotReady")] == 1.0


# ── issue 20: a steady pass sets only the series whose value changed ─────────────────────────


def _count_labels(metrics: LoopMetrics, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the per-DaemonSet and per-group gauges, one per `labels(...)` call (a series
    looked up to be set) from now on."""
    touched: list[str] = []
    for gauge in (
        metrics.daemonset_nodes,
        metrics.deferred,
        metrics.halted,
        metrics.nodes,
        metrics.empty_groups,
    ):
        original = gauge.labels

        def counting(*a: Any, _o: Any = original, _g: Any = gauge, **k: Any) -> Any:
            touched.append(_g._name)
            return _o(*a, **k)

        monkeypatch.setattr(gauge, "labels", counting)
    return touched


def test_an_unchanged_pass_touches_no_per_daemonset_or_per_group_series(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """10,000 DaemonSets × 5 series set at every pass were most of a steady pass's "rest" at
    100,000 nodes: a pass whose figures did not change sets none of them, and the exposition
    is the same."""
    cluster = SimCluster.create(
        groups=[("hangzhou", 3), ("shanghai", 2)], group_label_keys=("apps.openyurt.io/nodepool",)
    )
    cluster.set_node_ready("shanghai-02", False)
    desired = load_desired(EXAMPLE, revision="abc123")
    reconcile_once(desired, cluster)
    observed = cluster.observe()
    after = plan(desired, observed)
    metrics = LoopMetrics()
    metrics.record_pass(desired=desired, observed=observed, plan=after, seconds=0.25)
    before = {
        n: samples(metrics, n)
        for n in ("gitops_edge_daemonset_nodes", "gitops_edge_nodes", "gitops_edge_nodegroup_empty")
    }
    touched = _count_labels(metrics, monkeypatch)
    again = cluster.observe()
    metrics.record_pass(desired=desired, observed=again, plan=plan(desired, again), seconds=0.25)
    assert touched == []
    assert {n: samples(metrics, n) for n in before} == before


def test_a_changed_daemonset_sets_only_its_series_and_a_gone_one_loses_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    metrics, after = example_pass()
    first, *rest = after.daemonsets
    progress = replace(first.progress, outdated=first.progress.outdated + 7)
    changed = replace(after, daemonsets=(replace(first, progress=progress), *rest[1:]))
    touched = _count_labels(metrics, monkeypatch)
    record(changed, metrics)
    # Only the changed figure's series is set (the gone DaemonSet's are removed, not set).
    assert [t for t in touched if "daemonset" in t] == ["gitops_edge_daemonset_nodes"]
    fresh = LoopMetrics()
    record(changed, fresh)
    for name in (
        "gitops_edge_daemonset_nodes",
        "gitops_edge_daemonset_deferred_nodes",
        "gitops_edge_daemonset_halted",
        "gitops_edge_nodes",
        "gitops_edge_nodegroup_empty",
    ):
        assert samples(metrics, name) == samples(fresh, name), name
    gone = {("daemonset", rest[0].name), ("namespace", rest[0].namespace)}
    assert not [k for k in samples(metrics, "gitops_edge_daemonset_halted") if gone <= set(k)]
