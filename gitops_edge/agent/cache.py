"""The agent's local cache of its node's pods, on disk, so `GET /pods` keeps answering while
the cloud is unreachable and across restarts. A cache that cannot be read, or is not a list of
pod objects (truncated, binary, wrong types, nested too deep), counts as no cache.

Side effects: reads and atomically replaces one JSON file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


class PodCache:
    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self, pods: list[dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".pods.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump({"items": pods}, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(self) -> list[dict[str, Any]] | None:
        """The cached pods, or None when there is no usable cache."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return None
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list) or not all(_is_pod(item) for item in items):
            return None
        return items


def _is_pod(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("metadata"), dict)
