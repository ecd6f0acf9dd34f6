"""Diagnostics: one problem found in the repository, with where it is and how to fix it.

Pure values plus their renderings (text, JSON, GitHub annotations), and `display_name`, the one
function that makes a file name safe to show anywhere. No side effects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gitops_edge.reports.workflow_text import (
    display_path,
    escape_data,
    escape_property,
    inline,
    json_text,
    printable,
)

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """A problem at file:line:col (1-based), at a JSON path inside the document."""

    file: str  # repository-relative path with forward slashes
    line: int
    col: int
    path: str  # JSON path of the offending value, e.g. "spec.imagePrePullTemplate.nodes"
    message: str
    hint: str = ""
    rule: str = ""  # short identifier, e.g. "schema", "openyurt-ondelete"
    severity: str = ERROR

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.file, self.line, self.col, self.path, self.message)


# A file name as shown in every output (text, JSON, logs, status files): characters that are
# not printable (bytes that are not UTF-8, held by Python as surrogate escapes; control
# characters; line and paragraph separators) become `\xNN`/`\uNNNN` escapes (`\n`, `\r`, `\t`
# for those three), so a name can neither break a line nor fail an encoder. Idempotent. One
# implementation for every display of repository text: `workflow_text.printable`.
display_name = printable


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity == ERROR for d in diagnostics)


def format_path(parts: Sequence[str | int]) -> str:
    """JSON path as `spec.containers[0].image` ("" for the document root)."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def render_text(diagnostics: Sequence[Diagnostic]) -> str:
    lines = []
    for d in diagnostics:
        where = f"{d.path}: " if d.path else ""
        sev = "" if d.severity == ERROR else f"{d.severity}: "
        text = f"{sev}{where}{d.message}" + (f" (hint: {d.hint})" if d.hint else "")
        # One line per diagnostic, and no workflow command (`::…` at its start, `##[` in it)
        # whatever the repository's names hold: CI runners read this output.
        lines.append(f"{display_path(d.file)}:{d.line}:{d.col}: {inline(text)}")
    return "\n".join(lines)


def to_dict(d: Diagnostic) -> dict[str, object]:
    return {
        "file": display_name(d.file),
        "line": d.line,
        "col": d.col,
        "path": d.path,
        "message": d.message,
        "hint": d.hint or None,
        "rule": d.rule,
        "severity": d.severity,
    }


def render_json(diagnostics: Sequence[Diagnostic]) -> str:
    return json_text(json.dumps([to_dict(d) for d in diagnostics], indent=2))


def render_github(diagnostics: Sequence[Diagnostic], *, root_prefix: str = "") -> str:
    """GitHub workflow commands: `::error file=…,line=…,col=…,title=…::message`. File, message
    and title are escaped as actions/toolkit does, so nothing from the repository can end an
    annotation or start another command; the file as shown everywhere (`printable`: a newline
    or a non-UTF-8 byte of its name as `\\n`, `\\xff`)."""
    lines = []
    for d in diagnostics:
        file = printable(f"{root_prefix}{d.file}")
        message = f"{d.path}: {d.message}" if d.path else d.message
        if d.hint:
            message += f" (hint: {d.hint})"
        props = (
            f"file={escape_property(file)},line={d.line},col={d.col},"
            f"title={escape_property('gitops-edge ' + (d.rule or d.severity))}"
        )
        lines.append(f"::{d.severity} {props}::{escape_data(message)}")
    return "\n".join(lines)
