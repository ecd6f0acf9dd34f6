"""Status files written back to the repository after a pass: one JSON file per workload, one per
KubeEdge node job (`jobs/<kind>-<name>.json`, per-node results) and a Markdown summary
(`<status path>/README.md`) with a progress table per group and a table per node job.
Per-node detail is for the exceptions only (deferred nodes, nodes whose job task is not
successful), capped, with counts for the rest; the summary stays under 60,000 characters
whatever the fleet size (see status_detail).

The summary ends with a record of the spec revision it reports, the last good one
(`<!-- gitops-edge last-good-revision: <commit> -->`, invisible once rendered): a loop restarted
while the branch head is invalid resumes that revision (`recorded_revision` reads it back).
Content depends only on the spec revision and the cluster's state, never on the time, so a pass
that changes nothing produces identical files and no commit. Pure: returns file contents.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from gitops_edge.model import nodejobs as nj
from gitops_edge.model.desired import DesiredState
from gitops_edge.model.plan import DaemonSetPlan, JobPlan, Plan, held_by_window
from gitops_edge.reports.job_format import job_counts, job_markdown_lines
from gitops_edge.reports.plan_format import all_jobs, progress_bar
from gitops_edge.repository.diagnostics import Diagnostic, render_text
from gitops_edge.source.status_detail import (
    DETAIL_NODES,
    SUMMARY_ITEMS,
    SUMMARY_JOBS,
    SUMMARY_NODES,
    SUMMARY_ROWS,
    capped,
    fit_summary,
    folded,
    job_status_dict,
    prefer,
)

JOBS_DIR = "jobs"
SUMMARY_FILE = "README.md"
_RECORD = "<!-- gitops-edge last-good-revision: {} -->"
_RECORDED = re.compile(
    r"^<!-- gitops-edge last-good-revision: ([0-9a-f]{40}|[0-9a-f]{64}) -->$", re.M
)


Drift = Mapping[tuple[str, str], Sequence[str]]  # (namespace, name) → drifted field paths


def group_status(
    ds: DaemonSetPlan, images: Sequence[str], *, drift: Sequence[str] = ()
) -> dict[str, Any]:
    p = ds.progress
    deferred, more = capped(sorted(d.node for d in ds.deferred), DETAIL_NODES)
    return {
        "group": ds.group,
        "daemonSet": f"{ds.namespace}/{ds.name}",
        "model": ds.model.value,
        "images": list(images),
        "controllerRevision": ds.revision,
        "nodes": {
            "total": p.nodes,
            "current": p.current,
            "outdated": p.outdated,
            "unavailable": p.unavailable,
            "deferredNotReady": p.deferred,
            "notReady": p.not_ready,
        },
        "otaPending": p.ota_pending,
        "deferred": deferred,  # the first DETAIL_NODES by name
        "deferredNotListed": more,
        "errors": list(ds.errors),
        "wave": ds.wave,
        "held": ds.held,
        "halted": ds.halted,
        "rolledBack": ds.rolled_back,
        "drift": list(drift or ds.drift),
    }


def status_rows(
    desired: DesiredState, plan: Plan, *, drift: Drift | None = None
) -> list[dict[str, Any]]:
    """One row per planned DaemonSet: its workload, and its group's status (as in the files);
    `groupMatchesNoNode`: its NodeGroup matched no node of the cluster (`diff` warns).
    `drift`: what the pass found drifted (and restored) before `plan`, by DaemonSet."""
    images = {(d.namespace, d.name): d.container_images() for d in desired.daemonsets}
    found = drift or {}
    empty = {w.group for w in plan.empty_groups}
    return [
        {
            "workload": ds.workload,
            **group_status(
                ds,
                images[(ds.namespace, ds.name)],
                drift=found.get((ds.namespace, ds.name), ()),
            ),
            "groupMatchesNoNode": ds.group in empty,
        }
        for ds in plan.daemonsets
    ]


def rows_from_status_file(text: str) -> list[dict[str, Any]]:
    """The rows of one `<workload>.json` status file (ValueError/KeyError/TypeError if it is
    not one)."""
    body = json.loads(text)
    return [{"workload": body["workload"], **group} for group in body["groups"]]


def status_files(
    desired: DesiredState,
    plan: Plan,
    *,
    invalid: tuple[str, tuple[Diagnostic, ...]] | None = None,
    drift: Drift | None = None,
) -> dict[str, str]:
    """File name (relative to the status folder) → content. `invalid`: a newer revision that
    failed validation (its diagnostics go into the summary; the last good one is reported).
    `drift`: the fields the pass found drifted (and restored) before `plan`, by DaemonSet."""
    by_workload: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in status_rows(desired, plan, drift=drift):
        by_workload[row.pop("workload")].append(row)
    files: dict[str, str] = {}
    for workload, groups in sorted(by_workload.items()):
        body = {"workload": workload, "specRevision": desired.revision, "groups": groups}
        files[f"{workload}.json"] = json.dumps(body, indent=2, sort_keys=True) + "\n"
    for job in all_jobs(plan):
        body = {"specRevision": desired.revision, **job_status_dict(job)}
        files[job_file(job)] = json.dumps(body, indent=2, sort_keys=True) + "\n"
    files[SUMMARY_FILE] = summary_markdown(desired, plan, invalid=invalid, drift=drift)
    return files


def job_file(job: JobPlan) -> str:
    """`jobs/<kind>-<name>.json`, relative to the status folder (job names are DNS names)."""
    return f"{JOBS_DIR}/{job.kind.lower()}-{job.name}.json"


def _rollout_cell(ds: DaemonSetPlan) -> str:
    """Wave, then what holds the group: halted, rolled back, window, earlier wave."""
    words = [f"wave {ds.wave}"] if ds.wave else []
    if ds.rolled_back:
        words.append(f"rolled back {ds.rolled_back}")
    elif ds.halted:
        words.append("**halted**")
    elif ds.held:
        words.append("waiting: window" if held_by_window(ds.held) else "waiting: earlier wave")
    return ", ".join(words) or "—"


def drifted(plan: Plan, drift: Drift | None) -> dict[tuple[str, str], Sequence[str]]:
    """Per DaemonSet of the plan, its drifted fields: as found by the pass (`drift`), else as
    the plan shows them (a drift not restored yet)."""
    found = drift or {}
    out: dict[tuple[str, str], Sequence[str]] = {}
    for ds in plan.daemonsets:
        fields = found.get((ds.namespace, ds.name)) or ds.drift
        if fields:
            out[(ds.namespace, ds.name)] = fields
    return out


def headline(plan: Plan, *, drift: Drift | None = None) -> str:
    """`<current>/<nodes> nodes current, <n> deferred…` in distinct nodes (`Plan.fleet`): a
    node hosting pods of several DaemonSets counts once, current when all of them are."""
    fleet = plan.fleet
    text = f"{fleet.current}/{fleet.nodes} nodes current, {fleet.deferred} deferred"
    changed = drifted(plan, drift)
    if changed:
        text += f", {len(changed)} DaemonSets drifted from the repository"
    jobs = all_jobs(plan)
    if jobs:
        done = sum(
            nj.job_final(kind=j.kind, version=nj.version_of(j.api_version), phase=j.phase)
            for j in jobs
        )
        failed = sum(j.phase == nj.JOB_FAILURE for j in jobs)
        text += f", node jobs {done}/{len(jobs)} finished ({failed} failed)"
    return text


def _pruning_lines(plan: Plan) -> list[str]:
    """Prunes still to do (with the pods each takes), a refused prune, and orphans."""
    if not (plan.prunes or plan.prune_errors or plan.orphans):
        return []
    lines = ["", f"## Pruning (owner `{plan.owner}`)", ""]
    lines += [f"- **refused**: {e}" for e in plan.prune_errors]
    lines += [f"- to prune: {p.reason}" for p in plan.prunes]
    lines += [f"- orphan: {o.reason}" for o in plan.orphans]
    return lines


def summary_markdown(
    desired: DesiredState,
    plan: Plan,
    *,
    invalid: tuple[str, tuple[Diagnostic, ...]] | None = None,
    drift: Drift | None = None,
) -> str:
    """The summary, under SUMMARY_LIMIT characters: rows and items beyond the caps of
    status_detail are folded as "… and N more" (groups and jobs not done are listed first)."""
    lines = [
        "# Rollout status",
        "",
        f"Spec revision `{desired.revision}`: {headline(plan, drift=drift)}.",
        "Written by gitops-edge after each pass; do not edit.",
        "",
        "| workload | group | model | progress | outdated | unavailable | deferred (NotReady) "
        "| OTA pending | rollout |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    shown, more = prefer(plan.daemonsets, SUMMARY_ROWS, first=_not_done)
    for ds in shown:
        p = ds.progress
        lines.append(
            f"| {ds.workload} | {ds.group or '—'} | {ds.model.value} | "
            f"`{progress_bar(p.current, p.nodes)}` | {p.outdated} | {p.unavailable} | "
            f"{p.deferred} | {p.ota_pending} | {_rollout_cell(ds)} |"
        )
    if more:
        listed = {id(ds) for ds in shown}
        rest = [ds.progress for ds in plan.daemonsets if id(ds) not in listed]
        lines += [
            "",
            folded(more, "groups")
            + f": {sum(p.current for p in rest)}/{sum(p.nodes for p in rest)} nodes current, "
            f"{sum(p.deferred for p in rest)} deferred (each in its workload's JSON file).",
        ]
    if invalid is not None:
        revision, diagnostics = invalid
        problems, unlisted = capped(diagnostics, SUMMARY_ITEMS)
        lines += [
            "",
            f"## Revision `{revision}` is invalid and was not applied",
            "",
            f"The last good revision, `{desired.revision}`, is still being reconciled. Fix:",
            "",
            "```text",
            render_text(problems),
            *([folded(unlisted, "problems (gitops-edge validate lists all)")] if unlisted else []),
            "```",
        ]
    jobs = all_jobs(plan)
    if jobs:
        lines += [
            "",
            "## Node jobs",
            "",
            "| job | kind | version | phase | successful | failed | timed out | running "
            "| pending |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        shown_jobs, more = prefer(jobs, SUMMARY_ROWS, first=_job_not_done)
        for job in shown_jobs:
            c = job_counts(job)
            phase = "error" if job.errors else job.phase or "to be created"
            lines.append(
                f"| `{job.name}` | {job.kind} | {nj.version_of(job.api_version)} | {phase} | "
                f"{c['successful']}/{c['nodes']} | {c['failed']} | {c['unknown']} | "
                f"{c['inProgress']} | {c['pending']} |"
            )
        if more:
            lines += ["", folded(more, "node jobs") + " (each in its file under jobs/)."]
        for job in shown_jobs[:SUMMARY_JOBS]:
            lines += ["", *job_markdown_lines(job, limit=SUMMARY_NODES)]
    lines += _items(_pruning_lines(plan))
    changed = drifted(plan, drift)
    if changed:
        lines += [
            "",
            "## Drift",
            "",
            "Changed in the cluster, not in the repository; restored to the repository's values "
            "(a held RollingUpdate DaemonSet when its hold ends):",
            "",
        ]
        lines += _items(
            [
                f"- `{ns}/{name}`: " + ", ".join(f"`{path}`" for path in fields)
                for (ns, name), fields in changed.items()
            ]
        )
    held = [ds for ds in plan.daemonsets if ds.held or ds.rolled_back]
    if held:
        lines += ["", "## Held and rolled back", ""]
        lines += _items(
            [f"- `{ds.name}`: {ds.held or 'rolled back ' + ds.rolled_back}" for ds in held]
        )
    errors = [(ds.name, e) for ds in plan.daemonsets for e in ds.errors]
    errors += [(job.name, e) for job in jobs for e in job.errors]
    if errors:
        lines += ["", "## Errors", "", *_items([f"- `{name}`: {e}" for name, e in errors])]
    return fit_summary(lines, tail=["", _RECORD.format(desired.revision)])


def _not_done(ds: DaemonSetPlan) -> bool:
    """A group worth a row before the others: not all current, held, halted or in error."""
    p = ds.progress
    return bool(p.current < p.nodes or p.deferred or ds.errors or ds.held or ds.halted) or bool(
        ds.rolled_back or ds.drift
    )


def _job_not_done(job: JobPlan) -> bool:
    return bool(job.errors) or job.phase != nj.JOB_COMPLETED or job.count(nj.NODE_FAILURE) > 0


def _items(lines: list[str]) -> list[str]:
    """Bullet items (`- …`) after the first SUMMARY_ITEMS folded as one "… and N more"."""
    bullets = [i for i, line in enumerate(lines) if line.startswith("- ")]
    if len(bullets) <= SUMMARY_ITEMS:
        return lines
    cut = bullets[SUMMARY_ITEMS]
    return [*lines[:cut], "- " + folded(len(bullets) - SUMMARY_ITEMS, "(see the JSON files)")]


def recorded_revision(summary: str) -> str | None:
    """The last good spec revision a committed summary records (a full commit hash), or None
    when it records none (written by an older version, edited by hand)."""
    found = _RECORDED.findall(summary)
    return str(found[0]) if len(found) == 1 else None
