"""Paged LISTs read into values by key (`read_pages`), for the watch-fed cache (`kube_cache`)
and the uncached observe (`kube_read`): parsed object by object with the collector paused, and
made again from the first page when a continue token expired between two pages (410 Gone).
A page's continue token is read from the head of its raw body (`continue_of`), so the next page
can be asked for before this one is parsed.
No `kubernetes` import. Side effects: the requests the page iterators make.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from gitops_edge.cluster.kube_errors import ListExpiredError

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects
EXPIRED_LISTS = 3  # lists made in a row when each one's continue token expires
HEAD_BYTES = 65536  # how far into a LIST body its `items` are looked for (`continue_of`)
_ITEMS = re.compile(rb'"items"\s*:')


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
            items = body.get("items") or ()
            # the loop runs in C
            values.update(zip(map(key_of, items), map(parse, items), strict=True))
    finally:
        gc.enable()
    return values, version


def key_of(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def version_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def continue_in(body: Mapping[str, Any]) -> str:
    """The continue token of a parsed LIST body ("" on the last page)."""
    return str((body.get("metadata") or {}).get("continue") or "")


def continue_of(data: bytes) -> str | None:
    """The continue token of a raw LIST body ("" on the last page), read from the members that
    come before its `items` (the API server writes `kind`, `apiVersion` and `metadata` first),
    without parsing the items. None when it cannot be told that way (metadata after the items,
    not a JSON object, no `items` near the start): the caller parses the whole body instead.

    Only a valid JSON object's members are read: the text before the first `"items":` is
    parsed as an object, which succeeds only when that `"items"` is a member name of the
    outermost object (a cut inside a string or a nested object leaves invalid JSON)."""
    match = _ITEMS.search(data, 0, HEAD_BYTES)
    if match is None:
        return None
    head = data[: match.start()].rstrip()
    if head.endswith(b","):
        head = head[:-1]
    try:
        members = orjson.loads(head + b"}")
    except orjson.JSONDecodeError:
        return None
    meta = members.get("metadata") if isinstance(members, dict) else None
    if not isinstance(meta, dict):
        return None
    token = meta.get("continue") or ""
    return token if isinstance(token, str) else None
