"""The tables of `gitops-edge status` for people: one row per workload and group, then the
KubeEdge node jobs, drawn with rich so that each column is as wide as its widest cell.

On a terminal the tables fit the terminal's width (rich folds a cell that does not fit) and
carry a little colour; otherwise (a pipe, a file, CI) they are plain text: no ANSI escape, no
wrapping at 80 columns (the width is unbounded), no trailing blanks, so `awk`/`cut` can read
them. Pure: renders strings from status rows (dicts as in the status files) and job dicts.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from gitops_edge.model import nodejobs as nj
from gitops_edge.model.plan import held_by_window
from gitops_edge.reports.job_format import count_words
from gitops_edge.reports.plan_format import progress_bar

PLAIN_WIDTH = 100_000  # not a terminal: never wrap (a row is one line, whatever its names)


def _console(*, terminal: bool, width: int | None) -> Console:
    return Console(
        file=io.StringIO(),
        width=width if terminal and width else PLAIN_WIDTH,
        force_terminal=terminal,
        color_system="standard" if terminal else None,
        no_color=not terminal,
        highlight=False,
        emoji=False,
        markup=False,
        legacy_windows=False,
    )


def _table(headers: Sequence[str], *, right: Sequence[str] = ()) -> Table:
    table = Table(box=None, pad_edge=False, show_edge=False, padding=(0, 2, 0, 0), expand=False)
    for header in headers:
        table.add_column(
            header,
            justify="right" if header in right else "left",
            no_wrap=False,
            header_style="bold",
        )
    return table


def _render(tables: Sequence[Table], *, terminal: bool, width: int | None) -> str:
    console = _console(terminal=terminal, width=width)
    with console.capture() as capture:
        for i, table in enumerate(tables):
            if i:
                console.print()
            console.print(table)
    return "\n".join(line.rstrip() for line in capture.get().rstrip("\n").split("\n"))


def rollout_cell(row: dict[str, Any]) -> str:
    """Wave and state from a status row (older status files lack these fields)."""
    words = [f"wave {row['wave']}"] if row.get("wave") else []
    if row.get("rolledBack"):
        words.append(f"rolled back {row['rolledBack']}")
    elif row.get("halted"):
        words.append("HALTED")
    elif row.get("held"):
        words.append("waiting (window)" if held_by_window(row["held"]) else "waiting (wave)")
    return ", ".join(words)


def _namespace(row: dict[str, Any]) -> str:
    """The DaemonSet's namespace (`daemonSet` is `namespace/name` in the status rows)."""
    return str(row.get("daemonSet", "")).partition("/")[0] or "-"


def rows_table(rows: Sequence[dict[str, Any]], *, terminal: bool) -> Table:
    table = _table(
        ("NAMESPACE", "WORKLOAD", "GROUP", "MODEL", "PROGRESS", "DEFERRED", "OTA", "ROLLOUT"),
        right=("DEFERRED", "OTA"),
    )
    for row in rows:
        nodes = row["nodes"]
        rollout = rollout_cell(row)
        style = "bold red" if terminal and "HALTED" in rollout else ""
        table.add_row(
            Text(_namespace(row)),
            Text(str(row["workload"])),
            Text(str(row["group"] or "-")),
            Text(str(row["model"])),
            Text(progress_bar(nodes["current"], nodes["total"])),
            Text(
                str(nodes["deferredNotReady"]),
                style="yellow" if terminal and nodes["deferredNotReady"] else "",
            ),
            Text(str(row["otaPending"])),
            Text(rollout, style=style),
        )
    return table


def jobs_table(jobs: Sequence[dict[str, Any]]) -> Table:
    table = _table(("NODE JOB", "VERSION", "PHASE", "NODES"))
    for job in jobs:
        c = job["counts"]
        words = [f"{c['successful']}/{c['nodes']} successful", *count_words(c)]
        phase = "error" if job.get("errors") else job.get("phase") or "to be created"
        table.add_row(
            Text(f"{job['kind']}/{job['name']}"),
            Text(nj.version_of(str(job["apiVersion"]))),
            Text(str(phase)),
            Text(", ".join(words)),
        )
    return table


def render_status(
    rows: Sequence[dict[str, Any]],
    jobs: Sequence[dict[str, Any]] = (),
    *,
    terminal: bool = False,
    width: int | None = None,
) -> str:
    """The rows' table, then (when there are any) the node jobs' table, a blank line between.
    `terminal`: style for a terminal `width` columns wide; else plain and never wrapped."""
    tables = [rows_table(rows, terminal=terminal)]
    if jobs:
        tables.append(jobs_table(jobs))
    return _render(tables, terminal=terminal, width=width)
