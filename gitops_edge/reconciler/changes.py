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
from itertools import compress, count
from typing import TypeVar

from gitops_edge.model.observed import Node, PodObs

Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects
T = TypeVar("T")
Change = tuple[T | None, T | None]  # (before, after); None: absent
WALK_LIMIT = 4096  # differences `_walked` looks at before comparing by identity instead


def changed(old: Sequence[T], new: Sequence[T], key: Callable[[T], Key]) -> list[Change[T]]:
    """(before, after) of each object added (None, new), removed (old, None) or changed between
    two observations (keys unique in each). The caller keeps `old` alive meanwhile, so no id of
    its objects is reused by `new`'s.
    - the same objects in the same places (a quiet cache): nothing, at one identity check each;
    - the same objects in the same order but for a few removed, replaced in place or added at
      the end (what a watch-fed cache's dict gives): those, found by walking both in step
      (`_walked`);
    - otherwise, the objects not in both by identity, matched by key (a fresh list: every
      object, by key)."""
    if len(old) == len(new) and all(map(operator.is_, old, new)):
        return []
    walked = _walked(old, new, key)
    if walked is not None:
        return walked
    old_ids, new_ids = set(map(id, old)), set(map(id, new))
    came = list(compress(new, map(operator.not_, map(old_ids.__contains__, map(id, new)))))
    if 2 * len(came) > len(new):  # listed anew: compare every object by key
        return _by_value(old, new, key)
    gone = compress(old, map(operator.not_, map(new_ids.__contains__, map(id, old))))
    return _by_value(list(gone), came, key)


def _walked(
    old: Sequence[T], new: Sequence[T], key: Callable[[T], Key], *, limit: int = WALK_LIMIT
) -> list[Change[T]] | None:
    """`changed`, walking both in step: runs of the same objects are skipped by identity (in C,
    from where the last run ended); where they differ, the two objects with the same key are a
    change, else the old one is taken as removed; what is left of `new` at the end is added.
    The removed and added are then matched by key (an object moved, or removed and added
    again, is one change or none), so the answer is right whatever the order; the order only
    decides the cost: None after `limit` differences (then the caller compares by identity).
    Tuples only (their iterators can start anywhere at no cost)."""
    if type(old) is not tuple or type(new) is not tuple:
        return None
    out: list[Change[T]] = []
    gone: list[T] = []
    i = j = 0
    for _ in range(limit):
        olds, news = iter(old), iter(new)
        olds.__setstate__(i)  # type: ignore[attr-defined]
        news.__setstate__(j)  # type: ignore[attr-defined]
        step = next(compress(count(), map(operator.is_not, olds, news)), None)
        if step is None:  # the same objects until one of the two ended
            run = min(len(old) - i, len(new) - j)
            i, j = i + run, j + run
            break
        i, j = i + step, j + step  # both have an object there: they differ
        was, now = old[i], new[j]
        if key(was) == key(now):
            if was != now:
                out.append((was, now))
            j += 1
        else:
            gone.append(was)
        i += 1
        if i >= len(old):
            break
    else:
        return None
    gone += old[i:]
    return out + _by_value(gone, new[j:], key)


def node_key(node: Node) -> Key:
    """What a node is known by between observations."""
    return ("", node.name)


def pod_key(pod: PodObs) -> Key:
    """What a pod is known by between observations."""
    return (pod.namespace, pod.name)


def _by_value(old: Sequence[T], new: Sequence[T], key: Callable[[T], Key]) -> list[Change[T]]:
    before = {key(o): o for o in old}
    out: list[Change[T]] = []
    for o in new:
        was = before.pop(key(o), None)
        if was is None or (was is not o and was != o):
            out.append((was, o))
    out += [(o, None) for o in before.values()]
    return out
