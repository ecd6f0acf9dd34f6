"""What changed between two observations of one kind of object (`changed`), for the parts of a
pass that keep work between passes (the incremental planner, the node metrics).

Objects the watch-fed cache did not replace are the same Python objects in the next
observation, in the same place (a replaced object keeps its place in the cache's dict), so an
unchanged object costs an identity check and only what the watches replaced is compared by
value. Pure; no side effects.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from itertools import compress
from typing import TypeVar

Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects
T = TypeVar("T")
Change = tuple[T | None, T | None]  # (before, after); None: absent


def changed(old: Sequence[T], new: Sequence[T], key: Callable[[T], Key]) -> list[Change[T]]:
    """(before, after) of each object added (None, new), removed (old, None) or changed between
    two observations (keys unique in each). The caller keeps `old` alive meanwhile, so no id of
    its objects is reused by `new`'s.
    - the same objects in the same places (a quiet cache): nothing, at one identity check each;
    - the same length, the objects that differ in the same places with the same keys (objects
      replaced in place): those, compared by value;
    - otherwise, the objects not in both by identity, matched by key (a fresh list: every
      object, by key)."""
    if len(old) == len(new):
        places = list(compress(range(len(new)), map(operator.is_not, old, new)))
        if not places:
            return []
        if 2 * len(places) <= len(new) and all(key(old[i]) == key(new[i]) for i in places):
            return [(old[i], new[i]) for i in places if old[i] != new[i]]
    old_ids, new_ids = set(map(id, old)), set(map(id, new))
    if 2 * len(old_ids & new_ids) < len(new_ids):  # listed anew: compare every object by key
        return _by_value(old, new, key)
    gone = [o for o in old if id(o) not in new_ids]
    return _by_value(gone, [o for o in new if id(o) not in old_ids], key)


def _by_value(old: Sequence[T], new: Sequence[T], key: Callable[[T], Key]) -> list[Change[T]]:
    before = {key(o): o for o in old}
    out: list[Change[T]] = []
    for o in new:
        was = before.pop(key(o), None)
        if was is None or (was is not o and was != o):
            out.append((was, o))
    out += [(o, None) for o in before.values()]
    return out
