"""Node-group membership (DESIGN §3) as the planner indexes it: every kind of selector gives
exactly the nodes `NodeGroup.contains` accepts, and overlaps are found per workload."""

from __future__ import annotations

import random

import pytest
from planner_fixtures import desired_ds, group

from gitops_edge.model.desired import LabelRequirement, LabelSelector, NodeGroup, SourceRef
from gitops_edge.model.observed import Node
from gitops_edge.planner.groups import overlap_errors
from gitops_edge.planner.index import LabelIndex, group_members

SRC = SourceRef(file="groups.yaml", line=1)
SELECTORS = {
    "labels": LabelSelector(match_labels=(("pool", "a"),)),
    "labels-and-in": LabelSelector(
        match_labels=(("pool", "a"),),
        match_expressions=(LabelRequirement("zone", "In", ("z1", "z2")),),
    ),
    "in": LabelSelector(match_expressions=(LabelRequirement("zone", "In", ("z2",)),)),
    "in-nothing": LabelSelector(match_expressions=(LabelRequirement("zone", "In", ()),)),
    "exists": LabelSelector(match_expressions=(LabelRequirement("gpu", "Exists"),)),
    "notin": LabelSelector(match_expressions=(LabelRequirement("pool", "NotIn", ("a",)),)),
    "absent": LabelSelector(match_expressions=(LabelRequirement("gpu", "DoesNotExist"),)),
    "exists-and-notin": LabelSelector(
        match_expressions=(
            LabelRequirement("gpu", "Exists"),
            LabelRequirement("zone", "NotIn", ("z1",)),
        )
    ),
    "notin-and-absent": LabelSelector(
        match_expressions=(
            LabelRequirement("zone", "NotIn", ("z3", "z9")),
            LabelRequirement("gpu", "DoesNotExist"),
        )
    ),
    "unknown-operator": LabelSelector(match_expressions=(LabelRequirement("pool", "Gt", ("1",)),)),
    "everything": LabelSelector(),
}


def fleet_of_labels(count: int) -> list[Node]:
    rng = random.Random(7)
    nodes = []
    for i in range(count):
        labels = {"pool": rng.choice("abc"), "zone": rng.choice(("z1", "z2", "z3"))}
        if rng.random() < 0.3:
            labels["gpu"] = "yes"
        nodes.append(Node(name=f"n{i:03d}", labels=labels, ready=True))
    return nodes


@pytest.mark.parametrize("kind", sorted(SELECTORS))
def test_indexed_membership_equals_the_selector(kind: str) -> None:
    nodes = fleet_of_labels(200)
    g = NodeGroup(name=kind, selector=SELECTORS[kind], nodes=("n000", "ghost"), source=SRC)
    expected = frozenset(n.name for n in nodes if g.contains(n.name, n.labels))
    assert group_members([g], LabelIndex.of(nodes))[kind] == expected
    assert "ghost" not in expected  # explicit names count only for nodes that exist


def test_overlap_errors_name_the_node_groups_and_workload() -> None:
    nodes = [
        Node(name="edge-1", labels={"pool": "a", "site": "x"}, ready=True),
        Node(name="edge-2", labels={"pool": "b"}, ready=True),
    ]
    groups = [group("a", pool="a"), group("b", pool="b"), group("x", site="x")]
    members = group_members(groups, LabelIndex.of(nodes))
    dss = [
        desired_ds("web-a", group="a", workload="web"),
        desired_ds("web-b", group="b", workload="web"),
        desired_ds("web-x", group="x", workload="web"),
        desired_ds("log-a", group="a", workload="log"),
        desired_ds("log-b", group="b", workload="log"),
    ]
    errors = overlap_errors(dss, members=members)
    assert set(errors) == {("edge", "web-a"), ("edge", "web-x")}
    assert errors[("edge", "web-a")][0].startswith(
        "node edge-1 is in groups a and x of workload web: node groups of one workload must not "
        "overlap"
    )
