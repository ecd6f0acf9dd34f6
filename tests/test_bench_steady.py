"""The steady-scale benchmark (bench/steady_scale.py) runs: at a tiny fleet, end to end against
the stand-in API server, with a short soak. It prints figures; nothing here judges their size
(no wall-clock assertions), only that every figure is printed and the fleet was in sync."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "steady_scale.py"


def test_the_steady_scale_benchmark_runs_at_a_tiny_size() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--nodes", "200", "--repeat", "1", "--soak", "2"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "fleet: 200 nodes, 2000 pods, 20 DaemonSets" in out
    for figure in (
        "initial sync:",
        "steady pass, nothing to do:",
        "pass, a node Ready:",
        "of which: load",
        "client RSS",
        "soak: 2 passes",
        "ratio end/warm",
        "RSS (GiB) after each tenth of the soak:",
    ):
        assert figure in out, out
