"""Reading a `reconcile` loop subprocess's JSON log records (`--log-format json`) up to its
first finished pass: what the tests of its HTTP endpoints wait for before they ask."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any


def records_until_first_pass(loop: subprocess.Popen[str], *, seconds: float = 60) -> list[Any]:
    """The records the loop logged until its first `pass` record (or `seconds` passed)."""
    assert loop.stderr is not None
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not any(r["msg"] == "pass" for r in records):
        line = loop.stderr.readline()
        records += [json.loads(line)] if line.startswith("{") else []
    return records
