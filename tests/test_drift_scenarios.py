"""Drift end to end (issue 14 item 7): a DaemonSet changed in the cluster by hand, keeping
gitops-edge's spec-hash annotation, is reported (plan, status, metric) and restored by the next
pass: on the simulated cluster (`gitops-edge sim set-image`, `SimCluster.edit_daemonset`) and on
the stand-in API server through the official client (which stores what it is given as a real
server does: defaults added, quantities in canonical form, so nothing else counts as drift)."""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube_standin import StandIn, running
from prometheus_client import generate_latest
from test_kube_adapter import node

from gitops_edge.cli.main import main
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model.desired import DesiredState
from gitops_edge.planner import plan
from gitops_edge.reconciler.loop import Loaded, LoopSettings, run_loop
from gitops_edge.reconciler.metrics import LoopMetrics
from gitops_edge.reconciler.reconcile import PassResult, load_desired, reconcile_once
from gitops_edge.source.status import status_files

EXAMPLE = Path(__file__).resolve().parent.parent / "example-repo"
DS = "edge-system/log-agent-shanghai"
IMAGE = "registry.example.com/edge/log-agent"
PATH = "spec.template.spec.containers[name=agent].image"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out + err


def show(state: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out = cli(capsys, "sim", "show", state, "--format", "json")
    assert code == 0
    data: dict[str, Any] = json.loads(out)
    return data


def log_agent(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    ds = next(d for d in data["daemonsets"] if f"{d['namespace']}/{d['name']}" == DS)
    pods = sorted(p["name"] for p in data["pods"] if p["owner"] == "log-agent-shanghai")
    return ds, pods


def test_sim_set_image_is_reported_by_plan_and_restored_by_the_next_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(tmp_path / "fleet.json")
    cluster = f"sim:{state}"
    assert cli(capsys, "sim", "init", state, "--groups", "hangzhou=3,shanghai=4")[0] == 0
    assert cli(capsys, "reconcile", str(EXAMPLE), "--cluster", cluster, "--once")[0] == 0
    assert cli(capsys, "sim", "tick", state, "--seconds", "30")[0] == 0
    before, pods = log_agent(show(state, capsys))

    code, out = cli(capsys, "sim", "set-image", state, DS, f"agent={IMAGE}:6.6.6")
    assert code == 0 and f"DaemonSet {DS}: container agent now runs {IMAGE}:6.6.6" in out
    edited, _ = log_agent(show(state, capsys))  # as kubectl set image: a new template revision
    assert edited["currentRevision"] != before["currentRevision"]
    assert edited["generation"] == before["generation"] + 1

    code, out = cli(capsys, "plan", str(EXAMPLE), "--cluster", cluster)
    assert code == 0
    assert f"  drift: {PATH}\n" in out
    assert re.search(
        rf"\n  - restore DaemonSet {DS} \(workload log-agent, group shanghai\) from "
        rf"workloads/log-agent.yaml:\d+: drifted from the repository at {re.escape(PATH)} "
        rf"\({IMAGE}:6.6.6 in the cluster, {IMAGE}:1.4.2 in git\)\n",
        out,
    ), out
    assert "delete pod edge-system/log-agent-shanghai" not in out  # never towards the edit
    # example-repo's beijing and shenzhen groups match none of this fleet's nodes: 2 warnings
    assert out.rstrip().endswith(", 1 DaemonSets drifted from the repository, 2 warnings")

    code, out = cli(capsys, "reconcile", str(EXAMPLE), "--cluster", cluster, "--once")
    assert code == 0 and f"ok   restore DaemonSet {DS} " in out
    after, same_pods = log_agent(show(state, capsys))
    # The revision hash is the template's: the repository's template is back (its revision
    # made newest again), and the pods, which never left it (OnDelete), are all still there.
    assert after["currentRevision"] == before["currentRevision"]
    assert same_pods == pods and after["updated"] == after["desired"] == 4

    code, out = cli(capsys, "plan", str(EXAMPLE), "--cluster", cluster, "--format", "json")
    assert json.loads(out)["summary"]["drifted"] == 0  # restored: nothing more to do


def test_sim_set_image_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = str(tmp_path / "fleet.json")
    assert cli(capsys, "sim", "init", state, "--groups", "shanghai=1")[0] == 0
    assert cli(capsys, "reconcile", str(EXAMPLE), "--cluster", f"sim:{state}", "--once")[0] == 0
    for argv, needle in (
        ([DS, "agent"], "write CONTAINER=IMAGE, e.g. agent=nginx:1.26"),
        (["log-agent-shanghai", "agent=x:1"], "write NAMESPACE/NAME"),
        (["edge-system/nope", "agent=x:1"], 'daemonsets.apps "nope" not found'),
        ([DS, "sidecar=x:1"], "has no container named 'sidecar' (its containers: agent, "),
    ):
        code, out = cli(capsys, "sim", "set-image", state, *argv)
        assert code == 2 and needle in out, out


def test_a_rolling_update_edited_by_hand_is_rolled_back_by_its_controller() -> None:
    """`kubectl edit` of a RollingUpdate DaemonSet: the controller replaces its pods with the
    edit at once; the restore puts the repository's template back and the controller follows."""
    cluster = SimCluster.create(
        groups=[("hangzhou", 2)], group_label_keys=("apps.openyurt.io/nodepool",)
    )
    desired = load_desired(EXAMPLE, revision="r1")
    reconcile_once(desired, cluster)
    cluster.tick(60)
    key = ("monitoring", "node-exporter-hangzhou")

    def hand_edit(ds: dict[str, Any]) -> None:
        container = ds["spec"]["template"]["spec"]["containers"][0]
        container["image"] = "quay.io/prometheus/node-exporter:v0.0.1"
        container["args"] = container["args"][:1]
        ds["metadata"]["labels"]["owner"] = "someone"  # a label the repository does not set

    cluster.edit_daemonset(*key, hand_edit)
    cluster.tick(60)
    running = {p.name: p for p in cluster.observe().pods if p.owner_name == key[1]}
    images = {
        c["image"]
        for p in cluster.node_pods("hangzhou-01") + cluster.node_pods("hangzhou-02")
        if p["metadata"]["name"] in running
        for c in p["spec"]["containers"]
    }
    assert "quay.io/prometheus/node-exporter:v0.0.1" in images  # the edit rolled out

    outcome = reconcile_once(desired, cluster)
    (drifted,) = outcome.drifted
    assert (drifted.namespace, drifted.name) == key
    assert drifted.drift == (  # in the manifest's order (rendered with sorted keys)
        "spec.template.spec.containers[name=node-exporter].args",
        "spec.template.spec.containers[name=node-exporter].image",
    )
    cluster.tick(120)
    again = plan(desired, cluster.observe())
    ds = next(d for d in again.daemonsets if (d.namespace, d.name) == key)
    assert ds.drift == () and ds.progress.current == ds.progress.nodes == 2
    pods = cluster.node_pods("hangzhou-01")
    assert any(
        c["image"] == "quay.io/prometheus/node-exporter:v1.8.2"
        for p in pods
        for c in p["spec"]["containers"]
    )


def test_status_files_and_metrics_report_the_drift_a_pass_restored() -> None:
    cluster = SimCluster.create(
        groups=[("hangzhou", 2), ("shanghai", 2)], group_label_keys=("apps.openyurt.io/nodepool",)
    )
    desired = load_desired(EXAMPLE, revision="r1")
    reconcile_once(desired, cluster)
    cluster.tick(30)
    cluster.set_image("edge-system", "log-agent-shanghai", container="agent", image="x/y:6")
    outcome = reconcile_once(desired, cluster)
    observed = cluster.observe()
    after = plan(desired, observed)
    assert all(ds.drift == () for ds in after.daemonsets)  # restored

    files = status_files(desired, after, drift=outcome.drift)
    rows = {g["daemonSet"]: g for g in json.loads(files["log-agent.json"])["groups"]}
    assert rows[DS]["drift"] == [PATH]
    assert rows["edge-system/log-agent-hangzhou"]["drift"] == []
    summary = files["README.md"]
    assert "2 DaemonSets drifted" not in summary and ", 1 DaemonSets drifted from the" in summary
    assert "## Drift\n" in summary and f"- `{DS}`: `{PATH}`" in summary
    assert "## Drift" not in status_files(desired, after)["README.md"]  # the next, quiet pass

    metrics = LoopMetrics()
    metrics.record_pass(
        desired=desired,
        observed=observed,
        plan=after,
        seconds=0.1,
        drifted=outcome.drifted,
    )
    text = generate_latest(metrics.registry).decode()
    assert 'gitops_edge_drift_total{group="shanghai",workload="log-agent"} 1.0' in text
    assert "gitops_edge_drifted_daemonsets 1.0" in text


def test_the_loop_logs_each_drifted_daemonset() -> None:
    cluster = SimCluster.create(
        groups=[("shanghai", 2)], group_label_keys=("apps.openyurt.io/nodepool",)
    )
    desired = load_desired(EXAMPLE, revision="r1")
    edits = [
        lambda: None,
        lambda: cluster.set_image(*DS.split("/"), container="agent", image="x:6"),
    ]
    lines: list[tuple[str, str, dict[str, Any]]] = []

    def reconcile(d: DesiredState) -> PassResult:
        edits.pop(0)()
        return reconcile_once(d, cluster)

    run_loop(
        load=lambda: Loaded("r1", desired),
        reconcile=reconcile,
        settings=LoopSettings(interval=0.01, max_passes=2),
        stop=threading.Event(),
        wake=threading.Event(),
        log=lambda level, message, **fields: lines.append((level, message, fields)),
        transient=(OSError,),
    )
    drift = [line for line in lines if line[1] == "drifted from the repository"]
    assert drift == [
        (
            "warning",
            "drifted from the repository",
            {"daemonset": DS, "fields": PATH, "restored": True},
        )
    ]


# ── the stand-in API server, through the official client ─────────────────────────────────────


@pytest.fixture
def api() -> Iterator[StandIn]:
    with running() as standin:
        yield standin


def normalised_repo(tmp_path: Path) -> Path:
    """example-repo with quantities the API server rewrites (0.2 → 200m, 131072Ki → 128Mi)."""
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo)
    workload = repo / "workloads" / "log-agent.yaml"
    text = workload.read_text()
    assert "limits: {cpu: 200m, memory: 128Mi}" in text
    workload.write_text(
        text.replace("limits: {cpu: 200m, memory: 128Mi}", "limits: {cpu: 0.2, memory: 131072Ki}")
    )
    return repo


def test_kube_hand_edit_is_restored_and_server_normalisation_is_not_drift(
    api: StandIn,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api.job_versions = ["v1alpha1", "v1alpha2"]
    for group, count in (("hangzhou", 2), ("shanghai", 2)):
        for i in range(count):
            api.put("nodes", node(f"{group}-{i}", pool=group))
    monkeypatch.setenv("KUBECONFIG", str(api.kubeconfig(tmp_path / "kubeconfig")))
    repo = str(normalised_repo(tmp_path))
    assert cli(capsys, "reconcile", repo, "--cluster", "kube", "--once")[0] == 0
    stored = api.store["daemonsets"][("edge-system", "log-agent-shanghai")]
    agent = stored["spec"]["template"]["spec"]["containers"][0]
    assert agent["resources"]["limits"] == {"cpu": "200m", "memory": "128Mi"}  # as a server
    assert agent["terminationMessagePath"] == "/dev/termination-log"

    code, out = cli(capsys, "plan", repo, "--cluster", "kube", "--format", "json")
    assert json.loads(out)["summary"]["applies"] == 0  # normalised, defaulted: not drift

    def set_image(ds: dict[str, Any]) -> None:  # kubectl set image daemonset/… agent=…:6.6.6
        ds["spec"]["template"]["spec"]["containers"][0]["image"] = f"{IMAGE}:6.6.6"

    generation = stored["metadata"]["generation"]
    api.edit_daemonset("edge-system", "log-agent-shanghai", set_image)
    assert (
        api.store["daemonsets"][("edge-system", "log-agent-shanghai")]["metadata"]["generation"]
        == generation + 1
    )

    code, out = cli(capsys, "reconcile", repo, "--cluster", "kube", "--once")
    assert code == 0
    assert re.search(
        rf"ok   restore DaemonSet {DS} .*: drifted from the repository at "
        rf"{re.escape(PATH)} \({IMAGE}:6.6.6 in the cluster, {IMAGE}:1.4.2 in git\)",
        out,
    ), out
    assert out.count("restore DaemonSet") == 1  # nothing else drifted
    restored = api.store["daemonsets"][("edge-system", "log-agent-shanghai")]
    assert restored["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:1.4.2"
    method, _, params = next(
        r for r in reversed(api.requests) if r[1].endswith("/daemonsets/log-agent-shanghai")
    )
    assert (method, params) == ("PATCH", {"fieldManager": "gitops-edge", "force": "true"})

    code, out = cli(capsys, "plan", repo, "--cluster", "kube", "--format", "json")
    summary = json.loads(out)["summary"]
    assert (summary["applies"], summary["drifted"]) == (0, 0)
