"""The shortened Markdown preview of a diff too large for one pull-request comment or job summary
(GitHub rejects a comment over 65,536 characters; a 2,000-group change renders ~141 KB in full):
totals per workload first, then the rollout diagram, the first changed groups' rows folded in a
`<details>` block, and the node jobs, each part cut to its share of the budget with a line that
counts what it leaves out and points to the JSON preview for the whole list. Whatever the number
of changes and the length of the names, the result is within the budget
(`markdown_budget.github_length`).

Pure: builds strings from a `DiffReport`, no side effects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from gitops_edge.reports.markdown_budget import cut, github_length, take_lines
from gitops_edge.reports.rollout_diagram import mermaid_block
from gitops_edge.reports.workflow_text import markdown_inline

if TYPE_CHECKING:
    from gitops_edge.reports.diff import Change, DiffReport

NAME_CHARS = 100  # of a workload or group name in a row (before escaping)
DETAIL_CHARS = 200  # of one detail of a change (an image before → after …)
DETAILS_SHOWN = 3  # details of one change; the rest are counted
TOTALS_SHARE = 4  # the per-workload totals take at most 1/4 of the budget
JOBS_SHARE = 10  # the node jobs at most 1/10
DETAIL_SHARE = 4  # the rows of detail keep at least 1/4 (the diagram is left out otherwise)
RESERVE = 1_000  # the closing lines: counts of what is left out, the status note

WHOLE_LIST = (
    "the whole list is in the JSON preview (`gitops-edge diff --format json`; the Action's "
    "`diff-json` output)"
)


def impact_cells(change: Change) -> str:
    """A change's nodes, NotReady nodes, most pods down at once and passes, as table cells."""
    i = change.impact
    if i is None:
        return "— | — | — | —"
    down = str(i.max_down) if i.max_down is not None else "nodes decide (OTA)"
    passes = str(i.passes) if i.passes is not None else "—"
    return f"{i.nodes} | {i.deferred} | {down} | {passes}"


def _name(text: str) -> str:
    return markdown_inline(cut(text, NAME_CHARS))


def _totals_rows(changes: Sequence[Change]) -> list[str]:
    """One row per workload: its groups changed, by kind, its nodes and NotReady nodes."""
    by_workload: dict[tuple[str, str], list[Change]] = {}
    for change in changes:
        by_workload.setdefault((change.namespace, change.workload), []).append(change)
    rows = []
    for (namespace, workload), group in by_workload.items():
        kinds = [sum(1 for c in group if c.kind == k) for k in ("added", "changed", "removed")]
        known = [c.impact for c in group if c.impact is not None]
        nodes = str(sum(i.nodes for i in known)) if known else "—"
        deferred = str(sum(i.deferred for i in known)) if known else "—"
        rows.append(
            f"| {_name(namespace)}/{_name(workload)} | {len(group)} | "
            f"{' | '.join(map(str, kinds))} | {nodes} | {deferred} |"
        )
    return rows


def _detail_row(change: Change) -> str:
    shown = [markdown_inline(cut(d, DETAIL_CHARS)) for d in change.details[:DETAILS_SHOWN]]
    if len(change.details) > DETAILS_SHOWN:
        shown.append(f"+{len(change.details) - DETAILS_SHOWN} more")
    group = _name(change.group or "—")
    return (
        f"| {_name(change.workload)} | {group} | {change.kind}: {'<br>'.join(shown)} | "
        f"{impact_cells(change)} |"
    )


def _headline(report: DiffReport) -> str:
    changes = report.changes
    workloads = len({(c.namespace, c.workload) for c in changes})
    known = [c.impact for c in changes if c.impact is not None]
    nodes = (
        f" on {sum(i.nodes for i in known):,} nodes "
        f"({sum(i.deferred for i in known):,} NotReady: deferred)"
        if known
        else ""
    )
    jobs = f" and {len(report.jobs):,} node jobs" if report.jobs else ""
    return (
        f"**{len(changes):,} groups of {workloads:,} workloads change**{nodes}{jobs}. This "
        f"preview is shortened to stay within GitHub's size limits: {WHOLE_LIST}."
    )


def render_shortened(report: DiffReport, *, budget: int) -> str:
    """The shortened preview, within `budget` (at least a few thousand characters)."""
    lines = [
        f"### gitops-edge diff `{report.base[:12]}` → `{report.head[:12]}`",
        "",
        _headline(report),
    ]
    left = budget - github_length("\n".join(lines)) - RESERVE

    every = _totals_rows(report.changes)
    totals = take_lines(every, budget=left // TOTALS_SHARE)
    more_workloads = len(every) - len(totals)
    if totals or more_workloads:
        lines += [
            "",
            "**Per workload**",
            "",
            "| workload | groups | added | changed | removed | nodes | NotReady (deferred) |",
            "|---|---|---|---|---|---|---|",
            *totals,
        ]
        if more_workloads:
            lines += ["", f"+{more_workloads:,} more workloads not listed here: {WHOLE_LIST}."]
    left = budget - github_length("\n".join(lines)) - RESERVE

    jobs = take_lines(
        (f"- {markdown_inline(cut(j, DETAIL_CHARS))}" for j in report.jobs),
        budget=left // JOBS_SHARE,
    )
    more_jobs = len(report.jobs) - len(jobs)
    jobs_length = sum(github_length(j) + 2 for j in jobs) + 200  # with heading and count
    left -= jobs_length

    diagram = mermaid_block(report.steps)
    if diagram and github_length(diagram) + 100 <= left - left // DETAIL_SHARE:
        lines += ["", "**Rollout order**", "", diagram]
    elif diagram:
        lines += ["", "The rollout diagram is left out: it does not fit beside the totals."]
    left = budget - github_length("\n".join(lines)) - RESERVE - jobs_length

    rows = take_lines(map(_detail_row, report.changes), budget=left - 300)
    more_rows = len(report.changes) - len(rows)
    if rows:
        lines += [
            "",
            f"<details><summary>The first {len(rows):,} of {len(report.changes):,} changed "
            "groups</summary>",
            "",
            "| workload | group | change | nodes | NotReady (deferred) | most down at once "
            "| passes |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            "</details>",
        ]
    if more_rows:
        lines += ["", f"+{more_rows:,} more changed groups not shown here: {WHOLE_LIST}."]
    if not report.has_status:
        lines += [
            "",
            "No status has been written to this repository yet, so the impact per group is "
            "unknown (it appears after the reconciler's first pass).",
        ]
    if jobs or more_jobs:
        lines += ["", "**Node jobs**", "", *jobs]
        if more_jobs:
            lines.append(f"- +{more_jobs:,} more node jobs: {WHOLE_LIST}")
    return "\n".join(lines) + "\n"
