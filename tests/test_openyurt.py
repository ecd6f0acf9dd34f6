"""OpenYurt annotation semantics (DESIGN §2): strategy names, max-unavailable parsing/rounding."""

from __future__ import annotations

import pytest

from gitops_edge.model.desired import UpdateModel
from gitops_edge.model.openyurt import (
    parse_max_unavailable,
    parse_update_strategy,
    resolve_max_unavailable,
)


@pytest.mark.parametrize(
    ("text", "model"),
    [
        ("AdvancedRollingUpdate", UpdateModel.ADVANCED_ROLLING_UPDATE),
        ("advancedrollingupdate", UpdateModel.ADVANCED_ROLLING_UPDATE),
        ("auto", UpdateModel.ADVANCED_ROLLING_UPDATE),
        ("OTA", UpdateModel.OTA),
        ("ota", UpdateModel.OTA),
    ],
)
def test_strategy_names(text: str, model: UpdateModel) -> None:
    assert parse_update_strategy(text) is model


def test_unknown_strategy_says_what_to_write() -> None:
    with pytest.raises(ValueError, match="AdvancedRollingUpdate or OTA"):
        parse_update_strategy("Canary")


@pytest.mark.parametrize(
    ("value", "nodes", "budget"),
    [
        ("95%", 10, 10),  # rounds up
        ("30%", 10, 3),
        ("30%", 7, 3),  # 2.1 → 3
        ("0%", 10, 1),  # 0% means the 10% default
        (0, 25, 3),  # 0 means 10%, rounded up
        (None, 9, 1),  # absent means 10%
        ("3", 100, 3),
        (5, 3, 5),
        ("100%", 0, 0),
    ],
)
def test_resolve(value: int | str | None, nodes: int, budget: int) -> None:
    assert resolve_max_unavailable(value, nodes) == budget


@pytest.mark.parametrize("bad", ["30 percent", "-1", "1.5", "%", "abc", -2])
def test_invalid_values(bad: int | str) -> None:
    with pytest.raises(ValueError):
        parse_max_unavailable(bad)


# ── budgets are bounded (issue 14 item 3) ─────────────────────────────────────────────────────
INT32_MAX = 2**31 - 1


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("101%", "above 100%"),
        ("1000%", "above 100%"),
        ("99999999999999999999%", "above 100%"),
        (2**31, "32-bit"),
        (0xFFFFFFFFFFFFFFFFFF, "32-bit"),
        ("2147483648", "32-bit"),
        ("4294967297", "32-bit"),  # upstream's int32 conversion would wrap it to 1
        ("9" * 5000, "32-bit"),  # not Python's int-conversion limit error
        (3.0, "whole number"),  # a float is not an IntOrString
    ],
)
def test_out_of_range_values_are_rejected_with_a_hint(bad: object, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_max_unavailable(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("100%", "100%"), ("007%", "7%"), (INT32_MAX, INT32_MAX), (str(INT32_MAX), INT32_MAX)],
)
def test_the_bounds_themselves_are_accepted(value: int | str, parsed: int | str) -> None:
    assert parse_max_unavailable(value) == parsed
