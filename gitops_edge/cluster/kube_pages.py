"""Paged LISTs read into values by key (`read_pages`), for the watch-fed cache (`kube_cache`)
and the uncached observe (`kube_read`): parsed object by object with the collector paused, and
made again from the first page when a continue token expired between two pages (410 Gone).
No `kubernetes` import. Side effects: the requests the page iterators make.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gitops_edge.cluster.kube_errors import ListExpiredError

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects
EXPIRED_LISTS = 3  # lists made in a row when each one's continue token expires


def read_pages(
    parse: Callable[[Obj], Any], list_bodies: Callable[[], Iterable[Obj]]
) -> tuple[dict[Key, Any], str]:
    """A paged LIST (the pages `list_bodies()` yields) parsed object by object: values by key,
    and the list's resourceVersion. When a continue token expires between two pages (410 Gone,
    the store compacted meanwhile), what was read is dropped and the list is made again from
    its first page, as client-go's pager does (at most `EXPIRED_LISTS` times)."""
    for attempt in range(1, EXPIRED_LISTS + 1):
        try:
            return _read_pages(parse, list_bodies())
        except ListExpiredError:
            if attempt == EXPIRED_LISTS:
                raise
    raise AssertionError("unreachable")


def _read_pages(parse: Callable[[Obj], Any], bodies: Iterable[Obj]) -> tuple[dict[Key, Any], str]:
    """The version is the first page's: every page of one list reports the same. The
    collector is paused meanwhile: hundreds of thousands of small acyclic objects, no cycles to
    find."""
    values: dict[Key, Any] = {}
    version = ""
    gc.disable()
    try:
        for body in bodies:
            version = version or version_of(body)
            for item in body.get("items") or ():
                values[key_of(item)] = parse(item)
    finally:
        gc.enable()
    return values, version


def key_of(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def version_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")
