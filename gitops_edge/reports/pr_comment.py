"""The sticky pull-request comment's text: the hidden marker that finds it again on the next push
(one per desired-state path, so two uses of the Action in one workflow keep a comment each), and
the body — marker, the preview's Markdown, a footer linking to the run — within GitHub's limit.

Pure: string functions only, no side effects.
"""

from __future__ import annotations

import posixpath
from urllib.parse import quote

from gitops_edge.reports.markdown_budget import COMMENT_LIMIT, fit_markdown, github_length

_CUT = (
    "… {lines} more lines are not in this comment (GitHub's limit is 65,536 characters): see "
    "the job summary of the run"
)


def marker(key: str) -> str:
    """The first line of the comment for the desired state at `key` (the Action's `path`): an
    HTML comment GitHub does not show. `key` is normalised (`./fleet/` is `fleet`) and
    percent-encoded, `-` included, so no key can end the HTML comment or look like another's."""
    normal = posixpath.normpath(key.replace("\\", "/") or ".")
    encoded = quote(normal, safe="/._~").replace("-", "%2D")
    return f"<!-- gitops-edge:preview path={encoded} -->"


def is_preview_of(body: str, key: str) -> bool:
    """Whether a comment's body is the preview for `key`: its first line is the marker (a reply
    quoting it starts with `>`, and is not)."""
    return body.split("\n", 1)[0].rstrip("\r") == marker(key)


def comment_body(markdown: str, *, key: str, run_url: str = "") -> str:
    """The comment: the marker, `markdown`, and a footer linking to the run (its job summary
    holds the same preview, and the annotations); cut at whole lines to stay within
    `COMMENT_LIMIT` whatever `markdown` is."""
    footer = (
        f"\n---\n<sub>Posted by gitops-edge, updated on every push. [The run]({run_url}) has the "
        "same preview in its job summary, and the validation annotations.</sub>\n"
        if run_url
        else "\n---\n<sub>Posted by gitops-edge, updated on every push.</sub>\n"
    )
    head = marker(key) + "\n"
    room = COMMENT_LIMIT - github_length(head + footer) - 2
    return head + fit_markdown(markdown.rstrip("\n"), limit=room, note=_CUT).rstrip("\n") + footer
