"""The plan for one desired DaemonSet: create or update it, or move its pods by its model.

A DaemonSet whose observed spec hash differs from the desired one is updated first, and its
pods are planned in a later round, against the new revision (never against the old one).
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from gitops_edge.model.desired import (
    OWNER_LABEL,
    SPEC_HASH_ANNOTATION,
    DesiredDaemonSet,
    UpdateModel,
)
from gitops_edge.model.observed import DaemonSetObs
from gitops_edge.model.plan import (
    Action,
    ApplyDaemonSet,
    Budget,
    DaemonSetPlan,
    Deferral,
    JobPlan,
    Progress,
)
from gitops_edge.planner.advanced import plan_advanced
from gitops_edge.planner.classify import (
    UNAVAILABLE_STATES,
    NodeView,
    counts_current,
    daemonset_views,
)
from gitops_edge.planner.drift import DriftedField, drift_between, drift_summary
from gitops_edge.planner.index import FleetIndex
from gitops_edge.planner.ota import plan_ota
from gitops_edge.planner.policy import frozen, halt_and_rollback
from gitops_edge.planner.prepull import plan_prepull
from gitops_edge.planner.rollout_prepull import Gate, prepull_gate
from gitops_edge.planner.words import short


def _progress(views: Sequence[NodeView], *, deferred: int = 0, ota_pending: int = 0) -> Progress:
    current = outdated = unavailable = not_ready = 0
    for view in views:
        not_ready += not view.ready
        current += counts_current(view)
        outdated += view.outdated
        unavailable += view.ready and view.state in UNAVAILABLE_STATES
    return Progress(
        nodes=len(views),
        current=current,
        outdated=outdated,
        unavailable=unavailable,
        deferred=deferred,
        ota_pending=ota_pending,
        not_ready=not_ready,
    )


def native_max_unavailable(value: int | str, nodes: int) -> int:
    """Kubernetes' RollingUpdate maxUnavailable: an int, or a percentage rounded up."""
    if isinstance(value, int):
        return value
    text = value.strip()
    if text.endswith("%") and text[:-1].isdigit():
        return -(-int(text[:-1]) * nodes // 100)
    return int(text) if text.isdigit() else 1


def _origin(desired: DesiredDaemonSet) -> str:
    group = f", group {desired.group}" if desired.group else ""
    return f"(workload {desired.workload}{group}) from {desired.source.file}:{desired.source.line}"


def _result(
    desired: DesiredDaemonSet,
    *,
    revision: str,
    actions: tuple[Action, ...],
    deferred: tuple[Deferral, ...],
    progress: Progress,
    budget: Budget | None,
    errors: tuple[str, ...],
    notes: tuple[str, ...],
    prepull: tuple[JobPlan, ...] = (),
    held: str = "",
    halted: str = "",
    rolled_back: str = "",
    drift: tuple[DriftedField, ...] = (),
) -> DaemonSetPlan:
    return DaemonSetPlan(
        namespace=desired.namespace,
        name=desired.name,
        workload=desired.workload,
        group=desired.group,
        model=desired.model,
        revision=revision,
        actions=actions,
        deferred=deferred,
        progress=progress,
        budget=budget,
        errors=errors,
        notes=notes,
        prepull=prepull,
        wave=f"{desired.rollout.wave + 1}/{desired.rollout.waves}" if desired.rollout else "",
        held=held,
        halted=halted,
        rolled_back=rolled_back,
        drift=tuple(f.path for f in drift),
        bake_seconds=desired.rollout.bake_seconds if desired.rollout else 0,
        window=desired.window,
    )


def daemonset_drift(desired: DesiredDaemonSet, ds: DaemonSetObs) -> tuple[DriftedField, ...]:
    """The fields the repository sets that differ in the cluster, for a DaemonSet at the desired
    spec hash; none while gitops-edge itself froze it (halted, rolled back)."""
    if ds.annotations.get(SPEC_HASH_ANNOTATION) != desired.spec_hash:
        return ()
    if frozen(ds, desired.spec_hash):
        return ()
    return drift_between(desired.manifest_json, ds.live_json)


GATED_MODELS = (UpdateModel.ADVANCED_ROLLING_UPDATE, UpdateModel.OTA)

DELEGATED = (
    "OpenYurt's yurt-manager drives this DaemonSet (apps.openyurt.io/update-strategy): "
    "gitops-edge applies it and observes only. To have gitops-edge move its pods instead, "
    "disable yurt-manager's daemonpodupdater controller and set spec.openyurt."
    "annotatedDaemonSets: drive in gitops-edge.yaml"
)


def plan_daemonset(
    desired: DesiredDaemonSet,
    *,
    index: FleetIndex,
    now: float,
    errors: tuple[str, ...] = (),
    delegated: bool = False,
    jobs_api_version: str = "auto",
    hold: str = "",
    views: list[NodeView] | None = None,
) -> DaemonSetPlan:
    """The plan for one DaemonSet; `delegated`: another controller moves its pods;
    `jobs_api_version`: the repository's spec.jobs.apiVersion, for pre-pull jobs; `hold`: why
    its pods must not move this pass (maintenance window, earlier wave), "" if they may;
    `views`: its node views when already computed this pass (by the wave check)."""
    key = (desired.namespace, desired.name)
    ds = index.daemonsets.get(key)
    ident = f"{desired.namespace}/{desired.name}"
    if ds is None:
        apply = ApplyDaemonSet(
            namespace=desired.namespace,
            name=desired.name,
            manifest_json=desired.manifest_json,
            create=True,
            reason=f"create DaemonSet {ident} {_origin(desired)}",
        )
        return _result(
            desired,
            revision="",
            actions=() if errors else (apply,),
            deferred=(),
            progress=Progress(nodes=0, current=0, outdated=0, unavailable=0, deferred=0),
            budget=None,
            errors=errors,
            notes=(),
        )
    if views is None:
        views = daemonset_views(ds, index=index, now=now)
    theirs = ds.labels.get(OWNER_LABEL, "")
    if desired.owner and theirs and theirs != desired.owner:
        return _result(  # neither applied, nor its pods moved, nor annotated
            desired,
            revision=ds.current_revision,
            actions=(),
            deferred=(),
            progress=_progress(views),
            budget=None,
            errors=(
                *errors,
                f"DaemonSet {ident} in the cluster belongs to owner {theirs} ({OWNER_LABEL}), "
                f"not to this source ({desired.owner}): two sources must not define the same "
                "DaemonSet; nothing is done for it until one of them renames or removes it",
            ),
            notes=(),
        )
    observed_hash = ds.annotations.get(SPEC_HASH_ANNOTATION, "")
    drift = daemonset_drift(desired, ds)
    changed = observed_hash != desired.spec_hash or bool(drift)
    if changed and hold and desired.model is UpdateModel.ROLLING_UPDATE:
        drifted = f"drifted from the repository at {drift_summary(drift)}; " if drift else ""
        verb = "restored" if drift else "updated"
        return _result(  # the DaemonSet controller would replace pods as soon as it is updated
            desired,
            revision=ds.current_revision,
            actions=(),
            deferred=(),
            progress=_progress(views),
            budget=None,
            errors=errors,
            notes=(f"{hold}; {drifted}the RollingUpdate DaemonSet is not {verb} until then",),
            held=hold,
            drift=drift,
        )
    if changed:  # the DaemonSet first; its pods in a later round, against its new revision
        if observed_hash != desired.spec_hash:
            reason = (
                f"update DaemonSet {ident} {_origin(desired)}: spec "
                f"{observed_hash[:10] or '(not ours)'} → {desired.spec_hash[:10]}"
            )
            note, drift = (
                "pods are planned after the DaemonSet update, against its new revision",
                (),
            )
        else:
            reason = (
                f"restore DaemonSet {ident} {_origin(desired)}: drifted from the repository "
                f"at {drift_summary(drift)}"
            )
            note = "pods are planned after the DaemonSet is restored, against its revision"
        apply = ApplyDaemonSet(
            namespace=desired.namespace,
            name=desired.name,
            manifest_json=desired.manifest_json,
            create=False,
            reason=reason,
            drift=tuple(f.path for f in drift),
        )
        return _result(
            desired,
            revision=ds.current_revision,
            actions=() if errors else (apply,),
            deferred=(),
            progress=_progress(views),
            budget=None,
            errors=errors,
            notes=(note,),
            drift=drift,
        )
    actions: tuple[Action, ...] = ()
    deferred: tuple[Deferral, ...] = ()
    budget: Budget | None = None
    notes: tuple[str, ...] = ()
    ota_pending = 0
    bookkeeping: tuple[Action, ...] = ()
    halted = rolled_back = ""
    if not delegated and desired.model in GATED_MODELS:
        bookkeeping, halted, rolled_back = halt_and_rollback(desired, ds, views, now=now)
    if halted:
        errors = (
            *errors,
            f"halted: {halted}; no pod moves in this group until the repository "
            "changes (a fix or a revert)",
        )
    if rolled_back:
        notes = (
            f"rolled back {rolled_back} after a halt (autoRollback); the repository is "
            "unchanged: commit a fix or a revert to move on",
        )
    gate = (
        prepull_gate(
            desired,
            revision=ds.current_revision,
            views=views,
            jobs=index.node_jobs,
            served=index.job_versions,
            pinned=jobs_api_version,
        )
        if not delegated and not hold and desired.model in GATED_MODELS
        else Gate(open=True)
    )
    if gate.halt:
        errors = (*errors, gate.halt)
    if delegated:
        notes = (DELEGATED,)
    elif hold:
        notes = (*notes, hold)
    elif not gate.open:
        notes = (gate.wait,) if gate.wait else ()
    elif desired.model is UpdateModel.ADVANCED_ROLLING_UPDATE:
        advanced = plan_advanced(views, ds=ds, desired=desired)
        actions, deferred, budget = advanced.deletions, advanced.deferred, advanced.budget
    elif desired.model is UpdateModel.OTA:
        ota = plan_ota(views, ds=ds, now=now)
        pulls = plan_prepull(views, ds=ds, desired=desired, jobs=index.pull_jobs, now=now)
        actions, ota_pending = (*ota.marks, *pulls), ota.pending
    elif desired.model is UpdateModel.ROLLING_UPDATE:
        notes = _rolling_update_notes(views, desired=desired, ds=ds)
    elif any(v.outdated for v in views):
        notes = (
            "OnDelete without OpenYurt annotations: outdated pods move only when someone "
            "deletes them; add apps.openyurt.io/update-strategy to let gitops-edge do it",
        )
    return _result(
        desired,
        revision=ds.current_revision,
        actions=(*(() if errors else actions), *bookkeeping),
        deferred=deferred,
        progress=_progress(views, deferred=len(deferred), ota_pending=ota_pending),
        budget=budget,
        errors=errors,
        notes=notes,
        prepull=gate.jobs,
        held=hold,
        halted=halted,
        rolled_back=rolled_back,
    )


def _rolling_update_notes(
    views: Sequence[NodeView], *, desired: DesiredDaemonSet, ds: DaemonSetObs
) -> tuple[str, ...]:
    outdated = sum(v.outdated for v in views)
    if not outdated:
        return ()
    limit = native_max_unavailable(desired.max_unavailable, len(views))
    offline = sum(not v.ready for v in views)
    if offline and offline >= limit:
        return (
            f"native RollingUpdate is stalled: {offline} NotReady nodes use up maxUnavailable "
            f"{limit}, so the DaemonSet controller replaces no more pods ({outdated} outdated, "
            f"revision {short(ds.current_revision)}); switch to AdvancedRollingUpdate to skip "
            "offline nodes",
        )
    return (
        f"the DaemonSet controller is rolling {outdated} outdated pods (maxUnavailable {limit})",
    )
