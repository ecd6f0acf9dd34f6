"""How much detail the committed status holds, whatever the fleet size: per-node detail for the
exceptions only (nodes whose job task is not successful, deferred nodes), capped, with counts
for the rest; table rows and list items of the summary capped and folded as "… and N more";
and the summary as a whole kept under `SUMMARY_LIMIT` characters.

On a 2,000-node fleet listing every node made one pass rewrite 625 KB of status; with these
bounds a pass writes about the same whatever the number of nodes (bench/status_size.py).
Pure: returns values, prints nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from gitops_edge.model import nodejobs as nj
from gitops_edge.model.plan import JobPlan
from gitops_edge.reports.job_format import exception_nodes, job_counts, job_to_dict

T = TypeVar("T")

DETAIL_NODES = 100  # nodes listed per node job, deferred nodes per group, in the JSON files
SUMMARY_ROWS = 100  # rows per table of the summary (groups, node jobs)
SUMMARY_NODES = 10  # not-successful nodes listed per node job in the summary
SUMMARY_JOBS = 20  # node jobs with a collapsible block of detail in the summary
SUMMARY_ITEMS = 50  # items per list of the summary (errors, drift, held, prunes, diagnostics)
SUMMARY_LIMIT = 60_000  # characters: the summary is always shorter


def capped(items: Sequence[T], limit: int) -> tuple[list[T], int]:
    """The first `limit` items, and how many were left out."""
    return list(items[:limit]), max(len(items) - limit, 0)


def prefer(items: Sequence[T], limit: int, *, first: Callable[[T], bool]) -> tuple[list[T], int]:
    """At most `limit` items, those for which `first` holds chosen before the others, kept in
    their order; and how many were left out."""
    if len(items) <= limit:
        return list(items), 0
    chosen = {i for i, item in enumerate(items) if first(item)}
    chosen = set(sorted(chosen)[:limit])
    rest = (i for i in range(len(items)) if i not in chosen)
    while len(chosen) < limit:
        chosen.add(next(rest))
    return [items[i] for i in sorted(chosen)], len(items) - limit


def job_status_dict(job: JobPlan) -> dict[str, Any]:
    """`job_to_dict` for a status file: `nodes` lists only the nodes whose task is not
    successful (worst first, at most DETAIL_NODES); `nodesNotListed` counts the others
    (`successful`, and `more` not successful beyond the cap). `counts` covers every node."""
    listed, more = capped(exception_nodes(job), DETAIL_NODES)
    body = job_to_dict(replace(job, nodes=tuple(listed)))
    order = {n.node: i for i, n in enumerate(listed)}
    body["nodes"].sort(key=lambda n: order[n["node"]])
    body["counts"] = job_counts(job)
    body["nodesNotListed"] = {"successful": job.count(nj.NODE_SUCCESSFUL), "more": more}
    return body


def folded(more: int, what: str) -> str:
    """`… and 12 more groups` (a list item or table row count left out)."""
    return f"… and {more} more {what}"


def fit_summary(lines: Sequence[str], *, tail: Sequence[str], limit: int = SUMMARY_LIMIT) -> str:
    """`lines` then `tail` (always kept: the revision record), one per line, under `limit`
    characters: lines that do not fit are cut from the end of `lines`, with a note saying so."""
    text = "\n".join([*lines, *tail]) + "\n"
    if len(text) < limit:
        return text
    note = "", "… (the summary is cut here to stay readable: the JSON files list the rest)"
    room = limit - 1 - sum(len(line) + 1 for line in (*note, *tail))
    kept: list[str] = []
    for line in lines:
        room -= len(line) + 1
        if room < 0:
            break
        kept.append(line)
    return "\n".join([*kept, *note, *tail]) + "\n"
