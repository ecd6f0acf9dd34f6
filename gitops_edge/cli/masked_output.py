"""Where the command line's text leaves the program: stdout and stderr, masked.

While a command runs (`masked_streams`), everything written to `sys.stdout` and `sys.stderr` —
plans, diffs, diagnostics, errors, log lines, argparse's usage errors, the agent's request log —
passes through `redaction.redact` a whole line at a time (a credential cannot be split across
two writes); an uncaught exception's traceback is printed masked too (`masked_excepthook`).
Side effects: replaces `sys.stdout`/`sys.stderr` inside the `with` block (restored after) and
`sys.excepthook`; writes to the streams it wraps.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, TextIO, cast

from gitops_edge.reports.redaction import redact


class MaskedStream:
    """A text stream that masks credentials, line by line, before writing to `target`."""

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self._pending = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            lines, newline, self._pending = (self._pending + text).rpartition("\n")
            if newline:
                self.target.write(redact(lines + newline))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                self.target.write(redact(self._pending))
                self._pending = ""
        self.target.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, encoding, fileno…: the target's
        return getattr(self.target, name)


@contextmanager
def masked_streams() -> Iterator[None]:
    """Mask `sys.stdout` and `sys.stderr` (and uncaught tracebacks) while the block runs."""
    sys.excepthook = masked_excepthook
    saved = sys.stdout, sys.stderr
    out, err = MaskedStream(saved[0]), MaskedStream(saved[1])
    sys.stdout, sys.stderr = cast(TextIO, out), cast(TextIO, err)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
        for stream in (out, err):
            with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing to show
                stream.flush()


def masked_excepthook(
    kind: type[BaseException], value: BaseException, trace: TracebackType | None
) -> None:
    """Print an uncaught exception as Python would, with its credentials masked."""
    text = "".join(traceback.format_exception(kind, value, trace))
    sys.stderr.write(redact(text))
    sys.stderr.flush()
