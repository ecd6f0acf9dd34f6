"""The building blocks of a reconcile pass that `pipeline.Pipeline` runs as named steps:
validate → render (`load_desired`), and observe → plan → apply (→ observe → plan → apply) in
rounds (`reconcile_once`); the pass's result (`PassResult`).

A revision with any validation error is never applied, not even partly. When a pass updates
DaemonSets, it observes again and plans the pod upgrades against the new revisions in the same
pass. Side effects: reads the source folder; writes to the cluster through `apply.apply_plan`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gitops_edge.cluster.base import Cluster
from gitops_edge.model.desired import DesiredState, RepoConfig
from gitops_edge.model.observed import Observed
from gitops_edge.model.plan import ApplyDaemonSet, DaemonSetPlan, Plan
from gitops_edge.planner import plan as make_plan
from gitops_edge.reconciler.apply import ONE_BY_ONE, ActionResult, ApplySettings, apply_plan
from gitops_edge.repository.diagnostics import Diagnostic
from gitops_edge.repository.render import render
from gitops_edge.repository.validation import validate_repository

MAX_ROUNDS = 2  # objects first, then pod upgrades against the new revisions

# progress(step, done, total): what a pass is doing; total 0 while the size is not known
PassProgress = Callable[[str, int, int], None]


def no_progress(step: str, done: int, total: int) -> None:
    """No progress display."""


class InvalidRevisionError(Exception):
    """The desired state has validation errors; nothing was applied."""

    def __init__(self, diagnostics: tuple[Diagnostic, ...], *, revision: str = "") -> None:
        super().__init__(f"{len(diagnostics)} validation problems")
        self.diagnostics = diagnostics
        self.revision = revision


@dataclass(frozen=True, slots=True)
class PassResult:
    plans: tuple[Plan, ...]  # one per round
    results: tuple[ActionResult, ...]
    uids: Mapping[tuple[str, str], str] = field(default_factory=dict)  # DaemonSets, observed
    observed: Observed | None = None  # what the last plan was made from

    @property
    def last_plan(self) -> Plan:
        return self.plans[-1]

    @property
    def drifted(self) -> tuple[DaemonSetPlan, ...]:
        """The DaemonSets this pass found drifted from the repository (restored, unless held),
        each as planned when its drift was found."""
        seen: dict[tuple[str, str], DaemonSetPlan] = {}
        for plan in self.plans:
            for ds in plan.daemonsets:
                if ds.drift:
                    seen.setdefault((ds.namespace, ds.name), ds)
        return tuple(seen.values())

    @property
    def drift(self) -> dict[tuple[str, str], tuple[str, ...]]:
        """The drifted field paths of `drifted`, by (namespace, name)."""
        return {(ds.namespace, ds.name): ds.drift for ds in self.drifted}


def load_desired(root: Path, *, revision: str) -> DesiredState:
    """Validate and render; raises InvalidRevisionError when any error was found."""
    validated = validate_repository(root)
    if not validated.valid:
        raise InvalidRevisionError(validated.diagnostics)
    return render(validated.documents, config=validated.config, revision=revision)


def load_desired_at(root: Path, *, revision_for: Callable[[RepoConfig], str]) -> DesiredState:
    """Like load_desired, with the revision chosen once the repository config is known (a git
    source's spec revision depends on where its status folder is)."""
    validated = validate_repository(root)
    revision = revision_for(validated.config)
    if not validated.valid:
        raise InvalidRevisionError(validated.diagnostics, revision=revision)
    return render(validated.documents, config=validated.config, revision=revision)


def plan_once(desired: DesiredState, cluster: Cluster) -> Plan:
    return make_plan(desired, cluster.observe())


def reconcile_once(
    desired: DesiredState,
    cluster: Cluster,
    *,
    guard: Callable[[], None] | None = None,
    settings: ApplySettings = ONE_BY_ONE,
    progress: PassProgress = no_progress,
    planner: Callable[[DesiredState, Observed], Plan] = make_plan,
) -> PassResult:
    """One pass; `guard` is called before each action applied, which are sent as `settings`
    say (see `apply.apply_actions`); `progress` is told each step (observe, plan, apply: after
    each action); `planner`: `planner.plan`, or an incremental planner giving the same plans."""
    plans: list[Plan] = []
    results: list[ActionResult] = []
    uids: dict[tuple[str, str], str] = {}
    observed: Observed | None = None
    for number in range(1, MAX_ROUNDS + 1):
        progress(f"round {number}: observing the cluster", 0, 0)
        observed = cluster.observe()
        uids.update({(d.namespace, d.name): d.uid for d in observed.daemonsets})
        progress(f"round {number}: planning", 0, 0)
        current = planner(desired, observed)
        plans.append(current)
        applied = _counter(progress, f"round {number}: applying", total=len(current.actions))
        applied(0)
        results.extend(
            apply_plan(current, cluster, guard=guard, settings=settings, on_applied=applied)
        )
        if not any(isinstance(a, ApplyDaemonSet) for a in current.actions):
            break
    return PassResult(plans=tuple(plans), results=tuple(results), uids=uids, observed=observed)


def _counter(progress: PassProgress, step: str, *, total: int) -> Callable[[int], None]:
    """`progress` for one step of `total` actions, told how many are done."""

    def told(done: int) -> None:
        progress(step, done, total)

    return told
