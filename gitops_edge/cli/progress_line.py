"""The live progress line of a pass on a terminal: one line on stderr, redrawn in place (rich),
saying what the pass is doing — observing, planning, applying N/M actions, writing the status —
so a long pass is not minutes of silence followed by thousands of lines. Nothing at all when
stderr is not a terminal (logs, CI, the CronJob stay clean); the line is erased when the pass
ends, before its results are printed.

Side effects: writes to the given stream (stderr) from the pass's thread and rich's refresh
thread, only while the context is open.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from gitops_edge.reconciler.reconcile import PassProgress, no_progress


@contextmanager
def pass_progress(stream: TextIO, *, terminal: bool | None = None) -> Iterator[PassProgress]:
    """A `PassProgress` drawing one live line on `stream` when it is a terminal (`terminal`
    forces the decision, for tests), else one that does nothing."""
    if terminal is None:
        terminal = stream.isatty()
    if not terminal:
        yield no_progress
        return
    console = Console(file=stream, force_terminal=True, highlight=False, markup=False)
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        refresh_per_second=8,
    )
    task: TaskID = bar.add_task("starting the pass", total=None)
    shown = [""]

    def told(step: str, done: int, total: int) -> None:
        new_step = step != shown[0]  # drawn at once; counts within a step at the refresh rate
        shown[0] = step
        bar.update(task, description=step, completed=done, total=total or None, refresh=new_step)

    with bar:
        yield told
