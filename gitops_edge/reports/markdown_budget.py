"""Markdown that fits where GitHub shows it: a pull-request comment (GitHub rejects a body over
65,536 characters with 422 "Body is too long") and a job summary.

Lengths are counted conservatively (`github_length`): UTF-8 bytes, not characters (an emoji is
1 character, 2 UTF-16 units and 4 bytes), and every line feed twice (a CR may be added before
it), so text within a budget by this count is within it however GitHub counts.

Pure: string functions only, no side effects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

COMMENT_LIMIT = 65_536  # GitHub's limit on an issue or pull-request comment body
PREVIEW_BUDGET = 60_000  # a preview's Markdown: the comment's marker and footer fit beside it

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def github_length(text: str) -> int:
    """The length of `text` counted as no GitHub limit can exceed: UTF-8 bytes plus one per
    line feed (a lone surrogate from a non-UTF-8 file name counts as its 3 bytes)."""
    return len(text.encode("utf-8", "surrogatepass")) + text.count("\n")


def cut(text: str, limit: int) -> str:
    """`text` with at most `limit` characters, the last one `…` when it was cut."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def take_lines(lines: Iterable[str], *, budget: int) -> list[str]:
    """The first of `lines` whose `github_length`, a line feed after each, is within `budget`
    (`lines` is read no further than the first that does not fit)."""
    kept: list[str] = []
    used = 0
    for line in lines:
        used += github_length(line) + 2
        if used > budget:
            break
        kept.append(line)
    return kept


def _after(line: str, fence: str, details: int) -> tuple[str, int]:
    """The open code fence and `<details>` count after `line`."""
    match = _FENCE.match(line)
    if fence:
        closes = match is not None and match[1][0] == fence[0] and len(match[1]) >= len(fence)
        return ("" if closes else fence), details
    if match:
        return match[1][0] * len(match[1]), details
    return fence, max(0, details + line.count("<details") - line.count("</details>"))


def _ending(fence: str, details: int, note: str) -> str:
    return "\n".join(["", *([fence] if fence else []), *["</details>"] * details, "", note])


def fit_markdown(text: str, *, limit: int, note: str) -> str:
    """`text` when its `github_length` is within `limit`; otherwise its first whole lines, the
    code fences and `<details>` they opened closed again, then `note` (with `{lines}` replaced
    by the number of lines left out), all within `limit` (`note` itself must fit in it)."""
    if github_length(text) <= limit:
        return text
    lines = text.split("\n")
    widest = note.replace("{lines}", f"{len(lines):,}")  # as long as any count it can say
    fence, details, used = "", 0, 0
    kept: list[str] = []
    for line in lines:
        after = _after(line, fence, details)
        if used + github_length(line) + 2 + github_length(_ending(*after, widest)) > limit:
            break
        kept.append(line)
        fence, details = after
        used += github_length(line) + 2
    said = note.replace("{lines}", f"{len(lines) - len(kept):,}")
    return "\n".join(kept) + _ending(fence, details, said) + "\n"
