"""The committed JSON Schemas (what `validate` checks against) are exactly what
`schemas/_generate.py` writes: an edit to one without the other is caught here, not by a user
whose valid file is refused (the cron descriptors and the empty job selector drifted once)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_committed_schemas_match_their_generator() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "schemas" / "_generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
