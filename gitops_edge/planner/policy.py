"""Rollout policy across groups (beyond OpenYurt): maintenance windows, waves with bake time,
the progress deadline that halts a group, and the bookkeeping for automatic rollback.

- A group outside its maintenance window is *held*: no pod deletions, OTA marks or job
  dispatch; the reason says when the next window opens.
- Waves: a group of wave k is held until every group of the earlier waves is *settled*: its
  DaemonSet is up to date, every Ready node (every node with waitForNotReady) runs a current,
  available pod, and the newest of those became available at least bakeSeconds ago; a halted
  or rolled-back group never settles.
- Halt: pods of the current revision that are not available progressDeadlineSeconds after they
  were created count as failed; more than maxFailedPods halts the group. The halt is recorded
  on the DaemonSet (annotation, tied to the spec hash), so it holds until the repository
  changes. With autoRollback the group goes back to the last revision that was fully available
  (also an annotation, recorded when a rollout completes).
Pure: no I/O, no clock (the observation's time).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from gitops_edge.model import nodejobs as nj
from gitops_edge.model.desired import (
    SPEC_HASH_ANNOTATION,
    DesiredDaemonSet,
    DesiredJob,
    LabelSelector,
    NodeGroup,
)
from gitops_edge.model.maintenance import Window, next_start, open_at
from gitops_edge.model.observed import DaemonSetObs, Node
from gitops_edge.model.plan import WINDOW_HOLD, Action, AnnotateDaemonSet, RollbackDaemonSet
from gitops_edge.planner.classify import NodeState, NodeView, daemonset_views
from gitops_edge.planner.index import FleetIndex, LabelIndex, group_members
from gitops_edge.planner.words import rfc3339, short

HALTED_ANNOTATION = "gitops-edge.io/halted"  # "<spec hash> <revision> <reason>"
LAST_GOOD_ANNOTATION = "gitops-edge.io/last-available-revision"
ROLLED_BACK_ANNOTATION = "gitops-edge.io/rolled-back"  # "<spec hash> <from> <to>"

Key = tuple[str, str]


def _marked(ds: DaemonSetObs, annotation: str, spec_hash: str) -> list[str] | None:
    """The words of a bookkeeping annotation when it belongs to this spec hash, else None."""
    words = ds.annotations.get(annotation, "").split(" ", 3)
    return words[1:] if words and words[0] == spec_hash else None


def frozen(ds: DaemonSetObs, spec_hash: str) -> bool:
    """The group is halted or rolled back at this spec: gitops-edge changes nothing of it (not
    even drift: an operator may be fixing it by hand) until the repository changes."""
    return any(
        _marked(ds, annotation, spec_hash) is not None
        for annotation in (HALTED_ANNOTATION, ROLLED_BACK_ANNOTATION)
    )


def settled(
    desired: DesiredDaemonSet,
    *,
    index: FleetIndex,
    now: float,
    views_of: dict[Key, list[NodeView]],
) -> str:
    """The empty string when the group's rollout is complete and baked, else what it waits
    for. The node views it computes are left in `views_of`, for the DaemonSet's own plan."""
    key = (desired.namespace, desired.name)
    ds = index.daemonsets.get(key)
    if ds is None or ds.annotations.get(SPEC_HASH_ANNOTATION) != desired.spec_hash:
        return f"group {desired.group} is not updated yet"
    if _marked(ds, HALTED_ANNOTATION, desired.spec_hash) is not None:
        return f"group {desired.group} is halted"
    policy = desired.rollout
    wait_all = policy is not None and policy.wait_for_not_ready
    views = daemonset_views(ds, index=index, now=now)
    views_of[key] = views
    counted = [v for v in views if v.ready or wait_all]
    behind = sum(v.state is not NodeState.CURRENT for v in counted)
    if behind:
        return f"group {desired.group}: {behind} of {len(counted)} nodes not on the new revision"
    since = [p.ready_since or 0.0 for v in counted for p in v.live]
    bake = policy.bake_seconds if policy is not None else 0
    done_at = max(since, default=0.0) + ds.min_ready_seconds
    if bake and now < done_at + bake:
        return f"group {desired.group} is baking until {rfc3339(done_at + bake)}"
    return ""


def wave_holds(
    daemonsets: Sequence[DesiredDaemonSet],
    *,
    index: FleetIndex,
    now: float,
    views_of: dict[Key, list[NodeView]],
) -> dict[Key, str]:
    """Per DaemonSet of a later wave: why it waits for an earlier wave ("" entries omitted)."""
    by_workload: dict[tuple[str, str], list[DesiredDaemonSet]] = {}
    for d in daemonsets:
        if d.rollout is not None and d.rollout.waves > 1:
            by_workload.setdefault((d.namespace, d.workload), []).append(d)
    holds: dict[Key, str] = {}
    for members in by_workload.values():
        waiting: list[str] = []  # reasons of the earlier waves, wave by wave
        for wave in range(max(d.rollout.wave for d in members if d.rollout) + 1):
            in_wave = [d for d in members if d.rollout and d.rollout.wave == wave]
            if waiting:
                for d in in_wave:
                    holds[(d.namespace, d.name)] = (
                        f"wave {wave + 1}/{d.rollout.waves if d.rollout else 1} waits: "
                        + "; ".join(waiting)
                    )
            waiting += [
                why for d in in_wave if (why := settled(d, index=index, now=now, views_of=views_of))
            ]
    return holds


def halt_and_rollback(
    desired: DesiredDaemonSet, ds: DaemonSetObs, views: Sequence[NodeView], *, now: float
) -> tuple[tuple[Action, ...], str, str]:
    """(bookkeeping actions, halt reason, rolled back "<from> → <to>") for a group with a
    rollout policy whose DaemonSet is up to date."""
    policy = desired.rollout
    if policy is None:
        return (), "", ""
    spec = desired.spec_hash
    ident = f"{desired.namespace}/{desired.name}"
    rolled = _marked(ds, ROLLED_BACK_ANNOTATION, spec)
    if rolled is not None:
        return (), "", f"{short(rolled[0])} → {short(rolled[1])}"
    actions: list[Action] = []
    halted = _marked(ds, HALTED_ANNOTATION, spec)
    reason = " ".join(halted[1:]) if halted is not None else ""
    if halted is None:
        deadline = policy.progress_deadline_seconds
        failed = [
            v.node
            for v in views
            if v.ready
            and v.state is NodeState.NEW_NOT_AVAILABLE
            and v.live
            and v.live[0].created
            and v.live[0].created + deadline <= now
        ]
        limit = _threshold(policy.max_failed, len(views))
        if len(failed) <= limit:
            complete = views and all(v.state is NodeState.CURRENT for v in views)
            good = ds.annotations.get(LAST_GOOD_ANNOTATION)
            if complete and ds.current_revision and good != ds.current_revision:
                actions.append(
                    AnnotateDaemonSet(
                        namespace=desired.namespace,
                        name=desired.name,
                        annotations=((LAST_GOOD_ANNOTATION, ds.current_revision),),
                        reason=f"record revision {short(ds.current_revision)} of {ident} "
                        "as fully available (the rollback target)",
                    )
                )
            return tuple(actions), "", ""
        shown = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
        reason = (
            f"{len(failed)} pods of revision {short(ds.current_revision)} not available "
            f"{deadline} s after they started (on {shown}), more than maxFailedPods {limit}"
        )
        actions.append(
            AnnotateDaemonSet(
                namespace=desired.namespace,
                name=desired.name,
                annotations=((HALTED_ANNOTATION, f"{spec} {ds.current_revision} {reason}"),),
                reason=f"halt {ident}: {reason}",
            )
        )
    good = ds.annotations.get(LAST_GOOD_ANNOTATION, "")
    failed_revision = halted[0] if halted else ds.current_revision
    if policy.auto_rollback and good and good != failed_revision:
        if good != ds.current_revision:
            actions.append(
                RollbackDaemonSet(
                    namespace=desired.namespace,
                    name=desired.name,
                    uid=ds.uid,
                    revision=good,
                    reason=f"roll {ident} back from revision {short(ds.current_revision)} to "
                    f"{short(good)}, the last fully available one (autoRollback)",
                )
            )
        # Recorded after the rollback; a pass that crashed in between records it next time.
        actions.append(
            AnnotateDaemonSet(
                namespace=desired.namespace,
                name=desired.name,
                annotations=((ROLLED_BACK_ANNOTATION, f"{spec} {failed_revision} {good}"),),
                reason=f"record the rollback of {ident} from {short(failed_revision)} to "
                f"{short(good)}",
            )
        )
    return tuple(actions), reason, ""


def _threshold(value: int | str, total: int) -> int:
    if isinstance(value, int):
        return value
    if value.endswith("%"):
        return int(value[:-1]) * total // 100
    return int(value)


def holds_for_groups(
    daemonsets: Sequence[DesiredDaemonSet],
    *,
    index: FleetIndex,
    now: float,
    views_of: dict[Key, list[NodeView]],
) -> Mapping[Key, str]:
    """Every DaemonSet that is held this pass, and why: its window first, then its wave. Node
    views computed on the way are left in `views_of` (multi-wave workloads only)."""
    holds = dict(wave_holds(daemonsets, index=index, now=now, views_of=views_of))
    for d in daemonsets:
        why = window_hold(d.window, now)
        if why:
            holds[(d.namespace, d.name)] = why
    return holds


def job_window_holds(
    jobs: Sequence[DesiredJob], groups: Sequence[NodeGroup], nodes: Sequence[Node], *, now: float
) -> dict[tuple[str, str], str]:
    """Node jobs that must not be dispatched now: those targeting a node of a group whose
    maintenance window is closed, by (kind, name)."""
    closed = [g for g in groups if g.window is not None and window_hold(g.window, now)]
    if not closed or not jobs:
        return {}
    members = group_members(closed, LabelIndex.of(nodes))
    holds: dict[tuple[str, str], str] = {}
    for job in jobs:
        spec = nj.job_spec(json.loads(job.manifest_json))
        if spec.node_names:
            targets = set(spec.node_names)
        else:
            selector = spec.selector or LabelSelector()
            targets = {n.name for n in nodes if selector.matches(n.labels)}
        for group in closed:
            if targets & members[group.name]:
                holds[(job.kind, job.name)] = (
                    f"targets nodes of group {group.name}, {window_hold(group.window, now)}"
                )
                break
    return holds


def window_hold(window: Window | None, now: float) -> str:
    """Why a group is held by its maintenance window ("" when open or none)."""
    if window is None or open_at(window, now) is not None:
        return ""
    upcoming = next_start(window, now)
    when = f"; next window opens {rfc3339(upcoming)}" if upcoming is not None else ""
    return f"{WINDOW_HOLD}: outside its maintenance window {window.describe()}{when}"
