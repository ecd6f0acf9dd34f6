"""Rendering example-repo: one DaemonSet `<workload>-<group>` per group, pinned to the group,
overrides applied, plain DaemonSets as written; owner labels, revision and source annotations;
a spec hash that ignores the git revision but not the spec."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from gitops_edge.model.desired import (
    GROUP_LABEL,
    MANAGED_BY_LABEL,
    REVISION_ANNOTATION,
    SOURCE_ANNOTATION,
    SPEC_HASH_ANNOTATION,
    WORKLOAD_LABEL,
    DesiredState,
    UpdateModel,
)
from gitops_edge.reconciler.reconcile import load_desired

EXAMPLE = Path(__file__).resolve().parent.parent / "example-repo"


@pytest.fixture(scope="module")
def desired() -> DesiredState:
    return load_desired(EXAMPLE, revision="abc123")


def manifest(desired: DesiredState, name: str) -> dict[str, Any]:
    ds = next(d for d in desired.daemonsets if d.name == name)
    data: dict[str, Any] = json.loads(ds.manifest_json)
    return data


def containers(m: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in m["spec"]["template"]["spec"]["containers"]}


def test_one_daemonset_per_workload_and_group(desired: DesiredState) -> None:
    names = {(d.workload, d.group, d.name) for d in desired.daemonsets}
    assert ("log-agent", "hangzhou", "log-agent-hangzhou") in names
    assert ("log-agent", "beijing", "log-agent-beijing") in names
    assert ("ota-updater", "shenzhen", "ota-updater-shenzhen") in names
    assert ("nginx-daemonset", None, "nginx-daemonset") in names


def test_owner_labels_revision_and_source(desired: DesiredState) -> None:
    m = manifest(desired, "log-agent-beijing")
    labels, annotations = m["metadata"]["labels"], m["metadata"]["annotations"]
    assert labels[MANAGED_BY_LABEL] == "gitops-edge"
    assert labels[WORKLOAD_LABEL] == "log-agent" and labels[GROUP_LABEL] == "beijing"
    assert annotations[REVISION_ANNOTATION] == "abc123"
    assert annotations[SOURCE_ANNOTATION].startswith("workloads/log-agent.yaml:")
    assert m["spec"]["selector"]["matchLabels"] == {
        WORKLOAD_LABEL: "log-agent",
        GROUP_LABEL: "beijing",
    }
    assert m["spec"]["template"]["metadata"]["labels"][GROUP_LABEL] == "beijing"


def test_label_group_pinned_by_node_selector(desired: DesiredState) -> None:
    spec = manifest(desired, "log-agent-hangzhou")["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"apps.openyurt.io/nodepool": "hangzhou"}


def test_group_with_expressions_and_nodes_pinned_by_affinity(desired: DesiredState) -> None:
    spec = manifest(desired, "ota-updater-shenzhen")["spec"]["template"]["spec"]
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert {"key": "node-role.kubernetes.io/edge", "operator": "Exists"} in terms[0][
        "matchExpressions"
    ]
    assert terms[1] == {
        "matchFields": [
            {"key": "metadata.name", "operator": "In", "values": ["shenzhen-lab-gw-01"]}
        ]
    }


def test_group_overrides(desired: DesiredState) -> None:
    hangzhou = containers(manifest(desired, "log-agent-hangzhou"))
    assert hangzhou["agent"]["image"] == "registry.example.com/edge/log-agent:1.4.3"
    shanghai = containers(manifest(desired, "log-agent-shanghai"))
    assert shanghai["agent"]["image"] == "registry.example.com/edge/log-agent:1.4.2"
    beijing = containers(manifest(desired, "log-agent-beijing"))
    env = {e["name"]: e.get("value") for e in beijing["agent"]["env"]}
    assert env["REGION"] == "cn-north" and "NODE_NAME" in env  # merged by name
    assert beijing["agent"]["args"][0] == "--output=kafka://logs-bj.example.com:9092"
    assert beijing["agent"]["resources"]["limits"] == {"cpu": "100m", "memory": "96Mi"}
    assert beijing["config-reloader"]["image"] == "ghcr.io/jimmidyson/configmap-reload:v0.13.1"
    assert shanghai["config-reloader"]["image"] == "ghcr.io/jimmidyson/configmap-reload:v0.14.0"


def test_strategies(desired: DesiredState) -> None:
    by_name = {d.name: d for d in desired.daemonsets}
    aru = manifest(desired, "log-agent-hangzhou")
    assert aru["spec"]["updateStrategy"] == {"type": "OnDelete"}
    assert by_name["log-agent-hangzhou"].model is UpdateModel.ADVANCED_ROLLING_UPDATE
    assert by_name["log-agent-hangzhou"].max_unavailable == "30%"
    native = manifest(desired, "node-exporter-hangzhou")
    assert native["spec"]["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1},
    }
    assert by_name["ota-updater-hangzhou"].model is UpdateModel.OTA


def test_plain_daemonset_rendered_as_written(desired: DesiredState) -> None:
    m = manifest(desired, "nginx-daemonset")
    assert m["metadata"]["namespace"] == "edge-apps"  # the repository's defaultNamespace
    assert (
        m["metadata"]["annotations"]["apps.openyurt.io/update-strategy"] == "AdvancedRollingUpdate"
    )
    assert m["metadata"]["annotations"]["apps.openyurt.io/max-unavailable"] == "30%"
    assert m["spec"]["template"]["spec"]["containers"] == [
        {"name": "nginx", "image": "nginx:1.19.4"}
    ]
    assert m["metadata"]["labels"][MANAGED_BY_LABEL] == "gitops-edge"
    by_name = {d.name: d for d in desired.daemonsets}
    assert by_name["nginx-daemonset"].openyurt_annotated  # yurt-manager would drive it
    assert not by_name["log-agent-hangzhou"].openyurt_annotated  # rendered: gitops-edge drives


def test_spec_hash_ignores_the_revision_and_follows_the_spec(tmp_path: Path) -> None:
    one = load_desired(EXAMPLE, revision="r1")
    two = load_desired(EXAMPLE, revision="r2")
    assert [d.spec_hash for d in one.daemonsets] == [d.spec_hash for d in two.daemonsets]
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo)
    path = repo / "workloads" / "log-agent.yaml"
    path.write_text(path.read_text().replace("log-agent:1.4.2", "log-agent:1.4.9"))
    changed = {d.name: d.spec_hash for d in load_desired(repo, revision="r3").daemonsets}
    before = {d.name: d.spec_hash for d in one.daemonsets}
    differ = {name for name in before if before[name] != changed[name]}
    assert differ == {"log-agent-shanghai", "log-agent-beijing"}  # hangzhou overrides the image
    m = json.loads(next(d for d in one.daemonsets if d.name == "log-agent-beijing").manifest_json)
    assert m["metadata"]["annotations"][SPEC_HASH_ANNOTATION] == before["log-agent-beijing"]
