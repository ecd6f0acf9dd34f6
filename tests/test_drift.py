"""Drift (issue 14 item 7), pure: which fields of the repository's manifest differ in the live
DaemonSet (as server-side apply merges them), what is not drift (server defaults, normalised
quantities, fields the repository does not set), and how the planner restores and reports it."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from fractions import Fraction
from typing import Any

import pytest
from planner_fixtures import NEW, desired_ds, fleet, observed, observed_ds, state

from gitops_edge.model.desired import REVISION_ANNOTATION, SOURCE_ANNOTATION, SPEC_HASH_ANNOTATION
from gitops_edge.model.desired import UpdateModel as M
from gitops_edge.model.plan import ApplyDaemonSet, DaemonSetPlan, DeletePod, Plan
from gitops_edge.planner import plan
from gitops_edge.planner.daemonset import plan_daemonset
from gitops_edge.planner.drift import drifted_fields, parse_quantity
from gitops_edge.planner.index import index_observed
from gitops_edge.planner.policy import HALTED_ANNOTATION, ROLLED_BACK_ANNOTATION
from gitops_edge.reports.plan_format import plan_to_dict, render

SPEC = "spec-1"


def manifest() -> dict[str, Any]:
    """A rendered DaemonSet as gitops-edge applies it."""
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": "app",
            "namespace": "edge",
            "labels": {"app.kubernetes.io/managed-by": "gitops-edge", "app": "agent"},
            "annotations": {
                REVISION_ANNOTATION: "abc123",
                SOURCE_ANNOTATION: "workloads/agent.yaml:1",
                SPEC_HASH_ANNOTATION: SPEC,
                "team": "edge",
            },
        },
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "updateStrategy": {"type": "OnDelete"},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {
                    "nodeSelector": {"apps.openyurt.io/nodepool": "north"},
                    "tolerations": [{"key": "edge", "operator": "Exists"}],
                    "containers": [
                        {
                            "name": "agent",
                            "image": "nginx:1.25",
                            "args": ["--level", "info"],
                            "env": [
                                {"name": "MODE", "value": "edge"},
                                {"name": "TOKEN", "value": "s3cr3t-token"},
                            ],
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "resources": {
                                "limits": {"cpu": 0.5, "memory": "1073741824"},
                                "requests": {"cpu": 1, "memory": "0.5Gi"},
                            },
                            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                        }
                    ],
                },
            },
        },
    }


def served(desired: dict[str, Any]) -> dict[str, Any]:
    """`desired` as a v1.28 API server stores and serves it: defaults added, quantities in
    canonical form, empty values omitted, other writers' fields and bookkeeping present."""
    live = copy.deepcopy(desired)
    meta = live["metadata"]
    meta.update(
        uid="u1", generation=3, resourceVersion="42", creationTimestamp="2026-01-01T00:00:00Z"
    )
    meta["annotations"][REVISION_ANNOTATION] = "an-older-commit"  # bookkeeping, not drift
    meta["annotations"]["deprecated.daemonset.template.generation"] = "3"
    meta["annotations"]["kubectl.kubernetes.io/restartedAt"] = "2026-01-02T00:00:00Z"
    spec = live["spec"]
    spec["revisionHistoryLimit"] = 10
    template = spec["template"]
    template["metadata"]["creationTimestamp"] = None
    pod = template["spec"]
    pod.update(
        dnsPolicy="ClusterFirst",
        restartPolicy="Always",
        schedulerName="default-scheduler",
        securityContext={},
        terminationGracePeriodSeconds=30,
    )
    (container,) = pod["containers"]
    container.update(
        imagePullPolicy="IfNotPresent",
        terminationMessagePath="/dev/termination-log",
        terminationMessagePolicy="File",
    )
    container["ports"][0]["protocol"] = "TCP"
    container["resources"] = {
        "limits": {"cpu": "500m", "memory": "1Gi"},
        "requests": {"cpu": "1", "memory": "512Mi"},
    }
    container["livenessProbe"].update(
        failureThreshold=3, periodSeconds=10, successThreshold=1, timeoutSeconds=1
    )
    container["livenessProbe"]["httpGet"]["scheme"] = "HTTP"
    # Another writer's fields: a sidecar and an env var gitops-edge does not set.
    container["env"].append({"name": "INJECTED", "value": "by-a-webhook"})
    pod["containers"].append({"name": "istio-proxy", "image": "proxy:1"})
    live["status"] = {"numberReady": 3}
    return live


def paths(desired: dict[str, Any], live: dict[str, Any]) -> list[str]:
    return [f.path for f in drifted_fields(desired, live)]


def agent(live: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = live["spec"]["template"]["spec"]["containers"][0]
    return container


# ── what is drift ─────────────────────────────────────────────────────────────────────────────


def test_a_served_object_is_not_drift() -> None:
    """Server defaults, canonical quantities (0.5 = 500m, 1073741824 = 1Gi, 0.5Gi = 512Mi,
    1 = "1"), a defaulted port protocol, the bookkeeping annotations and other writers' fields
    are not drift: re-applying would change nothing, so reporting them would re-apply forever."""
    assert drifted_fields(manifest(), served(manifest())) == ()


def test_kubectl_set_image_is_drift_at_the_container_by_name() -> None:
    live = served(manifest())
    agent(live)["image"] = "nginx:1.26"
    (field,) = drifted_fields(manifest(), live)
    assert field.path == "spec.template.spec.containers[name=agent].image"
    assert (field.live, field.desired, field.secret) == ("nginx:1.26", "nginx:1.25", False)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda c, s, m: c["resources"]["limits"].update(cpu="750m"),
            "spec.template.spec.containers[name=agent].resources.limits.cpu",
        ),
        (
            lambda c, s, m: c.update(args=["--level", "debug"]),
            "spec.template.spec.containers[name=agent].args[1]",
        ),
        (
            lambda c, s, m: s["tolerations"].append({"operator": "Exists"}),
            "spec.template.spec.tolerations",
        ),
        (
            lambda c, s, m: c["env"].pop(0),  # an env var the repository sets, removed by hand
            "spec.template.spec.containers[name=agent].env[name=MODE]",
        ),
        (
            lambda c, s, m: c["ports"][0].update(containerPort=9090),
            "spec.template.spec.containers[name=agent].ports[containerPort=8080,protocol=TCP]",
        ),
        (
            lambda c, s, m: s["nodeSelector"].update({"apps.openyurt.io/nodepool": "south"}),
            'spec.template.spec.nodeSelector["apps.openyurt.io/nodepool"]',
        ),
        (
            lambda c, s, m: m["labels"].pop("app"),
            "metadata.labels.app",
        ),
        (
            lambda c, s, m: m["annotations"].update(team="other"),
            "metadata.annotations.team",
        ),
    ],
)
def test_fields_the_repository_sets_changed_by_hand(edit: Any, expected: str) -> None:
    live = served(manifest())
    edit(agent(live), live["spec"]["template"]["spec"], live["metadata"])
    assert paths(manifest(), live) == [expected]


def test_env_values_are_never_shown() -> None:
    live = served(manifest())
    agent(live)["env"][1]["value"] = "stolen"
    (field,) = drifted_fields(manifest(), live)
    assert field.path == "spec.template.spec.containers[name=agent].env[name=TOKEN].value"
    assert field.secret and field.live == field.desired == ""
    assert field.describe() == f"{field.path} (value not shown)"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Fraction(1, 2)),
        ("0.5", Fraction(1, 2)),
        (0.5, Fraction(1, 2)),
        (2, Fraction(2)),
        ("1Gi", Fraction(2**30)),
        ("1073741824", Fraction(2**30)),
        ("1.5Gi", Fraction(1536 * 2**20)),
        ("1e3", Fraction(1000)),
        ("1E", Fraction(10**18)),
        ("1.", Fraction(1)),
        (".001", Fraction(1, 1000)),
        ("3.001n", Fraction(4, 10**9)),  # rounded up to nano, as the API server does
        ("1.5x", None),
        (True, None),
    ],
)
def test_quantities(text: Any, value: Fraction | None) -> None:
    assert parse_quantity(text) == value


# ── the planner: restore, report, and when not to ─────────────────────────────────────────────


def drifted_plan(
    *, model: M = M.ADVANCED_ROLLING_UPDATE, annotations: dict[str, str] | None = None
) -> DaemonSetPlan:
    live = served(manifest())
    agent(live)["image"] = "nginx:1.26"
    agent(live)["env"][1]["value"] = "stolen"
    desired = replace(desired_ds(model=model), manifest_json=json.dumps(manifest()))
    ds = replace(
        observed_ds(revision=NEW),
        annotations={SPEC_HASH_ANNOTATION: SPEC, **(annotations or {})},
        live_json=json.dumps(live),
    )
    nodes, pods = fleet(4, revision="handedit")  # the hand edit's revision: pods look outdated
    (result,) = plan(state(desired), observed(nodes, pods, ds)).daemonsets
    return result


def test_a_drifted_daemonset_is_restored_before_any_pod_moves() -> None:
    ds = drifted_plan()
    (apply,) = ds.actions  # no pod deletion towards the hand-edited revision
    assert isinstance(apply, ApplyDaemonSet) and not apply.create
    assert json.loads(apply.manifest_json) == manifest()
    image = "spec.template.spec.containers[name=agent].image"
    token = "spec.template.spec.containers[name=agent].env[name=TOKEN].value"
    assert apply.drift == ds.drift == (image, token)
    assert apply.reason.startswith("restore DaemonSet edge/app (workload app) from app.yaml:1: ")
    assert (
        f"drifted from the repository at {image} (nginx:1.26 in the cluster, nginx:1.25 in git)"
        in apply.reason
    )
    assert f"{token} (value not shown)" in apply.reason
    assert "stolen" not in apply.reason and "s3cr3t" not in apply.reason


def test_a_held_rolling_update_reports_drift_without_restoring() -> None:
    desired = replace(desired_ds(model=M.ROLLING_UPDATE), manifest_json=json.dumps(manifest()))
    live = served(manifest())
    agent(live)["image"] = "nginx:1.26"
    ds = replace(observed_ds(revision=NEW), live_json=json.dumps(live))
    nodes, pods = fleet(2, revision=NEW)
    result = plan_daemonset(
        desired, index=index_observed(observed(nodes, pods, ds)), now=0.0, hold="deferred (window)"
    )
    assert result.actions == () and result.drift == (
        "spec.template.spec.containers[name=agent].image",
    )
    assert "the RollingUpdate DaemonSet is not restored until then" in result.notes[0]


@pytest.mark.parametrize("annotation", [HALTED_ANNOTATION, ROLLED_BACK_ANNOTATION])
def test_a_halted_or_rolled_back_group_is_left_as_it_is(annotation: str) -> None:
    """gitops-edge froze it (or rolled it back itself): an operator may be fixing it by hand."""
    ds = drifted_plan(annotations={annotation: f"{SPEC} r1 r2 why"})
    assert ds.drift == () and not any(isinstance(a, ApplyDaemonSet) for a in ds.actions)


def test_no_live_object_no_drift_check() -> None:
    desired = replace(desired_ds(), manifest_json=json.dumps(manifest()))
    nodes, pods = fleet(2, revision=NEW)
    (ds,) = plan(state(desired), observed(nodes, pods, observed_ds(revision=NEW))).daemonsets
    assert ds.drift == () and not any(isinstance(a, ApplyDaemonSet | DeletePod) for a in ds.actions)


def test_plan_formats_report_drift() -> None:
    ds = drifted_plan()
    result = Plan(revision="rev", now=0.0, daemonsets=(ds,))
    data = plan_to_dict(result)
    assert data["summary"]["drifted"] == 1
    (row,) = data["daemonsets"]
    assert row["drift"] == list(ds.drift)
    (action,) = row["actions"]
    assert action["type"] == "restore" and action["drift"] == list(ds.drift)
    text = render(result, "text")
    assert "  drift: spec.template.spec.containers[name=agent].image, " in text
    assert "  - restore DaemonSet edge/app" in text
    assert text.endswith(", 1 DaemonSets drifted from the repository")
    markdown = render(result, "markdown")
    assert "- **drift**: `spec.template.spec.containers[name=agent].image`" in markdown
    for output in (text, markdown, json.dumps(data)):
        assert "stolen" not in output and "s3cr3t" not in output
