"""How the planner writes times and revisions in the human reasons it attaches to actions.

Pure functions. No side effects.
"""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(seconds: float) -> str:
    """Epoch seconds as `2026-01-01T00:03:00Z`."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def short(revision: str) -> str:
    """A revision hash as people read it (ControllerRevision hashes are already short)."""
    return revision[:10] if revision else "(none)"
