"""OpenYurt annotation semantics (DESIGN §2): update-strategy names and max-unavailable values.

Pure functions shared by validation, rendering and the planner. No side effects.
"""

from __future__ import annotations

import re

from gitops_edge.desired import UpdateModel

DEFAULT_MAX_UNAVAILABLE = "10%"
_STRATEGIES = {
    "advancedrollingupdate": UpdateModel.ADVANCED_ROLLING_UPDATE,
    "auto": UpdateModel.ADVANCED_ROLLING_UPDATE,  # legacy spelling
    "ota": UpdateModel.OTA,
}
_PERCENT = re.compile(r"([0-9]+)%")
_INT = re.compile(r"[0-9]+")


def parse_update_strategy(value: str) -> UpdateModel:
    """Map an `apps.openyurt.io/update-strategy` value (case-insensitive) to a model."""
    try:
        return _STRATEGIES[value.strip().lower()]
    except KeyError:
        raise ValueError(
            f"unknown update strategy {value!r}: use AdvancedRollingUpdate or OTA"
        ) from None


def parse_max_unavailable(value: int | str) -> int | str:
    """Validate a max-unavailable value; returns an int or a normalised "N%" string.

    Accepts a non-negative integer, a string of digits, or a percentage "N%". Raises ValueError
    with a message that says what to write instead.
    """
    if isinstance(value, bool):
        raise ValueError("max-unavailable must be an integer or a percentage like 30%, not a bool")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"max-unavailable {value} is negative: use 0 or more (0 means 10%)")
        return value
    text = value  # no stripping: upstream (intstr + Atoi) rejects surrounding spaces too
    if _INT.fullmatch(text):
        return int(text)
    m = _PERCENT.fullmatch(text)
    if m:
        return f"{int(m.group(1))}%"
    raise ValueError(
        f"max-unavailable {value!r} is neither an integer nor a percentage: write e.g. 3 or 30%"
    )


def resolve_max_unavailable(value: int | str | None, nodes: int) -> int:
    """The budget over N nodes: percentages round up; absent, 0 and 0% mean the 10% default."""
    parsed = parse_max_unavailable(DEFAULT_MAX_UNAVAILABLE if value is None else value)
    if parsed in (0, "0%"):
        parsed = DEFAULT_MAX_UNAVAILABLE
    if isinstance(parsed, int):
        return parsed
    percent = int(parsed[:-1])
    return -(-percent * nodes // 100)  # ceil, in integers (no float rounding)
