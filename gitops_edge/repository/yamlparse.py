"""Composing YAML text into ruamel node trees without letting hostile text crash or stall us.

Owns the two parsers — libyaml's C parser, the fast path, and ruamel's pure parser, the more
lenient one whose verdict counts for a file the C parser refuses — and their guards:

- nesting deeper than `MAX_DEPTH` is refused before the C composer sees the text (it recurses
  in C and kills the process with SIGSEGV at ~25,000 levels): a count of characters bounds the
  depth; only when that bound is high are the parser's events (iterative, crash-free) counted;
  the pure composer checks the depth before each recursion;
- the pure parser, several times slower and far slower on hostile text (a 1 MiB file cost it
  18 to 97 s of CPU), only reads files up to `PURE_PARSER_MAX_BYTES`; a larger file the C
  parser refuses gets the C parser's verdict;
- a character YAML does not allow (a NUL byte) is reported at its own line and column.

Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    MappingEndEvent,
    MappingStartEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.resolver import VersionedResolver

MAX_DEPTH = 100  # maps and lists inside each other (aliases expanded); manifests need ~20
PURE_PARSER_MAX_BYTES = 64 * 1024
_SAFE_COMPOSE_DEPTH = 500  # C composer: fine on a 256 KiB thread stack; fails at ~25,000 on 8 MiB
DEPTH_MESSAGE = (
    f"nesting deeper than {MAX_DEPTH} levels (maps and lists inside each other, aliases expanded)"
)
DEPTH_HINT = (
    "flatten the document: Kubernetes manifests nest about 20 levels; a deeper file is "
    "generated or hostile"
)
_SYNTAX_HINT = "fix the YAML syntax at this position (indentation, brackets, quotes)"
# What ruamel's reader accepts (YAML 1.2 printable characters); anything else ends the parse.
_NOT_ALLOWED = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
# The start of each line: indentation, then the indicators and node properties that open a
# nested block collection on the same line (`- - x`, `? - x`, `- &a k: v`).
_LINE_START = re.compile(r"^ *(?:---[ \t]+|[-?:][ \t]+|[&!][^ \t\n]*[ \t]+)*", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class ParseProblem:
    """Why a file could not be composed, at 1-based line and column."""

    line: int
    col: int
    message: str
    hint: str


class _TooDeep(Exception):
    def __init__(self, line: int, col: int) -> None:
        super().__init__(DEPTH_MESSAGE)
        self.line = line
        self.col = col


# The C parser (ruamel.yaml.clib, libyaml) composes ~8x faster than the pure one, with the same
# marks and core-schema tags. It is stricter in places (libyaml refuses `[nginx:1.25]`, valid
# YAML 1.2), so it is only a fast path: a file it rejects is parsed again by the pure parser,
# whose verdict and messages count. Without the C extension ruamel hands back the pure parser.
class _Yaml12Resolver(VersionedResolver):
    """The C parser never reports a `%YAML` directive to the resolver, which therefore always
    falls back to YAML 1.2 — after two caught AttributeErrors per scalar (~20% of validation
    time). Answer 1.2 directly: the same tags, without the exceptions."""

    @property
    def processing_version(self) -> tuple[int, int]:
        return (1, 2)


class _DepthGuardComposer(Composer):
    """ruamel's pure composer, refusing a collection deeper than MAX_DEPTH before recursing."""

    def compose_document(self) -> Any:
        self.depth = 0  # a file that failed mid-way must not leave its depth to the next one
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.depth >= MAX_DEPTH and self.parser.check_event(
            SequenceStartEvent, MappingStartEvent
        ):
            mark = self.parser.peek_event().start_mark
            raise _TooDeep(mark.line + 1, mark.column + 1)
        return super().compose_node(parent, index)


_fast_yaml = YAML(typ="safe", pure=False)
_fast_yaml.Resolver = _Yaml12Resolver
_fast_yaml.Composer = _DepthGuardComposer  # used only when the C extension is missing
_yaml = YAML(typ="safe", pure=True)
_yaml.Composer = _DepthGuardComposer


def nesting_bound(text: str) -> int:
    """An upper bound of how deep `text` nests collections, from its characters alone: a flow
    collection opens with `[` or `{` (a `[a: b]` entry adds an implicit map), and a block
    collection starting at column c is at most 2c + 2 deep (each column holds at most a map
    and a list), c counting the indicators before it on its line."""
    flow = 2 * (text.count("[") + text.count("{"))
    if flow > _SAFE_COMPOSE_DEPTH:
        return flow
    return flow + 2 * max(map(len, _LINE_START.findall(text)), default=0) + 3


def _check_depth(text: str) -> None:
    """Raise _TooDeep where a collection nests deeper than MAX_DEPTH, before any composer sees
    the text. Only a text whose bound is high has its parser events counted (the C parser is
    iterative); events after a syntax error are never composed, so that error ends the count."""
    if nesting_bound(text) <= _SAFE_COMPOSE_DEPTH:
        return
    depth = 0
    try:
        for event in _fast_yaml.parse(text):
            if isinstance(event, (SequenceStartEvent, MappingStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _TooDeep(event.start_mark.line + 1, event.start_mark.column + 1)
            elif isinstance(event, (SequenceEndEvent, MappingEndEvent)):
                depth -= 1
    except YAMLError:
        return


def _compose(text: str) -> list[Any]:
    _check_depth(text)
    try:
        return list(_fast_yaml.compose_all(text))
    except YAMLError as refused:
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > PURE_PARSER_MAX_BYTES:
            raise _OverBudget(refused, size) from None
        return list(_yaml.compose_all(text))


class _OverBudget(Exception):
    def __init__(self, refused: YAMLError, size: int) -> None:
        super().__init__(str(refused))
        self.refused = refused
        self.size = size


def compose_all(text: str) -> list[Any] | ParseProblem:
    """The node tree of every document of `text` (None for an empty one), or the problem that
    stopped the parse."""
    try:
        return _compose(text)
    except _TooDeep as exc:
        return ParseProblem(line=exc.line, col=exc.col, message=DEPTH_MESSAGE, hint=DEPTH_HINT)
    except _OverBudget as exc:
        problem = _problem(text, exc.refused)
        return ParseProblem(
            line=problem.line,
            col=problem.col,
            message=f"{problem.message} (the file is {exc.size} bytes: over the "
            f"{PURE_PARSER_MAX_BYTES // 1024} KiB budget of the slower parser, which accepts "
            "some YAML the fast one refuses, so this is the fast parser's verdict)",
            hint="fix the YAML at this position (libyaml refuses some valid YAML, such as a "
            "':' in a flow list: quote the value, ['nginx:1.25']), or split the file into "
            f"files under {PURE_PARSER_MAX_BYTES // 1024} KiB",
        )
    except YAMLError as exc:
        return _problem(text, exc)


def _problem(text: str, exc: YAMLError) -> ParseProblem:
    if isinstance(exc, ReaderError):
        return _reader_problem(text)
    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        return ParseProblem(
            line=line, col=col, message=f"cannot parse YAML: {problem}", hint=_SYNTAX_HINT
        )
    return ParseProblem(
        line=1, col=1, message=f"cannot parse YAML: {' '.join(str(exc).split())}", hint=_SYNTAX_HINT
    )


def _reader_problem(text: str) -> ParseProblem:
    """A character YAML does not allow, at its own line and column (the reader's error holds
    only an offset, and two lines of text)."""
    found = _NOT_ALLOWED.search(text)
    if found is None:
        return ParseProblem(
            line=1,
            col=1,
            message="cannot parse YAML: unreadable text",
            hint="save the file as UTF-8 text",
        )
    at = found.start()
    line_start = text.rfind("\n", 0, at) + 1
    code = ord(found.group())
    name = " (NUL)" if code == 0 else ""
    return ParseProblem(
        line=text.count("\n", 0, at) + 1,
        col=at - line_start + 1,
        message=f"cannot parse YAML: character #x{code:04x}{name} is not allowed in YAML",
        hint="remove it: YAML text holds no control characters other than tab and line breaks",
    )
