"""Log lines, as the loop and the agent write them: `--log-format text|json`, `--log-level`.

A record is a level (`debug`, `info`, `warning`, `error`), a message and fields. Both formats
carry `time` (RFC 3339, UTC, milliseconds: `2026-11-30T03:40:12.345Z`), `level`, `msg`, then
the fields in the order given, with their types: an int, a float, a bool or None stays one (JSON
`54`, `12.3`, `true`, `null`; text `54`, `12.3`, `true`, `null`); a list or tuple is a JSON
array; anything else is its text. The text format is logfmt (`key=value`, space-separated): a
value holding a space, `=`, `"`, a control or other non-printable character — or empty, or
the word `null` as text — is double-quoted with `\\"`, `\\\\`, `\\n`, `\\r`, `\\t`
and `\\uXXXX` escapes, as go-logfmt writes them (which also escapes DEL, C1 controls and other
non-printable characters, so that no escape sequence reaches the reader's terminal); the JSON
format escapes every non-ASCII character. Keys are made valid logfmt keys (a character that
cannot be in one becomes `_`). The message and every field (name and text values, list items
included) pass through `redaction.redact`, so no credential reaches a log.
Side effects: `make_logger`'s logger writes one line per record to stderr (or `stream`).
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from gitops_edge.reports.redaction import redact

Log = Callable[..., None]  # log(level, message, **fields)

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
_RANK = {name: rank for rank, name in enumerate(LEVELS)}
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def make_logger(fmt: str, *, level: str = "info", stream: TextIO | None = None) -> Log:
    """A logger writing `fmt` lines for records at `level` or above (an unknown record level
    counts as `error`: it is never filtered out). One lock keeps lines whole across threads."""
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: use one of {', '.join(FORMATS)}")
    threshold = _RANK[level]
    lock = threading.Lock()

    def log(record_level: str, message: str, **fields: Any) -> None:
        if _RANK.get(record_level, len(LEVELS)) < threshold:
            return
        line = format_record(
            fmt=fmt, when=time.time(), level=record_level, message=message, fields=fields
        )
        out = stream if stream is not None else sys.stderr
        with lock:
            print(line, file=out, flush=True)

    return log


def format_record(
    *, fmt: str, when: float, level: str, message: str, fields: dict[str, Any]
) -> str:
    """One record as a line (no newline) of `fmt`; `when` in seconds since the epoch."""
    record: dict[str, Any] = {"time": timestamp(when), "level": level, "msg": redact(message)}
    for key, value in fields.items():
        record[redact(key)] = _typed(value)
    if fmt == "json":
        return json.dumps(record)
    return " ".join(f"{_key(key)}={_text(value)}" for key, value in record.items())


def timestamp(when: float) -> str:
    """RFC 3339 in UTC with milliseconds: `2026-11-30T03:40:12.345Z`."""
    millis = int(when * 1000)
    seconds, ms = divmod(millis, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}Z"


def _typed(value: Any) -> Any:
    """A field value as it is logged: JSON types kept, text masked, the rest as text."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # JSON has no nan or inf
    if isinstance(value, list | tuple):
        return [_typed(item) for item in value]
    return redact(str(value))


def _text(value: Any) -> str:
    """A typed value in logfmt."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return quote(json.dumps(value, separators=(",", ":")))
    return quote(value)


def quote(text: str) -> str:
    """`text` as a logfmt value: bare when it can be, else double-quoted and escaped."""
    if text and text != "null" and not any(_needs_quote(c) for c in text):
        return text
    return '"' + "".join(_escape(c) for c in text) + '"'


def _needs_quote(char: str) -> bool:
    return char <= " " or char in '="' or not char.isprintable() or char == "\ufffd"


def _escape(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    if char.isprintable():
        return char
    code = ord(char)
    if code > 0xFFFF:  # as a JSON-style surrogate pair, which logfmt decoders read
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def _key(key: str) -> str:
    """A valid logfmt key: no space, control character, `=` or `"`."""
    cleaned = "".join("_" if _needs_quote(c) else c for c in key)
    return cleaned or "_"
