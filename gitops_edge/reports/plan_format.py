"""Rendering a Plan for people (text, Markdown for pull requests) and scripts (JSON).

`plan_to_dict` is the stable JSON shape (README, "Plan JSON"): `{revision, now, summary:
{daemonsets, actions, deletions, marks, applies, prunes, deferred, drifted, errors, jobs,
jobCreations}, daemonsets: [{namespace, name, workload, group, model, revision, progress: {nodes,
current, outdated, unavailable, deferred, otaPending}, budget: {maxUnavailable, unavailable,
deletions, spec} | null, actions: [{type, namespace, name, node?, drift?, reason, ...}], deferred:
[{node, reason}], errors, notes, prePull: [job], drift: [path]}], owner, prunes: [{type,
namespace, name, pods, reason}], pruneErrors, orphans: [{kind, namespace, name, reason}], jobs:
[job], namespaces: [{type: createNamespace|applyNamespace|updateNamespace, name, reason}],
namespacePrunes: [{type, name, reason}], namespaceNotes, warnings: [see `plan_warnings`]}`
(`job`: see `job_format`); `summary` also counts `warnings`. Pure.
"""

from __future__ import annotations

import json
from typing import Any

from gitops_edge.model.plan import (
    ApplyDaemonSet,
    CreateNodeJob,
    DaemonSetPlan,
    DeletePod,
    JobPlan,
    Plan,
    PruneDaemonSet,
    SetPodCondition,
    held_by_window,
)
from gitops_edge.planner.words import rfc3339, short
from gitops_edge.reports.action_format import action_to_dict
from gitops_edge.reports.job_format import job_markdown_lines, job_text_lines, job_to_dict
from gitops_edge.reports.plan_warnings import (
    warning_count_words,
    warning_dicts,
    warning_markdown_lines,
    warning_text_lines,
)
from gitops_edge.reports.rollout_diagram import mermaid_block, steps_of_plan

FORMATS = ("text", "json", "markdown")
SHOWN_DEFERRED = 5
BAR_WIDTH = 10


def _summary(plan: Plan) -> dict[str, int]:
    actions = plan.actions
    return {
        "daemonsets": len(plan.daemonsets),
        "actions": len(actions),
        "applies": sum(isinstance(a, ApplyDaemonSet) for a in actions),
        "deletions": sum(isinstance(a, DeletePod) for a in actions),
        "marks": sum(isinstance(a, SetPodCondition) for a in actions),
        "prunes": sum(isinstance(a, PruneDaemonSet) for a in actions),
        "deferred": sum(len(ds.deferred) for ds in plan.daemonsets),
        "drifted": sum(bool(ds.drift) for ds in plan.daemonsets),
        "errors": sum(len(ds.errors) for ds in plan.daemonsets)
        + sum(len(j.errors) for j in all_jobs(plan))
        + len(plan.prune_errors),
        "jobs": len(all_jobs(plan)),
        "jobCreations": sum(isinstance(a, CreateNodeJob) for a in actions),
        "warnings": len(plan.empty_groups),
    }


def all_jobs(plan: Plan) -> tuple[JobPlan, ...]:
    """The repository's node jobs, then the pre-pull jobs of each DaemonSet."""
    return (*plan.jobs, *(j for ds in plan.daemonsets for j in ds.prepull))


def daemonset_to_dict(ds: DaemonSetPlan) -> dict[str, Any]:
    p = ds.progress
    return {
        "namespace": ds.namespace,
        "name": ds.name,
        "workload": ds.workload,
        "group": ds.group,
        "model": ds.model.value,
        "revision": ds.revision,
        "progress": {
            "nodes": p.nodes,
            "current": p.current,
            "outdated": p.outdated,
            "unavailable": p.unavailable,
            "deferred": p.deferred,
            "otaPending": p.ota_pending,
        },
        "budget": None
        if ds.budget is None
        else {
            "maxUnavailable": ds.budget.max_unavailable,
            "unavailable": ds.budget.unavailable,
            "deletions": ds.budget.deletions,
            "spec": ds.budget.spec,
        },
        "actions": [action_to_dict(a) for a in ds.actions],
        "deferred": [{"node": d.node, "reason": d.reason} for d in ds.deferred],
        "errors": list(ds.errors),
        "notes": list(ds.notes),
        "prePull": [job_to_dict(j) for j in ds.prepull],
        "wave": ds.wave,
        "held": ds.held,
        "halted": ds.halted,
        "rolledBack": ds.rolled_back,
        "drift": list(ds.drift),
    }


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    return {
        "revision": plan.revision,
        "now": rfc3339(plan.now),
        "summary": _summary(plan),
        "daemonsets": [daemonset_to_dict(ds) for ds in plan.daemonsets],
        "owner": plan.owner,
        "prunes": [action_to_dict(p) for p in plan.prunes],
        "pruneErrors": list(plan.prune_errors),
        "orphans": [
            {"kind": "DaemonSet", "namespace": o.namespace, "name": o.name, "reason": o.reason}
            for o in plan.orphans
        ],
        "jobs": [job_to_dict(j) for j in plan.jobs],
        "namespaces": [action_to_dict(n) for n in plan.namespaces],
        "namespacePrunes": [action_to_dict(n) for n in plan.namespace_prunes],
        "namespaceNotes": list(plan.namespace_notes),
        "warnings": warning_dicts(plan),
    }


def progress_bar(current: int, total: int) -> str:
    filled = round(BAR_WIDTH * current / total) if total else 0
    return "[" + "#" * filled + "-" * (BAR_WIDTH - filled) + f"] {current}/{total} current"


def _budget_line(ds: DaemonSetPlan) -> str | None:
    if ds.budget is None:
        return None
    b = ds.budget
    nodes = ds.progress.nodes
    source = f"{b.spec} of {nodes}" if b.spec.endswith("%") else f"of {nodes} nodes"
    return (
        f"budget {b.max_unavailable} ({source}): {b.unavailable} unavailable, "
        f"{b.deletions} deletions this pass"
    )


def _status_words(ds: DaemonSetPlan) -> str:
    p = ds.progress
    parts = [progress_bar(p.current, p.nodes)]
    if p.outdated:
        parts.append(f"{p.outdated} outdated")
    if p.unavailable:
        parts.append(f"{p.unavailable} unavailable")
    if p.deferred:
        parts.append(f"{p.deferred} deferred (NotReady)")
    if p.ota_pending:
        parts.append(f"{p.ota_pending} PodNeedUpgrade=True")
    return ", ".join(parts)


def _quiet(ds: DaemonSetPlan) -> bool:
    """Nothing to say: up to date everywhere, no action, note, deferral or error."""
    p = ds.progress
    busy = ds.actions or ds.errors or ds.notes or ds.deferred or ds.prepull or ds.drift
    return not busy and p.current == p.nodes


def _text_block(ds: DaemonSetPlan, *, verbose: bool) -> list[str]:
    group = f"group {ds.group}" if ds.group else "plain DaemonSet"
    if ds.wave:
        group += f", wave {ds.wave}"
    lines = [
        f"{ds.namespace}/{ds.name}  ({ds.workload}, {group}, {ds.model.value}, "
        f"revision {short(ds.revision)})",
        f"  {_status_words(ds)}",
    ]
    budget = _budget_line(ds)
    if budget:
        lines.append(f"  {budget}")
    lines += [f"  ERROR: {e}" for e in ds.errors]
    if ds.drift:
        lines.append(f"  drift: {', '.join(ds.drift)}")
    lines += [f"  - {a.reason}" for a in ds.actions]
    shown = ds.deferred if verbose else ds.deferred[:SHOWN_DEFERRED]
    for d in shown:
        lines.append(f"  deferred {d.node}: {d.reason}")
    if len(ds.deferred) > len(shown):
        lines.append(f"  deferred: +{len(ds.deferred) - SHOWN_DEFERRED} more NotReady nodes")
    lines += [f"  note: {n}" for n in ds.notes]
    for job in ds.prepull:
        lines += [f"  {line}" for line in job_text_lines(job, verbose=verbose)]
    return lines


def _summary_line(plan: Plan) -> str:
    s = _summary(plan)
    return (
        f"plan for revision {plan.revision} at {rfc3339(plan.now)}: {s['daemonsets']} "
        f"DaemonSets, {s['applies']} to create/update, {s['deletions']} pod deletions, "
        f"{s['marks']} OTA marks, {s['prunes']} prunes, {s['jobCreations']} node jobs to "
        f"create, {s['deferred']} nodes deferred, {s['errors']} errors"
        + (f", {s['drifted']} DaemonSets drifted from the repository" if s["drifted"] else "")
        + warning_count_words(plan)
    )


def render_text(plan: Plan, *, verbose: bool = False) -> str:
    """One block per DaemonSet; without `verbose`, DaemonSets with nothing to report share one
    line and long deferral lists are cut after five nodes."""
    lines = [f"- {a.reason}" for a in plan.namespaces]
    if lines:
        lines.append("")
    quiet = [ds for ds in plan.daemonsets if _quiet(ds) and not verbose]
    for ds in plan.daemonsets:
        if ds not in quiet:
            lines += _text_block(ds, verbose=verbose)
            lines.append("")
    if quiet:
        names = ", ".join(f"{ds.namespace}/{ds.name}" for ds in quiet)
        lines += [f"up to date, nothing to do: {names}", ""]
    lines += [f"error: {e}" for e in plan.prune_errors]
    lines += [f"- {prune.reason}" for prune in plan.prunes]
    lines += [f"orphan: {o.reason}" for o in plan.orphans]
    lines += [f"- {p.reason}" for p in plan.namespace_prunes]
    lines += [f"note: {n}" for n in plan.namespace_notes]
    if (
        any((plan.prunes, plan.prune_errors, plan.orphans, plan.namespace_prunes))
        or plan.namespace_notes
    ):
        lines.append("")
    for job in plan.jobs:
        lines += job_text_lines(job, verbose=verbose)
        lines.append("")
    lines += warning_text_lines(plan)
    lines.append(_summary_line(plan))
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(plan: Plan) -> str:
    """A pull-request comment: the rollout diagram, a summary table, each DaemonSet's actions."""
    lines = [
        f"### gitops-edge plan for `{plan.revision}`",
        "",
        _summary_line(plan),
        *warning_markdown_lines(plan),
        "",
        *([diagram, ""] if (diagram := mermaid_block(steps_of_plan(plan))) else []),
        "| DaemonSet | workload | group | wave | model | progress | actions | deferred |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for ds in plan.daemonsets:
        p = ds.progress
        actions = f"{len(ds.actions)}" + (" ⚠ error" if ds.errors else "")
        lines.append(
            f"| `{ds.namespace}/{ds.name}` | {_cell(ds.workload)} | {ds.group or '—'} | "
            f"{ds.wave or '—'} | {ds.model.value} | {p.current}/{p.nodes} current | {actions} | "
            f"{_held_cell(ds) or p.deferred} |"
        )
    for ds in plan.daemonsets:
        if not (ds.actions or ds.errors or ds.deferred or ds.notes or ds.prepull or ds.drift):
            continue
        lines += ["", f"<details><summary><code>{ds.namespace}/{ds.name}</code>: "]
        lines[-1] += f"{_cell(_status_words(ds))}</summary>"
        lines.append("")
        budget = _budget_line(ds)
        if budget:
            lines.append(f"- {budget}")
        lines += [f"- **error**: {_cell(e)}" for e in ds.errors]
        if ds.drift:
            lines.append(f"- **drift**: {', '.join(f'`{_cell(p)}`' for p in ds.drift)}")
        lines += [f"- {_cell(a.reason)}" for a in ds.actions]
        lines += [f"- deferred `{d.node}`: {_cell(d.reason)}" for d in ds.deferred]
        lines += [f"- note: {_cell(n)}" for n in ds.notes]
        for job in ds.prepull:
            lines += ["", *job_markdown_lines(job)]
        lines += ["", "</details>"]
    if plan.prunes or plan.prune_errors:
        lines += ["", f"**Prunes** (owner `{plan.owner}`)", ""]
        lines += [f"- **error**: {_cell(e)}" for e in plan.prune_errors]
        lines += [f"- {_cell(p.reason)}" for p in plan.prunes]
    if plan.orphans:
        lines += ["", "**Orphans** (never pruned)", ""]
        lines += [f"- {_cell(o.reason)}" for o in plan.orphans]
    if plan.namespaces or plan.namespace_prunes or plan.namespace_notes:
        lines += ["", "**Namespaces**", ""]
        lines += [f"- {_cell(a.reason)}" for a in plan.namespaces]
        lines += [f"- {_cell(p.reason)}" for p in plan.namespace_prunes]
        lines += [f"- note: {_cell(n)}" for n in plan.namespace_notes]
    if plan.jobs:
        lines += ["", "**Node jobs**"]
        for job in plan.jobs:
            lines += ["", *job_markdown_lines(job)]
    return "\n".join(lines)


def _held_cell(ds: DaemonSetPlan) -> str:
    if ds.halted:
        return "halted"
    if ds.held:
        return "window" if held_by_window(ds.held) else "waiting (wave)"
    return ""


def render(plan: Plan, fmt: str, *, verbose: bool = False) -> str:
    if fmt == "json":
        return json.dumps(plan_to_dict(plan), indent=2)
    if fmt == "markdown":
        return render_markdown(plan)
    if fmt == "text":
        return render_text(plan, verbose=verbose)
    raise ValueError(f"unknown plan format {fmt!r}: use one of {', '.join(FORMATS)}")
