"""The reconcile pipeline: one pass as one object with named steps, as Flux's controllers run it.

    fetch the source → validate and render → observe → plan → apply
        → record events → observe again → record metrics → publish status

`Pipeline` holds the pass's collaborators (the source, the cluster opener, the event recorder,
and optionally the status publisher, the metrics and the leader guard) and has one method per
step. `load()` runs the first two steps (`fetch`, `validate_and_render`); `run_pass(desired)`
(also `pipeline(desired)`) runs the rest on a valid desired state and returns the `PassResult`.
Observe → plan → apply runs in rounds (`reconcile.reconcile_once`: objects first, then the pod
upgrades against the new revisions). "Observe again" is skipped when the pass sent nothing:
the status and metrics then report the observation and plan the pass made (at fleet scale a
second observe and plan was half of a steady pass). `guard` is asked before each action
applied and before the status is published, so a reconciler that lost its lease stops at once
(`NotLeaderError`). With `incremental` (the loop), every plan of a pass is made by that
`IncrementalPlanner`, which replans only the DaemonSets whose inputs changed since its previous
plan (same plans).
Who runs it: `reconcile --once` and the CronJob (`cli.reconcile_cmd`), the loop
(`loop.run_loop` calls `load` and `run_pass` every pass; `cli.loop_cmd`) and the demo
(`demo`). The CLI only builds it (`cli.pipeline_args.pipeline_from_args`) and renders results.
Side effects: those of its collaborators: git (the source, the publisher), the cluster
(observe, apply, events), the metrics registry, log lines.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gitops_edge.cluster.base import Cluster
from gitops_edge.model.desired import DesiredState
from gitops_edge.model.observed import Observed
from gitops_edge.model.plan import Plan
from gitops_edge.planner import plan as make_plan
from gitops_edge.reconciler.apply import ONE_BY_ONE, ApplySettings
from gitops_edge.reconciler.event_recorder import EventRecorder
from gitops_edge.reconciler.incremental import IncrementalPlanner
from gitops_edge.reconciler.loop import Loaded, Resumed, load_step
from gitops_edge.reconciler.metrics import LoopMetrics
from gitops_edge.reconciler.publish import GitPublisher
from gitops_edge.reconciler.reconcile import (
    PassProgress,
    PassResult,
    load_desired,
    no_progress,
    reconcile_once,
)

Log = Callable[..., None]  # log(level, message, **fields)
LOCAL_REVISION = "worktree"  # the revision a local folder (not a git source) is reconciled as
NO_HISTORY = "a local folder has no history to resume from (a git source has)"


class Source(Protocol):
    """Where the desired state comes from: `fetch` brings the newest revision (a git sync, or
    nothing for a local folder) and says where it is; `validate_and_render` turns it into a
    desired state, or the diagnostics of an invalid revision."""

    def fetch(self) -> Path: ...

    def validate_and_render(self, root: Path) -> Loaded: ...


@dataclass(frozen=True, slots=True)
class FolderSource:
    """A local folder, reconciled as it is on disk, under `revision` (`LOCAL_REVISION`)."""

    root: Path
    revision: str = LOCAL_REVISION

    def fetch(self) -> Path:
        return self.root

    def validate_and_render(self, root: Path) -> Loaded:
        return load_step(lambda: load_desired(root, revision=self.revision), lambda: self.revision)


ClusterOpener = Callable[[], AbstractContextManager[Cluster]]


def this_cluster(cluster: Cluster) -> ClusterOpener:
    """An opener of a cluster already open (the demo, tests): the pass does not close it."""
    return lambda: nullcontext(cluster)


@dataclass(frozen=True, slots=True)
class Pipeline:
    """One reconcile pass, step by step (module docstring). `publisher`: writes the status
    back to a git source (None for a local folder); `metrics`: told about every pass (the loop
    with --metrics-addr); `guard`: raises `NotLeaderError` once this process no longer holds
    the lease (--leader-elect); `apply`: how many actions are sent at once, at what rate
    (--apply-workers, --kube-qps, --kube-burst); `incremental`: makes every plan, reusing what
    did not change since its previous one (the loop; None: every plan made from scratch)."""

    source: Source
    clusters: ClusterOpener
    events: EventRecorder
    publisher: GitPublisher | None = None
    metrics: LoopMetrics | None = None
    guard: Callable[[], None] | None = None
    progress: PassProgress = no_progress  # told each step of a pass (a progress line)
    apply: ApplySettings = ONE_BY_ONE
    incremental: IncrementalPlanner | None = None

    # ── fetch the source → validate and render ──────────────────────────────────────────
    def load(self) -> Loaded:
        """The newest revision of the source: valid (a desired state) or not (diagnostics)."""
        return self.validate_and_render(self.fetch())

    def fetch(self) -> Path:
        return self.source.fetch()

    def validate_and_render(self, root: Path) -> Loaded:
        return self.source.validate_and_render(root)

    def resume(self) -> Resumed:
        """The last good revision an earlier run recorded (for a loop that starts on an
        invalid one): only a git source keeps that record."""
        if self.publisher is not None:
            return self.publisher.resume()
        return Resumed(None, NO_HISTORY)

    # ── observe → plan → apply, record events, observe again, record metrics, publish ─────
    def run_pass(self, desired: DesiredState) -> PassResult:
        """Reconcile `desired`: every step after validate-and-render, in order."""
        started = time.monotonic()
        if self.incremental is not None:
            self.incremental.begin_pass()
        with self.clusters() as cluster:
            outcome = self.observe_plan_apply(desired, cluster)
            self.record_events(outcome, cluster=cluster, revision=desired.revision)
            if not self._reports_after:
                return outcome
            if outcome.results or outcome.observed is None:
                self.progress("observing the cluster after the pass", 0, 0)
                observed = self.observe(cluster)
                after = self.plan(desired, observed)
            else:  # nothing sent: the fleet after the pass is the one it observed and planned
                observed, after = outcome.observed, outcome.last_plan
        self.record_metrics(
            desired=desired,
            observed=observed,
            after=after,
            outcome=outcome,
            seconds=time.monotonic() - started,
        )
        self.publish_status(desired, after=after, outcome=outcome)
        return outcome

    __call__ = run_pass

    def observe_plan_apply(self, desired: DesiredState, cluster: Cluster) -> PassResult:
        """Observe, plan and apply, in rounds (objects first, then pod upgrades against the
        new revisions); each action only while `guard` allows."""
        return reconcile_once(
            desired,
            cluster,
            guard=self.guard,
            settings=self.apply,
            progress=self.progress,
            planner=self.plan,
        )

    def observe(self, cluster: Cluster) -> Observed:
        return cluster.observe()

    def plan(self, desired: DesiredState, observed: Observed) -> Plan:
        if self.incremental is not None:
            return self.incremental.plan(desired, observed)
        return make_plan(desired, observed)

    def record_events(self, outcome: PassResult, *, cluster: Cluster, revision: str) -> None:
        """Kubernetes Events for what the pass did; never fails the pass (`EventRecorder`)."""
        self.events.record(outcome, cluster=cluster, revision=revision)

    def record_metrics(
        self,
        *,
        desired: DesiredState,
        observed: Observed,
        after: Plan,
        outcome: PassResult,
        seconds: float,
    ) -> None:
        if self.metrics is not None:
            self.metrics.record_pass(
                desired=desired,
                observed=observed,
                plan=after,
                seconds=seconds,
                drifted=outcome.drifted,
            )

    def publish_status(self, desired: DesiredState, *, after: Plan, outcome: PassResult) -> None:
        """Commit the fleet as it is after the pass to the status folder (branch) of a git
        source; a reconciler that lost the lease writes no status either."""
        if self.publisher is None or not self.publisher.enabled:
            return
        if self.guard is not None:
            self.guard()
        self.progress("writing the status", 0, 0)
        self.publisher.publish(desired, after, drift=outcome.drift)

    @property
    def _reports_after(self) -> bool:
        """Whether anything reports the fleet as it is after the pass (status, metrics)."""
        publishing = self.publisher is not None and self.publisher.enabled
        return publishing or self.metrics is not None
