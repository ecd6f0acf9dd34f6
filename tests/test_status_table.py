"""`gitops-edge status` tables (issue 18 item 6): a NAMESPACE column, columns sized to their
content (a long name never pushes the others out of line), plain output when not a terminal
(no ANSI escape, no wrapping at 80 columns), and the JSON output unchanged.

Side effects: writes status files into a copy of example-repo under tmp_path.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gitops_edge.cli.main import main

EXAMPLE = Path(__file__).resolve().parent.parent / "example-repo"
LONG = "a-workload-with-a-name-well-over-twenty-two-characters"


def _group(namespace: str, name: str, group: str | None, *, current: int) -> dict[str, Any]:
    return {
        "group": group,
        "daemonSet": f"{namespace}/{name}",
        "model": "AdvancedRollingUpdate",
        "images": ["nginx:1.25"],
        "controllerRevision": "abc",
        "nodes": {
            "total": 24,
            "current": current,
            "outdated": 24 - current,
            "unavailable": 0,
            "deferredNotReady": 1,
            "notReady": 1,
        },
        "otaPending": 0,
        "deferred": ["shanghai-07"],
        "deferredNotListed": 0,
        "errors": [],
        "wave": "",
        "held": "",
        "halted": "",
        "rolledBack": "",
        "drift": [],
    }


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLE, root)
    status = root / "status"
    status.mkdir()
    files = {
        "nginx-daemonset.json": [
            _group("default", "nginx-daemonset", None, current=24),
            _group("edge-system", "nginx-daemonset", None, current=3),
        ],
        f"{LONG}.json": [_group("edge-system", f"{LONG}-hangzhou", "hangzhou", current=12)],
    }
    for name, groups in files.items():
        workload = name.removesuffix(".json")
        body = {"workload": workload, "specRevision": "r1", "groups": groups}
        (status / name).write_text(json.dumps(body), encoding="utf-8")
    return root


def _status(repo: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    assert main(["status", str(repo), *extra]) == 0
    return capsys.readouterr().out


def test_status_has_a_namespace_column_that_tells_two_same_named_daemonsets_apart(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _status(repo, capsys).splitlines()
    assert lines[0].split()[:3] == ["NAMESPACE", "WORKLOAD", "GROUP"]
    nginx = [line for line in lines if " nginx-daemonset " in line]
    assert len(nginx) == 2 and nginx[0] != nginx[1]
    assert [line.split()[0] for line in nginx] == ["default", "edge-system"]


def test_status_columns_fit_a_long_name_and_stay_in_line(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _status(repo, capsys).splitlines()
    rows = lines[: lines.index("")] if "" in lines else lines
    header = rows[0]
    for column in ("GROUP", "MODEL", "PROGRESS", "ROLLOUT"):
        start = header.index(column)
        for row in rows[1:]:  # every cell of the column starts where its header does
            if column == "ROLLOUT" and len(row) <= start:
                continue  # an empty last cell
            assert row[start] != " " and row[start - 1] == " ", (column, row)
    assert any(LONG in row for row in rows)
    # sized to the content: no column is padded out to a fixed width of the old table
    assert header.index("WORKLOAD") == len("edge-system") + 2
    assert header.index("GROUP") == header.index("WORKLOAD") + len(LONG) + 2


def test_status_output_is_plain_and_unwrapped_when_not_a_terminal(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _status(repo, capsys)
    assert "\x1b" not in text  # no ANSI escape
    table = text.split("\n\n")[0].splitlines()
    assert len(table) == 4  # header + 3 rows: a 140-column row is not wrapped at 80
    assert max(len(line) for line in table) > 80
    assert all(line == line.rstrip() for line in text.splitlines())


def test_status_json_rows_are_unchanged(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = json.loads(_status(repo, capsys, "--format", "json"))
    assert [(r["workload"], r["daemonSet"]) for r in rows] == [
        (LONG, f"edge-system/{LONG}-hangzhou"),
        ("nginx-daemonset", "default/nginx-daemonset"),
        ("nginx-daemonset", "edge-system/nginx-daemonset"),
    ]
    assert "namespace" not in rows[0]


def test_status_on_a_terminal_is_styled_and_fits_the_width() -> None:
    from gitops_edge.reports.status_table import render_status

    row = _group("edge-system", "agent-hangzhou", "hangzhou", current=2)
    row["halted"] = "3 new pods not available"
    styled = render_status([{"workload": "agent", **row}], terminal=True, width=200)
    assert "\x1b[" in styled and "HALTED" in styled
    plain = render_status([{"workload": "agent", **row}], terminal=False)
    assert "\x1b" not in plain and "HALTED" in plain


def test_status_watch_names_the_revision_and_time_refreshes_and_exits_0_on_ctrl_c(
    repo: Path,
) -> None:
    """A real process, a real SIGINT: the way Ctrl-C reaches it. Bounded waits throughout."""
    command = [sys.executable, "-m", "gitops_edge", "status", str(repo), "--watch", "--every"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    lines: queue.Queue[str] = queue.Queue()
    headers: list[str] = []
    with subprocess.Popen(
        [*command, "0.1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as proc:
        out = proc.stdout
        assert out is not None
        reader = threading.Thread(target=lambda: [lines.put(x) for x in out], daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 90
            while len(headers) < 2 and time.monotonic() < deadline and proc.poll() is None:
                try:
                    line = lines.get(timeout=1)
                except queue.Empty:
                    continue
                if line.startswith("revision "):
                    headers.append(line)
            assert len(headers) == 2, (headers, list(lines.queue))  # refreshed: a second report
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
        reader.join(timeout=30)
    rest = "".join(lines.queue)
    assert code == 0, rest
    assert "Traceback" not in rest and "interrupted" not in rest
    assert re.fullmatch(
        r"revision r1, updated \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(every 0.1 s; Ctrl-C to stop\)\n",
        headers[0],
    )
