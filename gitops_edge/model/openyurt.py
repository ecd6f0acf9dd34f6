"""OpenYurt annotation semantics (DESIGN §2): update-strategy names and max-unavailable values.

Pure functions shared by validation, rendering and the planner. No side effects.
"""

from __future__ import annotations

import re

from gitops_edge.model.desired import UpdateModel

DEFAULT_MAX_UNAVAILABLE = "10%"
MAX_INT32 = 2**31 - 1  # a Kubernetes IntOrString holds an int32
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

    Accepts an integer from 0 to 2147483647 (a Kubernetes IntOrString holds an int32: upstream
    OpenYurt would silently wrap a larger one, 4294967297 becoming 1), a string of such digits,
    or a percentage "N%" from 0% to 100%. Raises ValueError with a message that says what to
    write instead.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        shown = "a bool" if isinstance(value, bool) else f"{value!r}"
        raise ValueError(
            f"max-unavailable must be a whole number or a percentage like 30%, not {shown}"
        )
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"max-unavailable {value} is negative: use 0 or more (0 means 10%)")
        return _bounded_int(str(value))
    text = value  # no stripping: upstream (intstr + Atoi) rejects surrounding spaces too
    if _INT.fullmatch(text):
        return _bounded_int(text)
    m = _PERCENT.fullmatch(text)
    if m:
        digits = m.group(1).lstrip("0") or "0"
        if len(digits) > 3 or int(digits) > 100:
            raise ValueError(
                f"max-unavailable {value!r} is above 100%: use a percentage from 0% to 100%"
            )
        return f"{int(digits)}%"
    raise ValueError(
        f"max-unavailable {value!r} is neither an integer nor a percentage: write e.g. 3 or 30%"
    )


def _bounded_int(digits: str) -> int:
    """The value of a string of ASCII digits, if it fits in a 32-bit integer (compared as
    text first: Python refuses to convert strings of over 4300 digits)."""
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(MAX_INT32)) or int(significant) > MAX_INT32:
        shown = digits if len(digits) <= 24 else f"{digits[:12]}…({len(digits)} digits)"
        raise ValueError(
            f"max-unavailable {shown} does not fit in a 32-bit integer: use at most "
            f"{MAX_INT32}, or a percentage such as 100%"
        )
    return int(significant)


def resolve_max_unavailable(value: int | str | None, nodes: int) -> int:
    """The budget over N nodes: percentages round up; absent, 0 and 0% mean the 10% default."""
    parsed = parse_max_unavailable(DEFAULT_MAX_UNAVAILABLE if value is None else value)
    if parsed in (0, "0%"):
        parsed = DEFAULT_MAX_UNAVAILABLE
    if isinstance(parsed, int):
        return parsed
    percent = int(parsed[:-1])
    return -(-percent * nodes // 100)  # ceil, in integers (no float rounding)
