"""The planner's node index updated from the nodes that changed (`NodeIndex.changed`, used by
the incremental planner between passes) equals the index built from every node
(`NodeIndex.of`), whatever was added, removed, relabelled, tainted or turned (Not)Ready; and
the index it was made from is left as it was."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_edge.model.observed import Node
from gitops_edge.model.placement import Taint
from gitops_edge.planner.index import LabelIndex, NodeIndex

NAMES = [f"n{i}" for i in range(8)]
labels = st.dictionaries(
    st.sampled_from(["zone", "group", "role", "kubernetes.io/hostname"]),
    st.sampled_from(["a", "b", "c"]),
    max_size=3,
)
taints = st.lists(
    st.builds(
        Taint,
        key=st.sampled_from(["edge", "gpu"]),
        effect=st.sampled_from(["NoSchedule", "NoExecute", "PreferNoSchedule"]),
    ),
    max_size=2,
).map(tuple)


def node(name: str) -> st.SearchStrategy[Node]:
    return st.builds(Node, name=st.just(name), labels=labels, ready=st.booleans(), taints=taints)


fleets = st.lists(st.sampled_from(NAMES), unique=True).flatmap(
    lambda names: st.tuples(*(node(n) for n in names))
)


def as_plain(index: NodeIndex) -> tuple[object, ...]:
    """Every lookup as plain values (an index whose label sets were left empty by a change
    is not equal to one built without them)."""
    lab = index.labels
    return (
        dict(index.nodes),
        {k: set(v) for k, v in lab.by_label.items()},
        {k: set(v) for k, v in lab.by_key.items()},
        lab.everyone,
        index.ready_nodes,
        index.ready_tainted,
    )


@settings(max_examples=300, deadline=None)
@given(before=fleets, after=fleets)
def test_an_index_updated_from_the_changed_nodes_equals_one_built_from_every_node(
    before: tuple[Node, ...], after: tuple[Node, ...]
) -> None:
    old = {n.name: n for n in before}
    new = {n.name: n for n in after}
    changes = [
        (old.get(name), new.get(name))
        for name in sorted(old.keys() | new.keys())
        if old.get(name) != new.get(name)
    ]
    index = NodeIndex.of(before)
    kept = copy.deepcopy(as_plain(index))
    assert as_plain(index.changed(changes)) == as_plain(NodeIndex.of(after))
    assert as_plain(index) == kept  # the index it was made from is unchanged


def test_a_label_whose_last_node_left_is_gone_from_the_index() -> None:
    a = Node(name="a", labels={"zone": "x"}, ready=True)
    index = LabelIndex.of([a]).changed([(a, Node(name="a", labels={}, ready=True))])
    assert ("zone", "x") not in index.by_label and "zone" not in index.by_key
    assert index.everyone == frozenset({"a"})
