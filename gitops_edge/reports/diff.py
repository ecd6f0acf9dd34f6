"""What changes between two revisions of the desired state, per workload and node group, and
the expected impact read from the last status written to the repository (no cluster needed).

Pure: compares two `DesiredState`s and status rows; renders Markdown, JSON and text in which
nothing from the repository can start a workflow command, a new line, or Markdown markup
(`workflow_text`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitops_edge.model.desired import DesiredDaemonSet, DesiredState, UpdateModel
from gitops_edge.model.openyurt import resolve_max_unavailable
from gitops_edge.planner.daemonset import native_max_unavailable
from gitops_edge.reports import diff_budget
from gitops_edge.reports.diff_budget import impact_cells
from gitops_edge.reports.markdown_budget import PREVIEW_BUDGET, github_length
from gitops_edge.reports.rollout_diagram import GroupStep, mermaid_block, step_of_desired
from gitops_edge.reports.workflow_text import inline, json_text, markdown_inline

StatusRows = Mapping[tuple[str, str | None], Mapping[str, Any]]  # (workload, group) → row


@dataclass(frozen=True, slots=True)
class Impact:
    nodes: int
    deferred: int  # NotReady now: they would be deferred
    max_down: int | None  # most pods down at once (None: the nodes decide, OTA)
    passes: int | None  # least number of passes to finish the Ready nodes


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # added | changed | removed
    namespace: str
    name: str
    workload: str
    group: str | None
    details: tuple[str, ...]  # "image x:1 → x:2", "strategy …", "overrides changed"
    images_before: tuple[str, ...]
    images_after: tuple[str, ...]
    impact: Impact | None  # None: no status written yet


@dataclass(frozen=True, slots=True)
class DiffReport:
    base: str
    head: str
    changes: tuple[Change, ...]
    jobs: tuple[str, ...]  # "NodeUpgradeJob upgrade-x added" …
    has_status: bool
    steps: tuple[GroupStep, ...] = ()  # the added and changed groups' places in their rollout
    warnings: tuple[str, ...] = ()  # e.g. a changed group whose NodeGroup matched no node


def _images(ds: DesiredDaemonSet | None) -> tuple[str, ...]:
    return ds.container_images() if ds is not None else ()


def _without_images(ds: DesiredDaemonSet) -> str:
    template = ds.pod_template()
    for container in (template.get("spec") or {}).get("containers") or ():
        container.pop("image", None)
    return json.dumps(template, sort_keys=True)


def _details(before: DesiredDaemonSet, after: DesiredDaemonSet) -> tuple[str, ...]:
    out = []
    for old, new in zip(_images(before), _images(after), strict=False):
        if old != new:
            out.append(f"image {old} → {new}")
    if before.model != after.model or before.max_unavailable != after.max_unavailable:
        out.append(
            f"strategy {before.model.value} {before.max_unavailable} → "
            f"{after.model.value} {after.max_unavailable}"
        )
    if _without_images(before) != _without_images(after):
        out.append("pod template changed (overrides, env, args, resources or more)")
    return tuple(out) or ("DaemonSet settings changed",)


def policy_details(ds: DesiredDaemonSet) -> tuple[str, ...]:
    """How the rollout of this group is ordered and guarded: wave, window, pre-pull, halt."""
    out = []
    policy = ds.rollout
    if policy is not None and policy.waves > 1:
        wait = "" if policy.wave == 0 else ", starts after the earlier waves settle"
        bake = f", bakes {policy.bake_seconds} s before the next" if policy.bake_seconds else ""
        out.append(f"wave {policy.wave + 1}/{policy.waves}{wait}{bake}")
    if ds.window is not None:
        out.append(f"pods move only in its maintenance window {ds.window.describe()}")
    if ds.prepull is not None:
        out.append("images pre-pulled (ImagePrePullJob) before pods move")
    if policy is not None and ds.model is not UpdateModel.ROLLING_UPDATE:
        rollback = ", then rolled back automatically" if policy.auto_rollback else ""
        out.append(
            f"halts when more than {policy.max_failed} new pods are not available "
            f"{policy.progress_deadline_seconds} s after they start{rollback}"
        )
    return tuple(out)


def impact(ds: DesiredDaemonSet, row: Mapping[str, Any] | None) -> Impact | None:
    if row is None:
        return None
    nodes = int(row["nodes"]["total"])
    # NotReady nodes now: an update would defer them (their pods are not touched)
    deferred = int(row["nodes"].get("notReady", row["nodes"].get("deferredNotReady", 0)))
    ready = max(0, nodes - deferred)
    if ds.model is UpdateModel.ADVANCED_ROLLING_UPDATE:
        budget: int | None = max(1, resolve_max_unavailable(ds.max_unavailable, nodes))
    elif ds.model is UpdateModel.ROLLING_UPDATE:
        budget = max(1, native_max_unavailable(ds.max_unavailable, nodes))
    else:
        budget = None  # OTA / OnDelete: the nodes (or someone) decide
    passes = math.ceil(ready / budget) if budget else None
    return Impact(nodes=nodes, deferred=deferred, max_down=budget, passes=passes)


def compare(base: DesiredState | None, head: DesiredState, status: StatusRows) -> DiffReport:
    before = {(d.namespace, d.name): d for d in base.daemonsets} if base else {}
    after = {(d.namespace, d.name): d for d in head.daemonsets}
    changes = []
    steps: list[GroupStep] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        ds = new or old
        assert ds is not None
        if old is not None and new is not None and old.spec_hash == new.spec_hash:
            continue
        kind = "added" if old is None else "removed" if new is None else "changed"
        details = (
            _details(old, new)
            if old is not None and new is not None
            else ("new DaemonSet",)
            if new is not None
            else (
                "would be pruned"
                if head.config.prune_workloads
                else "left in the cluster (pruning is off)",
            )
        )
        if new is not None:
            details = (*details, *policy_details(new))
        row = status.get((ds.workload, ds.group))
        if new is not None:
            steps.append(step_of_desired(new, lines=_impact_lines(impact(new, row))))
        changes.append(
            Change(
                kind=kind,
                namespace=ds.namespace,
                name=ds.name,
                workload=ds.workload,
                group=ds.group,
                details=details,
                images_before=_images(old),
                images_after=_images(new),
                impact=impact(ds, row) if new is not None else None,
            )
        )
    old_jobs = {(j.kind, j.name): j for j in base.jobs} if base else {}
    jobs = []
    for job in head.jobs:
        previous = old_jobs.get((job.kind, job.name))
        if previous is None:
            jobs.append(f"{job.kind} {job.name} added: created on the next pass")
        elif previous.spec_hash != job.spec_hash:
            jobs.append(
                f"{job.kind} {job.name} changed: jobs are immutable, the change will be "
                "reported and not applied (use a new name)"
            )
    gone = sorted(set(old_jobs) - {(j.kind, j.name) for j in head.jobs})
    for kind, name in gone:
        fate = (
            "deleted on the next pass (spec.prune.jobs)"
            if head.config.prune_jobs
            else "stays in the cluster (spec.prune.jobs is false)"
        )
        jobs.append(f"{kind} {name} removed: {fate}")
    return DiffReport(
        warnings=empty_group_warnings(head, changes, status),
        base=base.revision if base else "",
        head=head.revision,
        changes=tuple(changes),
        jobs=tuple(jobs),
        has_status=bool(status),
        steps=tuple(steps),
    )


def empty_group_warnings(
    head: DesiredState, changes: list[Change], status: StatusRows
) -> tuple[str, ...]:
    """A warning per NodeGroup of an added or changed DaemonSet that matched no node at the
    reconciler's last pass (`groupMatchesNoNode` of the status rows): the change would run on
    no node."""
    empty = {g for (_, g), row in status.items() if g and row.get("groupMatchesNoNode")}
    sources = {g.name: f"{g.source.file}:{g.source.line}" for g in head.groups}
    out = []
    for group in sorted({c.group for c in changes if c.kind != "removed" and c.group} & empty):
        names = ", ".join(
            f"{c.namespace}/{c.name}" for c in changes if c.group == group and c.kind != "removed"
        )
        out.append(
            f"NodeGroup {group} ({sources.get(group, 'not in the repository')}) matched no node "
            f"at the last pass: {names} would run on no node (hint: compare its selector and "
            "nodes with the nodes' names and labels, kubectl get nodes --show-labels)"
        )
    return tuple(out)


def _impact_lines(i: Impact | None) -> tuple[str, ...]:
    """The impact of a group's change as lines of its box in the rollout diagram."""
    if i is None:
        return ()
    return (f"{i.nodes} nodes", *((f"{i.deferred} NotReady: deferred",) if i.deferred else ()))


def render_markdown(report: DiffReport, *, budget: int = PREVIEW_BUDGET) -> str:
    """The preview as Markdown: every change in one table, the rollout diagram and the node
    jobs; when that would exceed `budget` (`markdown_budget.github_length`), the shortened
    preview of `diff_budget` instead, which stays within it at any fleet size."""
    if _shortest_full(report) <= budget:  # else the full preview cannot fit: not rendered
        full = _full_markdown(report)
        if github_length(full) <= budget:
            return full
    return diff_budget.render_shortened(report, budget=budget)


def _shortest_full(report: DiffReport) -> int:
    """A lower bound of the full preview's length: its names, details and jobs unescaped."""
    return sum(
        len(c.workload) + len(c.group or "") + sum(map(len, c.details)) for c in report.changes
    ) + sum(map(len, report.jobs))


def _full_markdown(report: DiffReport) -> str:
    lines = [f"### gitops-edge diff `{report.base[:12]}` → `{report.head[:12]}`", ""]
    if not report.changes and not report.jobs:
        return "\n".join([*lines, "No change to what runs in the cluster."]) + "\n"
    if report.warnings:
        lines += ["**Warnings**", ""] + [f"- ⚠ {markdown_inline(w)}" for w in report.warnings]
        lines.append("")
    lines += [
        "| workload | group | change | nodes | NotReady (deferred) | most down at once | passes |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in report.changes:
        what = "<br>".join(markdown_inline(d) for d in c.details)
        workload, group = markdown_inline(c.workload), markdown_inline(c.group or "—")
        lines.append(f"| {workload} | {group} | {c.kind}: {what} | {impact_cells(c)} |")
    diagram = mermaid_block(report.steps)
    if diagram:
        lines += ["", "**Rollout order**", "", diagram]
    if not report.has_status:
        lines += [
            "",
            "No status has been written to this repository yet, so the impact per group is "
            "unknown (it appears after the reconciler's first pass).",
        ]
    if report.jobs:
        lines += ["", "**Node jobs**", ""] + [f"- {markdown_inline(j)}" for j in report.jobs]
    return "\n".join(lines) + "\n"


def to_dict(report: DiffReport) -> dict[str, Any]:
    return {
        "base": report.base,
        "head": report.head,
        "hasStatus": report.has_status,
        "changes": [
            {
                "kind": c.kind,
                "namespace": c.namespace,
                "name": c.name,
                "workload": c.workload,
                "group": c.group,
                "details": list(c.details),
                "imagesBefore": list(c.images_before),
                "imagesAfter": list(c.images_after),
                "impact": None
                if c.impact is None
                else {
                    "nodes": c.impact.nodes,
                    "deferred": c.impact.deferred,
                    "maxDown": c.impact.max_down,
                    "passes": c.impact.passes,
                },
            }
            for c in report.changes
        ],
        "jobs": list(report.jobs),
        "warnings": list(report.warnings),
    }


def render_json(report: DiffReport) -> str:
    return json_text(json.dumps(to_dict(report), indent=2))


def render_text(report: DiffReport) -> str:
    if not report.changes and not report.jobs:
        return "no change to what runs in the cluster"
    lines = [f"warning: {inline(w)}" for w in report.warnings]
    for c in report.changes:
        what = inline("; ".join(c.details))
        lines.append(f"{c.kind:8} {inline(c.namespace)}/{inline(c.name)}: {what}")
        if c.impact is not None:
            i = c.impact
            lines.append(
                f"         {i.nodes} nodes, {i.deferred} NotReady (deferred), at most "
                f"{i.max_down if i.max_down is not None else 'n/a'} down at once, "
                f"{i.passes if i.passes is not None else 'n/a'} passes"
            )
    lines += [inline(j) for j in report.jobs]
    return "\n".join(lines)
