"""Text from the repository (file names, YAML keys and values, names, images) made safe for
where gitops-edge's output is read: a GitHub Actions runner and Markdown job summaries.

The runner executes an output line (stdout or stderr) as a workflow command when, after leading
whitespace, it starts with `::`, or when it holds the legacy `##[command]` form anywhere
(actions/runner `ActionCommand.TryParseV2` and `TryParse`). So repository text must never start
a line, never hold a line break, never hold `##[`, and inside our own annotations it is escaped
as actions/toolkit's `escapeData` / `escapeProperty` do.

Pure: string functions only, no side effects.
"""

from __future__ import annotations

import unicodedata

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_LEGACY_COMMAND = "##["
_LEGACY_SHOWN = "#\\x23["


def _shown(char: str) -> str:
    code = ord(char)
    if char in _SHORT:
        return _SHORT[char]
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for an undecodable byte
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _show_undecodable(text: str) -> str:
    """Lone surrogates (from a non-UTF-8 file name) as `\\xNN`: they cannot be printed."""
    if text.isascii():
        return text
    return "".join(_shown(c) if unicodedata.category(c) == "Cs" else c for c in text)


def printable(text: str) -> str:
    """Every character that is not printable (controls and line breaks, invisible format
    characters, spaces other than ' ', a non-UTF-8 byte of a file name) as a Python-style escape:
    `\\n`, `\\x1b`, `\\u3000`, `\\xff`. Printable text, backslashes included, is kept: this is
    for display, not a reversible code, and applying it twice changes nothing."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _shown(c) for c in text)


def inline(text: str) -> str:
    """Repository text for one line of free-form output: `printable`, and `##[` (the runner's
    legacy command form, read anywhere in a line) as `#\\x23[`."""
    return printable(text).replace(_LEGACY_COMMAND, _LEGACY_SHOWN)


def display_path(path: str) -> str:
    """A repository-relative file name for the start of an output line: `inline`, and `./` in
    front of a name that starts with a colon or a space (it would read as `::command::`)."""
    shown = inline(path)
    return f"./{shown}" if shown[:1] in (":", " ") else shown


def guard_lines(text: str) -> str:
    """Free-form output that may hold repository text: every line keeps its text, but control
    characters other than the line breaks are escaped, no line starts (after spaces) with `::`
    (its first colon is shown as `\\x3a`) and `##[` is shown as `#\\x23[`."""
    lines = []
    for line in text.split("\n"):
        shown = inline(line)
        stripped = shown.lstrip()
        if stripped.startswith("::"):
            shown = shown[: len(shown) - len(stripped)] + "\\x3a" + stripped[1:]
        lines.append(shown)
    return "\n".join(lines)


def json_text(text: str) -> str:
    """JSON text (from `json.dumps`, which escapes control characters) with every `##[` inside
    a string written `#\\u0023[`: the same JSON value, no legacy workflow command."""
    return text.replace(_LEGACY_COMMAND, "#\\u0023[")


def escape_data(text: str) -> str:
    """The message of a workflow command (actions/toolkit `escapeData`)."""
    return _show_undecodable(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value of a workflow command (actions/toolkit `escapeProperty`)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


_MARKDOWN = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    **{c: "\\" + c for c in "\\`*_[]|~"},
}


def markdown_inline(text: str) -> str:
    """Repository text inside a Markdown table cell or list item: one line (`inline`), and no
    emphasis, code span, link, HTML or table cell border can be opened by it."""
    return "".join(_MARKDOWN.get(c, c) for c in inline(text))


def markdown_code_block(text: str, *, info: str = "text") -> str:
    """A fenced code block that the text cannot close: the fence is longer than any run of
    backticks in it."""
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"
