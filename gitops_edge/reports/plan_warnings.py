"""The warnings of a plan — today the NodeGroups that match no node — for people (text,
Markdown) and scripts (JSON: `{rule, group, source, daemonSets, message}`, rule
`nodegroup-empty`). Warnings never stop a pass. Pure.
"""

from __future__ import annotations

from typing import Any

from gitops_edge.model.plan import Plan

EMPTY_GROUP_RULE = "nodegroup-empty"


def warning_dicts(plan: Plan) -> list[dict[str, Any]]:
    return [
        {
            "rule": EMPTY_GROUP_RULE,
            "group": w.group,
            "source": w.source,
            "daemonSets": list(w.daemonsets),
            "message": w.message,
        }
        for w in plan.empty_groups
    ]


def warning_count_words(plan: Plan) -> str:
    """`, 1 warning` / `, 2 warnings` for a summary line ("" without warnings)."""
    count = len(plan.empty_groups)
    return f", {count} warning{'s' if count != 1 else ''}" if count else ""


def warning_text_lines(plan: Plan) -> list[str]:
    """`warning: …` lines, then a blank line (nothing without warnings)."""
    lines = [f"warning: {w.message}" for w in plan.empty_groups]
    return [*lines, ""] if lines else []


def warning_markdown_lines(plan: Plan) -> list[str]:
    """A **Warnings** list, preceded by a blank line (nothing without warnings)."""
    if not plan.empty_groups:
        return []
    items = [f"- ⚠ {w.message.replace('|', chr(92) + '|')}" for w in plan.empty_groups]
    return ["", "**Warnings**", "", *items]
