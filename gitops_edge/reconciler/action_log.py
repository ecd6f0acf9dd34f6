"""The log records of the actions a pass carried out: one `applied` record (info) per action
done — what it did, to which object, on which node, why, at which revision — and one `skipped`
record (debug) per action whose object was already gone; at most `failures.LOG_LIMIT` per kind
of action and pass, then one summary record per kind. Failed actions are not here: their
records come from `failures.log_records`.

Pure: builds values; the loop logs them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from gitops_edge.reconciler.apply import DONE, SKIPPED, ActionResult
from gitops_edge.reconciler.failures import ACTION_KINDS, LOG_LIMIT, LogRecord, describe

ACTION_APPLIED = "action_applied"  # the `event` field of each kind of record
ACTION_SKIPPED = "action_skipped"
APPLIED_SUPPRESSED = "applied_suppressed"
SKIPPED_SUPPRESSED = "skipped_suppressed"

_SHOWN = {  # outcome → (event, message, level, summary event, what the summary counts)
    DONE: (ACTION_APPLIED, "applied", "info", APPLIED_SUPPRESSED, "applied actions"),
    SKIPPED: (ACTION_SKIPPED, "skipped", "debug", SKIPPED_SUPPRESSED, "skipped actions"),
}


def action_records(
    results: Iterable[ActionResult], *, revision: str, limit: int = LOG_LIMIT
) -> tuple[LogRecord, ...]:
    """A record per action done or skipped, in the order they ran, at most `limit` per outcome
    and kind, then a summary record per outcome and kind that had more ("… and 9,980 more
    applied actions of kind action_delete_pod")."""
    shown: Counter[tuple[str, str]] = Counter()
    out = []
    for result in results:
        if result.outcome not in _SHOWN:
            continue
        event, message, level, _, _ = _SHOWN[result.outcome]
        kind = ACTION_KINDS[type(result.action)]
        shown[result.outcome, kind] += 1
        if shown[result.outcome, kind] > limit:
            continue
        what, obj = describe(result.action)
        fields: dict[str, Any] = {"event": event, "kind": kind, "action": what, "object": obj}
        node = getattr(result.action, "node", None)
        if node is not None:
            fields["node"] = node
        fields["reason"] = result.action.reason
        if result.detail:
            fields["detail"] = result.detail
        fields["revision"] = revision
        out.append(LogRecord(level, message, tuple(fields.items())))
    for (outcome, kind), count in shown.items():
        if count <= limit:
            continue
        _, _, level, event, what = _SHOWN[outcome]
        more = count - limit
        fields = {"event": event, "kind": kind, "count": more, "revision": revision}
        out.append(
            LogRecord(level, f"… and {more:,} more {what} of kind {kind}", tuple(fields.items()))
        )
    return tuple(out)
