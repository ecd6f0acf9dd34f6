"""Defensive access into plain YAML data: `dig(data, "spec", "template")` without type errors.

Pure functions. No side effects.
"""

from __future__ import annotations

from typing import Any


def dig(data: Any, *keys: str | int) -> Any:
    """The value at keys, or None when any step is missing or of the wrong type."""
    for key in keys:
        if isinstance(key, int):
            if not isinstance(data, list) or not 0 <= key < len(data):
                return None
        elif not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def dict_at(data: Any, *keys: str | int) -> dict[str, Any]:
    value = dig(data, *keys)
    return value if isinstance(value, dict) else {}


def list_at(data: Any, *keys: str | int) -> list[Any]:
    value = dig(data, *keys)
    return value if isinstance(value, list) else []
