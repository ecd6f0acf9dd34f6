"""A watch-fed cache of the objects that grow with the fleet, for the long-running reconcile loop.

Nodes, DaemonSets, their ControllerRevisions and DaemonSet pods are listed once (paged) and then
kept current by one watch per resource (resumed from the last resourceVersion seen, bookmarks
included; listed again on 410 Gone), so a pass reads them from memory: its number of requests
no longer grows with the fleet.

A cache must never let a pass act on a view older than its own writes (a pod it deleted still
shown Ready would let the next pass delete more pods than the budget allows). Every write to a
cached resource goes through an `Expectation`: registered before the request is sent, settled
with what the cache must show once the write is visible (the resourceVersion the API returned,
or a condition on the object such as "gone or terminating"). `snapshot()` waits until every
settled expectation holds; what still does not hold after `settle_timeout`, and any resource
whose watch is failing or silent, is listed again before the snapshot is taken. A write whose
outcome is unknown (the request failed in transit or after retries) makes the next snapshot list
that resource again. So a snapshot is never older than the pass's own writes, and never older
than a fresh list would be, however slow the watch. After each list the process's objects are
frozen (`gc.freeze`): the collector then leaves the fleet's long-lived objects alone.

No `kubernetes` import: the Kubernetes adapter supplies the requests (`Source`). Side effects:
one daemon thread per resource, making the requests `Source` makes; `gc.freeze()` after lists.
"""

from __future__ import annotations

import functools
import gc
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gitops_edge.cluster.k8s_objects import controller_ref, node_from, pod_from
from gitops_edge.cluster.kube_pages import Key, Obj, key_of, read_pages, version_of
from gitops_edge.model.observed import REVISION_HASH_LABEL, Node

NodeChange = Callable[[Node | None, Node | None], None]  # (before, after); None: absent

NODES, DAEMONSETS, REVISIONS, PODS = "nodes", "daemonsets", "controllerrevisions", "pods"


class Source(Protocol):
    """The requests behind the cache (the Kubernetes adapter)."""

    def list_bodies(self, resource: str) -> Iterator[Obj]:
        """Every page of a paged LIST of `resource`, as the API returns it."""
        ...

    def watch(self, resource: str, version: str) -> Iterator[Obj]:
        """The events of one watch of `resource` from `version`, until the server ends it."""
        ...

    def interrupt(self) -> None:
        """End every watch in progress now (the cache is stopping)."""
        ...


def _revision(obj: Obj) -> Obj:
    """A ControllerRevision without its data (a whole pod template): what the observed model
    reads of it (its owner, hash and number)."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    ref = controller_ref(meta)
    return {
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "labels": {REVISION_HASH_LABEL: labels[REVISION_HASH_LABEL]}
            if REVISION_HASH_LABEL in labels
            else {},
            "ownerReferences": [dict(ref)] if ref else [],
        },
        "revision": obj.get("revision", 0),
    }


def parsers(pod_conditions: frozenset[str]) -> dict[str, Callable[[Obj], Any]]:
    """The cached resources, in the order they are listed (revisions before their DaemonSets,
    as a DaemonSet newer than its revisions is safe to plan from, not the reverse), each with
    how an object is kept: parsed once, when it arrives. DaemonSets are kept whole (few, and
    read by `daemonset_from` together with their revisions at each snapshot)."""
    return {
        NODES: node_from,
        REVISIONS: _revision,
        DAEMONSETS: lambda obj: obj,
        PODS: functools.partial(pod_from, keep=pod_conditions),
    }


class Expectation:
    """One write of ours to a cached object, until the cache shows it."""

    __slots__ = ("check", "deleted", "done", "key", "resource", "seen", "settled_at")

    def __init__(self, resource: str, key: Key) -> None:
        self.resource = resource
        self.key = key
        self.seen: set[str] = set()  # resourceVersions of the object's events since registered
        self.deleted = False  # a DELETED event for the object arrived since registered
        self.check: Callable[[Any], bool] | None = None  # None while the write is in flight
        self.settled_at = 0.0
        self.done = False

    def holds(self, value: Any) -> bool:
        return self.check is not None and (self.deleted or self.check(value))


@dataclass
class _Store:
    values: dict[Key, Any]
    version: str = ""  # resourceVersion to watch from ("" before the first list)
    generation: int = 0  # bumped by every list: a watch begun before it is stale
    heard: float = 0.0  # monotonic time of the last sign of life from the watch
    error: str = ""  # why the last watch failed ("" while it works)
    invalid: float = 0.0  # when a write's outcome became unknown (0: none); a list begun later
    # clears it, and until then every snapshot lists the resource again


class KubeCache:
    """Nodes, DaemonSets, ControllerRevisions and DaemonSet pods (or the `resources` named of
    them), kept current by watches."""

    def __init__(
        self,
        source: Source,
        resources: Iterable[str] | None = None,
        /,
        *,
        pod_conditions: frozenset[str],
        settle_timeout: float = 10.0,
        silence_limit: float = 360.0,
        idle_delay: float = 1.0,
        on_node_change: NodeChange | None = None,
    ) -> None:
        self.source = source
        wanted = set(resources) if resources is not None else None
        self.kinds = {
            resource: parse
            for resource, parse in parsers(pod_conditions).items()
            if wanted is None or resource in wanted
        }
        self.settle_timeout = settle_timeout
        self.silence_limit = silence_limit  # a watch silent this long is not trusted
        self.idle_delay = idle_delay  # pause before re-watching after a stream with no events
        self.on_node_change = on_node_change
        self.stores = {resource: _Store(values={}) for resource in self.kinds}
        self.expected: dict[tuple[str, Key], list[Expectation]] = {}
        self.relists = 0  # lists made after the first ones (410 Gone, unmet writes, silence)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ── life cycle ─────────────────────────────────────────────────────────────────────────

    def start(self) -> KubeCache:
        """List every resource (raising when the API cannot be reached), then watch each from a
        thread of its own."""
        for resource in self.kinds:
            self._list(resource, notify=False)
        for resource in self.kinds:
            thread = threading.Thread(
                target=self._watch_loop, args=(resource,), name=f"watch-{resource}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the watches (within `timeout` seconds in all)."""
        self._stop.set()
        self.source.interrupt()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # ── expectations (called around every write to a cached resource) ───────────────────────

    def expect(self, resource: str, key: Key) -> Expectation:
        """Register a write about to be sent (events from now on are recorded for it)."""
        expectation = Expectation(resource, key)
        with self._cond:
            self.expected.setdefault((resource, key), []).append(expectation)
        return expectation

    def settle(
        self,
        expectation: Expectation,
        *,
        version: str = "",
        holds: Callable[[Any], bool] | None = None,
    ) -> None:
        """The write succeeded: the cache must now show the object at `version` (the
        resourceVersion the API returned) or with `holds(value)` true (value None: gone)."""

        def check(value: Any) -> bool:
            if version and (version in expectation.seen or _version(value) == version):
                return True
            return holds is not None and holds(value)

        with self._cond:
            expectation.check = check
            expectation.settled_at = time.monotonic()
            self._evaluate(expectation)
            self._prune((expectation.resource, expectation.key))

    def forget(self, expectation: Expectation) -> None:
        """The API refused the write: nothing changed, nothing to wait for."""
        with self._cond:
            self._drop(expectation)

    def invalidate(self, resource: str, expectation: Expectation | None = None) -> None:
        """The write's outcome is unknown: the next snapshot lists `resource` again."""
        with self._cond:
            if expectation is not None:
                self._drop(expectation)
            self.stores[resource].invalid = time.monotonic()

    # ── reading ────────────────────────────────────────────────────────────────────────────

    def snapshot(self) -> dict[str, list[Any]]:
        """Every cached resource's values, once the cache shows all of this process's settled
        writes; resources it cannot vouch for are listed again first (may raise ClusterError)."""
        deadline = time.monotonic() + self.settle_timeout
        with self._cond:
            while self._waiting() and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            stale = self._waiting() | {r for r in self.stores if not self._trusted(r)}
        for resource in self.kinds:
            if resource in stale:
                self.relists += 1
                self._list(resource)
        with self._cond:
            return {r: list(store.values.values()) for r, store in self.stores.items()}

    def _waiting(self) -> set[str]:
        return {
            e.resource
            for pending in self.expected.values()
            for e in pending
            if e.check is not None and not e.done
        }

    def _trusted(self, resource: str) -> bool:
        store = self.stores[resource]
        silent = time.monotonic() - store.heard > self.silence_limit
        alive = all(t.is_alive() for t in self._threads if t.name == f"watch-{resource}")
        return not (store.invalid or store.error or silent or not alive or not store.version)

    # ── listing and watching ───────────────────────────────────────────────────────────────

    def _list(self, resource: str, *, notify: bool = True) -> None:
        """Replace the resource's values by a fresh paged list (the lock is not held while the
        pages arrive; a watch begun before the list is then abandoned for one from its
        version). `notify`: report the nodes whose readiness the list changed."""
        started = time.monotonic()
        values, version = read_pages(
            self.kinds[resource], functools.partial(self.source.list_bodies, resource)
        )
        with self._cond:
            store = self.stores[resource]
            old = store.values
            store.values, store.version = values, version
            store.generation += 1
            store.heard, store.error = time.monotonic(), ""
            if store.invalid and store.invalid < started:
                store.invalid = 0.0
            for pending in self.expected.values():  # a list begun after a write shows it
                for e in pending:
                    if e.resource == resource and e.check is not None and e.settled_at < started:
                        e.done = True
            self._prune()
            self._cond.notify_all()
        # What the list brought lives long: out of the collector's generations, so the full
        # collections of later passes do not walk through a whole fleet's objects every time.
        gc.freeze()
        if notify and resource == NODES and self.on_node_change is not None:
            for key in sorted(old.keys() | values.keys()):
                if old.get(key) != values.get(key):
                    self.on_node_change(old.get(key), values.get(key))

    def _watch_loop(self, resource: str) -> None:
        store = self.stores[resource]
        failures = 0
        while not self._stop.is_set():
            events = 0
            try:
                if not store.version:  # 410 Gone: list again
                    self.relists += 1
                    self._list(resource)
                with self._cond:
                    generation, version = store.generation, store.version
                for event in self.source.watch(resource, version):
                    events += 1
                    if not self._apply(resource, generation, event) or self._stop.is_set():
                        break
                with self._cond:
                    store.heard, store.error = time.monotonic(), ""
                failures = 0
            except Exception as exc:  # any failure: untrusted until a watch works again
                failures += 1
                with self._cond:
                    store.error = str(exc) or type(exc).__name__
                self._stop.wait(min(30.0, self.idle_delay * 2**failures))
                continue
            if not events:
                self._stop.wait(self.idle_delay)

    def _apply(self, resource: str, generation: int, event: Obj) -> bool:
        """Apply one watch event; False ends this watch (stale, or the version expired)."""
        kind, obj = event.get("type"), event.get("object") or {}
        changed: tuple[Any, Any] | None = None
        with self._cond:
            store = self.stores[resource]
            if store.generation != generation:
                return False  # listed meanwhile: watch again from the list's version
            store.heard = time.monotonic()
            if kind == "ERROR":
                if obj.get("code") == 410:  # compacted: list again, then watch from there
                    store.version = ""
                else:
                    store.error = str(obj.get("message") or obj.get("reason") or "watch error")
                return False
            version = version_of(obj)
            if kind == "BOOKMARK":
                store.version = version or store.version
                return True
            key = key_of(obj)
            old = store.values.get(key)
            if kind == "DELETED":
                new = None
                store.values.pop(key, None)
            else:
                new = self.kinds[resource](obj)
                store.values[key] = new
            store.version = version or store.version
            for e in self.expected.get((resource, key), ()):
                e.seen.add(version)
                e.deleted = e.deleted or kind == "DELETED"
                self._evaluate(e)
            self._prune((resource, key))
            self._cond.notify_all()
            if resource == NODES and old != new:
                changed = (old, new)
        if changed is not None and self.on_node_change is not None:
            self.on_node_change(*changed)
        return True

    def _evaluate(self, expectation: Expectation) -> None:
        value = self.stores[expectation.resource].values.get(expectation.key)
        if not expectation.done and expectation.holds(value):
            expectation.done = True

    def _drop(self, expectation: Expectation) -> None:
        pending = self.expected.get((expectation.resource, expectation.key), [])
        if expectation in pending:
            pending.remove(expectation)
        self._prune((expectation.resource, expectation.key))

    def _prune(self, only: tuple[str, Key] | None = None) -> None:
        """Forget the objects whose expectations are all met (`only`: just that object's)."""
        keys = [only] if only is not None else list(self.expected)
        for key in keys:
            if key in self.expected and all(e.done for e in self.expected[key]):
                del self.expected[key]


def _version(value: Any) -> str:
    return version_of(value) if isinstance(value, Mapping) else ""
