"""Carrying out a Plan's actions on a Cluster: one by one, or concurrently through a bounded
pool of workers where `apply_order`'s rules allow, each send after a token of the rate limit;
a failed action never stops the rest. The plan (and so the budget) is decided before anything
is sent: the pool sends exactly the planned actions, each once.

Side effects: writes to the cluster through the `Cluster` protocol only (from the pool's
threads when `workers` > 1); sleeps for the rate limit's tokens.
"""

from __future__ import annotations

import json
import queue
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from gitops_edge.cluster.base import Cluster, ClusterError, NamespaceMissingError, NotFoundError
from gitops_edge.model.plan import (
    Action,
    AnnotateDaemonSet,
    ApplyDaemonSet,
    ApplyNamespace,
    CreateNodeJob,
    DeleteJob,
    DeleteNodeJob,
    DeletePod,
    Plan,
    PruneDaemonSet,
    PruneNamespace,
    RollbackDaemonSet,
    SetPodCondition,
    StartImagePull,
)
from gitops_edge.reconciler.apply_order import WORK, Slot, apply_order
from gitops_edge.reconciler.rate_limit import TokenBucket

DONE = "done"
SKIPPED = "skipped"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ActionResult:
    action: Action
    outcome: str  # DONE | SKIPPED | FAILED
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ApplySettings:
    """How a pass sends its actions: `workers` at a time at most (1: one by one, in plan
    order), each after a token of `limiter` (None: no client-side rate limit)."""

    workers: int = 1
    limiter: TokenBucket | None = None


ONE_BY_ONE = ApplySettings()  # the default: in plan order, no rate limit


def apply_plan(
    plan: Plan,
    cluster: Cluster,
    *,
    guard: Callable[[], None] | None = None,
    settings: ApplySettings = ONE_BY_ONE,
    on_applied: Callable[[int], None] | None = None,
) -> tuple[ActionResult, ...]:
    """Apply `plan.actions` as `settings` say, in the order `apply_order` allows."""
    if settings.workers <= 1:
        return apply_actions(
            plan.actions, cluster, guard=guard, limiter=settings.limiter, on_applied=on_applied
        )
    ordered = apply_order(plan)
    return apply_actions(
        ordered.actions,
        cluster,
        guard=guard,
        order=ordered.slots,
        workers=settings.workers,
        limiter=settings.limiter,
        on_applied=on_applied,
    )


def _apply_one(action: Action, cluster: Cluster) -> None:
    if isinstance(action, ApplyDaemonSet):
        cluster.apply_daemonset(json.loads(action.manifest_json))
    elif isinstance(action, DeletePod):
        cluster.delete_pod(action.namespace, action.name, action.uid)
    elif isinstance(action, SetPodCondition):
        cluster.set_pod_condition(action.namespace, action.name, action.uid, action.condition)
    elif isinstance(action, PruneDaemonSet):
        cluster.delete_daemonset(action.namespace, action.name)
    elif isinstance(action, StartImagePull):
        cluster.create_pull_job(json.loads(action.manifest_json))
    elif isinstance(action, DeleteJob):
        cluster.delete_job(action.namespace, action.name)
    elif isinstance(action, AnnotateDaemonSet):
        cluster.annotate_daemonset(action.namespace, action.name, dict(action.annotations))
    elif isinstance(action, RollbackDaemonSet):
        cluster.rollback_daemonset(action.namespace, action.name, action.uid, action.revision)
    elif isinstance(action, CreateNodeJob):
        cluster.create_node_job(json.loads(action.manifest_json))
    elif isinstance(action, DeleteNodeJob):
        cluster.delete_node_job(action.api_version, action.kind, action.name)
    elif isinstance(action, ApplyNamespace):
        cluster.apply_namespace(json.loads(action.manifest_json))
    elif isinstance(action, PruneNamespace):
        cluster.delete_namespace(action.name)


def apply_actions(
    actions: Iterable[Action],
    cluster: Cluster,
    *,
    guard: Callable[[], None] | None = None,
    order: Sequence[Slot] | None = None,
    workers: int = 1,
    limiter: TokenBucket | None = None,
    on_applied: Callable[[int], None] | None = None,
) -> tuple[ActionResult, ...]:
    """Apply each action; a pod or object that is already gone is skipped, errors recorded. An
    object whose namespace does not exist is not "gone": that action failed. Results are in
    the order of `actions`, whatever order they finished in.

    `order`: when each action may start (`apply_order.apply_order` of the plan; None: each
    after the one before it). With `workers` > 1, actions whose turn has come are sent
    concurrently by that many threads; with 1, one by one in list order. `limiter`: a token
    is taken before each send. `guard` is called right before each send (after its token)
    and stops the rest by raising (the leader election's check: a reconciler that lost its
    lease starts nothing more; sends already in flight finish), then the exception is
    raised here. `on_applied(n)`: told, on the calling thread, how many actions have finished
    after each one (a progress line)."""
    todo = tuple(actions)
    told = on_applied or _nobody
    if workers <= 1 or len(todo) <= 1:
        results: list[ActionResult] = []
        for action in todo:
            results.append(_send(action, cluster, guard=guard, limiter=limiter))
            told(len(results))
        return tuple(results)
    slots = (
        order
        if order is not None
        else [Slot(WORK, (i - 1,) if i else ()) for i in range(len(todo))]
    )
    if len(slots) != len(todo):
        raise ValueError(f"{len(slots)} slots for {len(todo)} actions")
    pool = _Pool(todo, cluster, guard=guard, limiter=limiter, on_finished=told)
    return pool.run(slots, workers=workers)


def _nobody(done: int) -> None:
    """No one to tell how many actions have finished."""


def _send(
    action: Action,
    cluster: Cluster,
    *,
    guard: Callable[[], None] | None,
    limiter: TokenBucket | None,
) -> ActionResult:
    if limiter is not None:
        limiter.acquire()
    if guard is not None:
        guard()
    return _outcome(action, cluster)


def _outcome(action: Action, cluster: Cluster) -> ActionResult:
    try:
        _apply_one(action, cluster)
    except NamespaceMissingError as exc:
        return ActionResult(action, FAILED, str(exc))
    except NotFoundError as exc:
        return ActionResult(action, SKIPPED, f"already gone: {exc}")
    except ClusterError as exc:
        return ActionResult(action, FAILED, str(exc))
    return ActionResult(action, DONE)


class _Pool:
    """One concurrent apply: stage by stage, an action submitted to the pool once the actions
    it waits for have finished; stops starting actions at the first exception (the guard's)."""

    def __init__(
        self,
        actions: tuple[Action, ...],
        cluster: Cluster,
        *,
        guard: Callable[[], None] | None,
        limiter: TokenBucket | None,
        on_finished: Callable[[int], None],
    ) -> None:
        self.actions = actions
        self.on_finished = on_finished
        self.finished = 0
        self.cluster = cluster
        self.guard = guard
        self.limiter = limiter
        self.results: list[ActionResult | None] = [None] * len(actions)
        self.stopped: BaseException | None = None
        self._turn = threading.Lock()  # the guard is asked, and a stop seen, one at a time
        self._done: queue.SimpleQueue[int] = queue.SimpleQueue()

    def run(self, slots: Sequence[Slot], *, workers: int) -> tuple[ActionResult, ...]:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="apply") as pool:
            for stage in sorted({slot.stage for slot in slots}):
                self._stage([i for i, s in enumerate(slots) if s.stage == stage], slots, pool)
                if self.stopped is not None:
                    raise self.stopped
        return tuple(r for r in self.results if r is not None)

    def _stage(self, indices: list[int], slots: Sequence[Slot], pool: ThreadPoolExecutor) -> None:
        waiting = {i: set(slots[i].after) for i in indices}
        dependents: dict[int, list[int]] = defaultdict(list)
        for i in indices:
            for j in slots[i].after:
                dependents[j].append(i)
        running = 0
        for i in indices:
            if not waiting[i]:
                pool.submit(self._work, i)
                running += 1
        while running:
            finished = self._done.get()
            running -= 1
            self.finished += 1
            self.on_finished(self.finished)
            for i in dependents[finished]:
                waiting[i].discard(finished)
                if not waiting[i] and self.stopped is None:
                    pool.submit(self._work, i)
                    running += 1

    def _work(self, index: int) -> None:
        try:
            if self.stopped is not None:
                return
            if self.limiter is not None:
                self.limiter.acquire()
            with self._turn:
                if self.stopped is not None:
                    return
                if self.guard is not None:
                    self.guard()
            self.results[index] = _outcome(self.actions[index], self.cluster)
        except BaseException as exc:  # the guard's NotLeaderError, or a bug: stop starting
            with self._turn:
                if self.stopped is None:
                    self.stopped = exc
        finally:
            self._done.put(index)
