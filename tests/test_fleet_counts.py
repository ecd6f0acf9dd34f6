"""Fleet figures of a plan (issue 18 item 6): the headline counts distinct nodes, a NotReady
node whose pod is already current counts current, and a NodeGroup matching no node is a
warning (plan text/JSON/Markdown). Pure: hand-built desired and observed values."""

from __future__ import annotations

import json

from planner_fixtures import NEW, desired_ds, fleet, group, node, observed, observed_ds, pod, state

from gitops_edge.model.desired import UpdateModel
from gitops_edge.planner import plan
from gitops_edge.reports.plan_format import render
from gitops_edge.source.status import headline


def test_a_not_ready_node_whose_pod_is_current_counts_current_not_deferred() -> None:
    nodes, pods = fleet(4, not_ready=(1,), revision=NEW)  # n01 NotReady, its pod is current
    for model in UpdateModel:
        ds = plan(state(desired_ds(model=model)), observed(nodes, pods)).daemonsets[0]
        p = ds.progress
        assert (p.nodes, p.current, p.outdated, p.deferred) == (4, 4, 0, 0), model
        assert ds.deferred == ()


def test_a_not_ready_node_with_an_outdated_pod_is_deferred_not_current() -> None:
    nodes, pods = fleet(4, not_ready=(1,))  # every pod old
    p = plan(state(desired_ds()), observed(nodes, pods)).daemonsets[0].progress
    assert (p.nodes, p.current, p.outdated, p.deferred) == (4, 0, 4, 1)


def test_the_headline_counts_distinct_nodes_not_pods() -> None:
    """Three DaemonSets on the same 4 nodes: 4 nodes, not 12; a node is current only when all
    of its DaemonSets are; a NotReady node with one outdated pod is one deferred node."""
    nodes = (node("n0"), node("n1"), node("n2"), node("n3", ready=False))
    pods = []
    for app in ("a", "b", "c"):
        for n in nodes:
            old = app == "c" and n.name in ("n2", "n3")  # c is behind on n2 and n3
            pods.append(
                pod(
                    n.name,
                    owner=app,
                    revision="oldhash" if old else NEW,
                    generation=1 if old else 2,
                    ready=n.ready,
                )
            )
    desired = state(*(desired_ds(app) for app in ("a", "b", "c")))
    result = plan(desired, observed(nodes, tuple(pods), *(observed_ds(a) for a in "abc")))
    assert sum(ds.progress.nodes for ds in result.daemonsets) == 12  # per DaemonSet: pairs
    assert (result.fleet.nodes, result.fleet.current, result.fleet.deferred) == (4, 2, 1)
    assert headline(result).startswith("2/4 nodes current, 1 deferred")


def test_a_node_group_matching_no_node_is_a_warning_of_the_plan() -> None:
    nodes = tuple(node(f"n{i}", pool="north") for i in range(3))
    groups = (group("north", pool="north"), group("shenzhen", pool="shenzhen"))
    desired = state(
        desired_ds("app-north", group="north", workload="app"),
        desired_ds("app-shenzhen", group="shenzhen", workload="app"),
        groups=groups,
    )
    result = plan(desired, observed(nodes, ()))
    assert [w.group for w in result.empty_groups] == ["shenzhen"]
    warning = result.empty_groups[0]
    assert warning.daemonsets == ("edge/app-shenzhen",)
    assert "NodeGroup shenzhen (groups.yaml:1) matches no node" in warning.message
    assert "hint:" in warning.message
    text = render(result, "text")
    assert "warning: NodeGroup shenzhen (groups.yaml:1) matches no node" in text
    assert text.splitlines()[-1].endswith(", 1 warning")
    as_json = json.loads(render(result, "json"))
    assert as_json["warnings"] == [
        {
            "rule": "nodegroup-empty",
            "group": "shenzhen",
            "source": "groups.yaml:1",
            "daemonSets": ["edge/app-shenzhen"],
            "message": warning.message,
        }
    ]
    assert as_json["summary"]["warnings"] == 1
    assert "warning" in render(result, "markdown") and "shenzhen" in render(result, "markdown")
