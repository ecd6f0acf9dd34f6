"""The incremental planner's running count of the fleet's distinct nodes (`FleetCounts`) equals
`fleet_progress` of the same DaemonSet plans after every pass, whatever plans come, change
(new objects), stay (the very same objects), or leave (a DaemonSet removed from the
repository), and after a reset (the full replan)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_edge.model.desired import UpdateModel
from gitops_edge.model.plan import DaemonSetPlan, Deferral, FleetNodes, Progress
from gitops_edge.planner.fleet import fleet_progress
from gitops_edge.reconciler.fleet_counts import FleetCounts

NODES = [f"n{i}" for i in range(6)]
NAMES = ["a", "b", "c", "d"]


def ds(
    name: str, hosting: frozenset[str], behind: frozenset[str], deferred: frozenset[str]
) -> DaemonSetPlan:
    return DaemonSetPlan(
        namespace="edge",
        name=name,
        workload="w",
        group=None,
        model=UpdateModel.ADVANCED_ROLLING_UPDATE,
        revision="h",
        actions=(),
        deferred=tuple(Deferral(node=n, reason="NotReady") for n in sorted(deferred)),
        progress=Progress(nodes=0, current=0, outdated=0, unavailable=0, deferred=0),
        budget=None,
        fleet=FleetNodes(hosting=hosting, behind=behind & hosting),
    )


nodes = st.frozensets(st.sampled_from(NODES))
plan_of = st.tuples(nodes, nodes, nodes)
# One pass: per DaemonSet name, absent (None), kept as the very same object ("same"), or new.
step = st.dictionaries(st.sampled_from(NAMES), st.one_of(st.none(), st.just("same"), plan_of))


@settings(max_examples=200, deadline=None)
@given(st.lists(step, min_size=1, max_size=8), st.sets(st.integers(0, 7)))
def test_counted_figures_equal_the_figures_of_the_plans(
    passes: list[dict[str, object]], resets: set[int]
) -> None:
    counts = FleetCounts()
    current: dict[str, DaemonSetPlan] = {}
    for number, change in enumerate(passes):
        for name, what in change.items():
            if what is None:
                current.pop(name, None)
            elif what == "same":
                continue
            else:
                hosting, behind, deferred = what  # type: ignore[misc]
                current[name] = ds(name, hosting, behind, deferred)
        if number in resets:
            counts.reset()
        plans = tuple(current[n] for n in sorted(current))
        assert counts.progress(plans) == fleet_progress(plans)


def test_a_changed_plan_with_equal_figures_is_counted_once() -> None:
    counts = FleetCounts()
    one = ds("a", frozenset({"n1", "n2"}), frozenset({"n2"}), frozenset({"n2"}))
    assert counts.progress((one,)) == fleet_progress((one,))
    again = replace(one, fleet=FleetNodes(hosting=frozenset({"n1", "n2"}), behind=frozenset()))
    assert counts.progress((again,)) == fleet_progress((again,))
    assert counts.progress(()) == fleet_progress(())
