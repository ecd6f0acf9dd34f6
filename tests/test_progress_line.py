"""A pass of `reconcile --once` on a terminal shows a live progress line on stderr (issue 18
item 6); not a byte of it when stderr is not a terminal. The terminal is a real
pseudo-terminal (pty); every wait is bounded.

Side effects: a copy of example-repo and a simulated cluster's file under tmp_path; runs
`python -m gitops_edge` in subprocesses.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitops_edge.cli.main import main

EXAMPLE = Path(__file__).resolve().parent.parent / "example-repo"


@pytest.fixture
def command(tmp_path: Path) -> list[str]:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo)
    sim = tmp_path / "fleet.json"
    groups = ["--groups", "hangzhou=3,shanghai=2", "--group-label", "apps.openyurt.io/nodepool"]
    assert main(["sim", "init", str(sim), *groups]) == 0
    return [sys.executable, "-m", "gitops_edge", "reconcile", str(repo), "--cluster", f"sim:{sim}"]


def _run_on_a_pty(command: list[str]) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal: (exit code, stdout, what the terminal got)."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, env=env
    ) as proc:
        os.close(slave)
        seen = bytearray()
        deadline = time.monotonic() + 120
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 1)
                if not ready:
                    if proc.poll() is not None:
                        break
                    continue
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            out = proc.stdout.read() if proc.stdout else b""
            code = proc.wait(timeout=60)
        finally:
            os.close(master)
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    return code, out.decode(), seen.decode(errors="replace")


def test_a_pass_on_a_terminal_shows_a_live_progress_line(command: list[str]) -> None:
    code, out, terminal = _run_on_a_pty([*command, "--once"])
    assert code == 0, terminal
    assert "round 1: applying" in terminal  # what it is doing, redrawn in place
    assert "\x1b[" in terminal  # cursor movement / erasing: a live line, not log lines
    assert "pass over revision worktree:" in out  # the results, on stdout as always
    assert "round 1: applying" not in out


def test_no_progress_at_all_when_not_a_terminal(command: list[str]) -> None:
    done = subprocess.run(
        [*command, "--once"], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "round 1" not in done.stderr and "\x1b" not in done.stderr + done.stdout
    assert "pass over revision worktree:" in done.stdout
