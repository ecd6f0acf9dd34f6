"""`reconciler.changes.changed` finds exactly the objects added, removed and changed between
two observations, however the second was made from the first (a quiet cache handing the same
objects, objects replaced in place, added, removed, moved, or everything listed anew)."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_edge.reconciler.changes import _walked, changed


@dataclass(frozen=True)
class Obj:
    name: str
    value: int


def key(o: Obj) -> tuple[str, str]:
    return ("", o.name)


def naive(old: list[Obj], new: list[Obj]) -> set[tuple[Obj | None, Obj | None]]:
    a, b = {o.name: o for o in old}, {o.name: o for o in new}
    return {(a.get(n), b.get(n)) for n in a.keys() | b.keys() if a.get(n) != b.get(n)}


edits = st.lists(
    st.tuples(
        st.sampled_from(["replace", "same-value", "remove", "add", "move", "relist"]),
        st.integers(0, 30),
        st.integers(0, 3),
    ),
    max_size=6,
)


@settings(max_examples=400, deadline=None)
@given(size=st.integers(0, 30), edits=edits)
def test_changed_finds_exactly_what_was_added_removed_or_changed(
    size: int, edits: list[tuple[str, int, int]]
) -> None:
    """As tuples (walked in step, the watch-fed cache's case) and as lists (by identity)."""
    old = [Obj(f"o{i}", 0) for i in range(size)]
    new = list(old)
    serial = size
    for what, at, value in edits:
        i = at % len(new) if new else 0
        if what == "add" or not new:
            new.insert(i, Obj(f"o{serial}", value))
            serial += 1
        elif what == "replace":
            new[i] = Obj(new[i].name, value + 1)
        elif what == "same-value":  # a new object equal to the old one: no change
            new[i] = Obj(new[i].name, new[i].value)
        elif what == "remove":
            del new[i]
        elif what == "move":
            new.append(new.pop(i))
        else:
            new = [Obj(o.name, o.value) for o in new]
    for before, after in ((tuple(old), tuple(new)), (old, new)):  # walked; by identity
        found = changed(before, after, key)
        assert len(found) == len({(b and b.name, a and a.name) for b, a in found})  # no repeats
        assert set(found) == naive(old, new)


@settings(max_examples=200, deadline=None)
@given(size=st.integers(0, 40), edits=edits, limit=st.integers(1, 8))
def test_the_walk_gives_up_or_is_right_within_any_limit(
    size: int, edits: list[tuple[str, int, int]], limit: int
) -> None:
    """The walk in step (`_walked`) stops after `limit` differences (None: compare by
    identity instead); whenever it answers, the answer is exact."""
    old = tuple(Obj(f"o{i}", 0) for i in range(size))
    new = list(old)
    for serial, (what, at, value) in enumerate(edits):
        i = at % len(new) if new else 0
        if what == "remove" and new:
            del new[i]
        elif what == "add" or not new:
            new.append(Obj(f"n{serial}", value))
        else:
            new[i] = Obj(new[i].name, value + 1)
    walked = _walked(old, tuple(new), key, limit=limit)
    if walked is not None:
        assert set(walked) == naive(list(old), new)


def test_a_removed_tail_is_found_by_the_walk() -> None:
    objs = tuple(Obj(f"o{i}", i) for i in range(5))
    assert changed(objs, objs[:3], key) == [(objs[3], None), (objs[4], None)]
    assert changed(objs[:3], objs, key) == [(None, objs[3]), (None, objs[4])]


def test_the_same_objects_in_the_same_places_are_no_change() -> None:
    objs = [Obj(f"o{i}", i) for i in range(5)]
    assert changed(objs, list(objs), key) == []
