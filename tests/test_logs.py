"""Issue 17 item 8: logs an operator can read — typed JSON values, millisecond RFC 3339 UTC
timestamps, `--log-level`, logfmt quoting in the text format, the backoff delay, one line per
action applied (flood-limited), and the agent's structured request lines in the same formats."""

from __future__ import annotations

import json
import re
import selectors
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from test_agent import raw, running_world
from test_git_source import EXAMPLE, Remote

from gitops_edge.cli.logs import make_logger
from gitops_edge.cli.main import build_parser, main
from gitops_edge.model.desired import DesiredState
from gitops_edge.model.observed import Condition
from gitops_edge.model.plan import ApplyDaemonSet, DeletePod, SetPodCondition
from gitops_edge.reconciler.action_log import action_records
from gitops_edge.reconciler.apply import DONE, FAILED, SKIPPED, ActionResult
from gitops_edge.reconciler.loop import Loaded, LoopSettings, run_loop
from gitops_edge.reconciler.reconcile import PassResult
from gitops_edge.reports.logline import format_record
from gitops_edge.repository.config import RepoConfig

STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")  # line breaks apart


def one_json(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    (line,) = capsys.readouterr().err.splitlines()
    record: dict[str, Any] = json.loads(line)
    return record


# ── values, timestamps, levels ────────────────────────────────────────────────────────────────


def test_json_values_keep_their_types(capsys: pytest.CaptureFixture[str]) -> None:
    make_logger("json")(
        "info",
        "pass",
        done=54,
        delay=12.3,
        restored=True,
        error=None,
        fields=("image", "env"),
        revision="abc",
    )
    record = one_json(capsys)
    assert record["done"] == 54 and record["delay"] == 12.3
    assert record["restored"] is True and record["error"] is None
    assert record["fields"] == ["image", "env"] and record["revision"] == "abc"
    assert list(record)[:3] == ["time", "level", "msg"]
    assert (record["level"], record["msg"]) == ("info", "pass")


def test_json_masks_credentials_in_list_items_and_never_writes_nan(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "https://deploy:s3cret-token@git.example.com/fleet.git"
    make_logger("json")("error", "x", urls=[url], ratio=float("nan"))
    record = one_json(capsys)
    assert record["urls"] == ["https://***@git.example.com/fleet.git"]
    assert record["ratio"] == "nan"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_timestamps_are_rfc3339_utc_with_milliseconds(
    fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make_logger(fmt)("info", "hello")
    line = capsys.readouterr().err
    assert STAMP.search(line), line
    when = 1_796_010_012.345_6  # 2026-11-30T03:40:12.3456Z
    stamp = "2026-11-30T03:40:12.345Z"
    text = format_record(fmt=fmt, when=when, level="info", message="m", fields={})
    assert text == (
        f'{{"time": "{stamp}", "level": "info", "msg": "m"}}'
        if fmt == "json"
        else f"time={stamp} level=info msg=m"
    )


@pytest.mark.parametrize(
    ("level", "shown"),
    [
        ("debug", ["debug", "info", "warning", "error"]),
        ("info", ["info", "warning", "error"]),
        ("warning", ["warning", "error"]),
        ("error", ["error"]),
    ],
)
def test_log_level_filters_lower_levels(
    level: str, shown: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    log = make_logger("json", level=level)
    for record_level in ("debug", "info", "warning", "error"):
        log(record_level, f"a {record_level} record")
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [r["level"] for r in records] == shown


@pytest.mark.parametrize("command", [["reconcile", "repo"], ["agent", "--node", "n"]])
def test_log_level_and_format_options(command: list[str]) -> None:
    argv = [*command, "--cluster", "sim:f.json", "--log-level", "debug", "--log-format", "json"]
    args = build_parser(argv).parse_args(argv)
    assert (args.log_level, args.log_format) == ("debug", "json")
    args = build_parser(command).parse_args([*command, "--cluster", "sim:f.json"])
    assert (args.log_level, args.log_format) == ("info", "text")


# ── logfmt ────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("plain", "plain"),
        ("a/b:c-1.2", "a/b:c-1.2"),
        ("two words", '"two words"'),
        ("a=b", '"a=b"'),
        ('say "hi"', '"say \\"hi\\""'),
        ('x"y', '"x\\"y"'),
        ("back\\slash", "back\\slash"),  # a bare backslash needs no quotes (go-logfmt)
        ('back\\ "q"', '"back\\\\ \\"q\\""'),
        ("", '""'),
        ("null", '"null"'),
        ("line\nbreak", '"line\\nbreak"'),
        ("tab\there", '"tab\\there"'),
        ("cr\r", '"cr\\r"'),
        ("esc\x1b[31m", '"esc\\u001b[31m"'),
        ("bell\x07", '"bell\\u0007"'),
        ("del\x7f", '"del\\u007f"'),
        ("csi\x9b", '"csi\\u009b"'),
        ("rtl\u202eevil", '"rtl\\u202eevil"'),
        ("é…", "é…"),
        ("tag\U000e0041", '"tag\\udb40\\udc41"'),
    ],
)
def test_text_values_are_quoted_and_escaped_as_logfmt(value: str, shown: str) -> None:
    line = format_record(fmt="text", when=0, level="info", message="m", fields={"v": value})
    assert line == f"time=1970-01-01T00:00:00.000Z level=info msg=m v={shown}"


def test_text_typed_values_and_keys() -> None:
    fields = {"n": 3, "f": 0.25, "t": True, "z": None, "l": ["a", "b c"], "bad key=": "v"}
    line = format_record(fmt="text", when=0, level="warning", message="two words", fields=fields)
    assert line == (
        'time=1970-01-01T00:00:00.000Z level=warning msg="two words" n=3 f=0.25 t=true z=null '
        'l="[\\"a\\",\\"b c\\"]" bad_key_=v'
    )


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_no_control_character_reaches_the_terminal(
    fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make_logger(fmt)("info", "m\x1b[2J", path="/po\x1b]0;owned\x07ds\u0085", **{"k\x1b": "v"})
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and not CONTROL.search(err), repr(err)


# ── the loop: backoff delay, a line per action ────────────────────────────────────────────────


def test_the_backoff_line_says_how_long_the_loop_waits() -> None:
    records: list[tuple[str, str, dict[str, Any]]] = []
    waits: list[float] = []
    stop = threading.Event()

    def load() -> Loaded:
        waits.append(time.monotonic())
        raise OSError("disk on fire")

    run_loop(
        load=load,
        reconcile=lambda d: PassResult(plans=(), results=()),
        settings=LoopSettings(interval=2.0, max_passes=2),
        stop=stop,
        wake=threading.Event(),
        log=lambda level, msg, **f: records.append((level, msg, f)),
        transient=(OSError,),
    )
    (first, second) = [f for _, m, f in records if m == "pass failed; backing off"]
    assert first["attempt"] == 1 and isinstance(first["delay"], float)
    assert 0.1 <= first["delay"] <= 0.3  # a tenth of the interval, ±50%
    assert waits[1] - waits[0] >= first["delay"] - 0.05  # it waited that long
    assert second["attempt"] == 2 and 0.2 <= second["delay"] <= 0.6


def deletion(i: int, node: str = "") -> ActionResult:
    pod = DeletePod("ns", f"p{i}", "uid", node or f"n{i}", outside_budget=False, reason="outdated")
    return ActionResult(pod, DONE)


def test_each_action_done_is_one_applied_line_with_what_where_and_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    update = ApplyDaemonSet("edge", "agent", "{}", create=False, reason="image changed")
    gone = DeletePod("ns", "old", "uid", "n9", outside_budget=False, reason="outdated")
    failed = DeletePod("ns", "f", "uid", "n8", outside_budget=False, reason="outdated")
    results = (
        ActionResult(update, DONE),
        deletion(1, "edge-01"),
        ActionResult(gone, SKIPPED, "already gone: pods old not found"),
        ActionResult(failed, FAILED, "403 Forbidden"),
    )
    run_loop(
        load=lambda: Loaded("r7", DesiredState("r7", RepoConfig(), (), ())),
        reconcile=lambda d: PassResult(plans=(), results=results),
        settings=LoopSettings(interval=0.01, max_passes=1),
        stop=threading.Event(),
        wake=threading.Event(),
        log=make_logger("json"),
        transient=(OSError,),
    )
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    applied = [r for r in records if r["msg"] == "applied"]
    assert applied == [
        {
            "time": applied[0]["time"],
            "level": "info",
            "msg": "applied",
            "event": "action_applied",
            "kind": "action_apply",
            "action": "update DaemonSet edge/agent",
            "object": "DaemonSet edge/agent",
            "reason": "image changed",
            "revision": "r7",
        },
        {
            "time": applied[1]["time"],
            "level": "info",
            "msg": "applied",
            "event": "action_applied",
            "kind": "action_delete_pod",
            "action": "delete pod ns/p1 on node edge-01",
            "object": "Pod ns/p1",
            "node": "edge-01",
            "reason": "outdated",
            "revision": "r7",
        },
    ]
    assert not [r for r in records if r["msg"] == "skipped"]  # debug: not at info
    failed_lines = [r for r in records if r.get("object") == "Pod ns/f"]
    assert [r["msg"] for r in failed_lines] == ["action failed"]  # once, by failures.py
    summary = next(r for r in records if r["msg"] == "pass")
    assert (summary["done"], summary["failed"]) == (2, 1)


def test_skipped_actions_are_debug_lines() -> None:
    gone = DeletePod("ns", "old", "uid", "n9", outside_budget=False, reason="outdated")
    records = action_records((ActionResult(gone, SKIPPED, "already gone"),), revision="r")
    ((level, message, fields),) = [(r.level, r.message, dict(r.fields)) for r in records]
    assert (level, message) == ("debug", "skipped")
    assert fields["detail"] == "already gone" and fields["node"] == "n9"


def test_ten_thousand_applied_actions_log_twenty_per_kind_and_a_summary() -> None:
    needs = Condition("PodNeedUpgrade", "True")
    mark = SetPodCondition("ns", "q", "uid", "n", condition=needs, reason="mark")
    results = (*map(deletion, range(10_000)), ActionResult(mark, DONE))
    records = [(r.level, r.message, dict(r.fields)) for r in action_records(results, revision="r")]
    deletions = [f for _, _, f in records if f["kind"] == "action_delete_pod"]
    assert [f["event"] for f in deletions] == ["action_applied"] * 20 + ["applied_suppressed"]
    assert [f["object"] for f in deletions[:2]] == ["Pod ns/p0", "Pod ns/p1"]
    level, message, summary = next(r for r in records if r[2]["event"] == "applied_suppressed")
    assert (level, message) == (
        "info",
        "… and 9,980 more applied actions of kind action_delete_pod",
    )
    assert summary["count"] == 9980 and summary["revision"] == "r"
    marks = [f for _, _, f in records if f["kind"] == "action_set_condition"]
    assert len(marks) == 1 and marks[0]["action"].startswith("set PodNeedUpgrade=True on pod")


# ── the agent ─────────────────────────────────────────────────────────────────────────────────


def agent_lines(tmp_path: Path, fmt: str, requests: list[bytes]) -> list[str]:
    written: list[str] = []

    class Lines:
        def write(self, text: str) -> None:
            written.append(text)

        def flush(self) -> None:
            pass

    log = make_logger(fmt, stream=Lines())  # type: ignore[arg-type]
    with running_world(tmp_path, log=log) as world:
        for request in requests:
            raw(world.port, request)
    return "".join(written).splitlines()


def test_agent_request_lines_are_structured_json(tmp_path: Path) -> None:
    requests = [
        b"GET /pods?token=s3cr3t HTTP/1.1\r\nHost: x\r\n\r\n",
        b"G\x1b[31mET /pods HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    lines = agent_lines(tmp_path, "json", requests)
    records = [json.loads(line) for line in lines]
    first, second = (r for r in records if r["msg"] == "request")
    assert first["method"] == "GET" and first["path"] == "/pods?token=***"
    assert first["status"] == 200 and first["remote"] == "127.0.0.1"
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert STAMP.fullmatch(first["time"]) and first["level"] == "info"
    assert second["method"] == "G\x1b[31mET" and second["status"] == 400
    joined = "\n".join(lines)
    assert "s3cr3t" not in joined and not CONTROL.search(joined)


def test_agent_request_lines_are_logfmt_in_text(tmp_path: Path) -> None:
    requests = [
        b"GET /pods HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /po\x1b[1A\x1b[2Kds HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    lines = [line for line in agent_lines(tmp_path, "text", requests) if "msg=request" in line]
    pattern = (
        r"time=\S+ level=info msg=request method=GET path=/pods status=200 "
        r"duration_ms=[0-9.]+ remote=127\.0\.0\.1"
    )
    assert re.fullmatch(pattern, lines[0]), lines[0]
    assert 'path="/po\\u001b[1A\\u001b[2Kds" status=404' in lines[1], lines[1]
    assert not CONTROL.search("\n".join(lines))


def test_agent_command_writes_json_lines(tmp_path: Path) -> None:
    from gitops_edge.cluster.sim import SimCluster

    state = tmp_path / "fleet.json"
    SimCluster.init_file(state, SimCluster.create(groups=[("edge", 1)]))
    argv = ["agent", "--node", "edge-01", "--cluster", f"sim:{state}", "--listen", "127.0.0.1:0"]
    options = ["--cache-dir", str(tmp_path / "cache"), "--log-format", "json"]
    agent = subprocess.Popen(
        [sys.executable, "-m", "gitops_edge", *argv, *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert agent.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(agent.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=20), "the agent did not start"
        port = int(agent.stdout.readline().rsplit(":", 1)[1])
        assert raw(port, b"GET /pods HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 200 ")
    finally:
        agent.terminate()
        _, stderr = agent.communicate(timeout=20)
    records = [json.loads(line) for line in stderr.splitlines()]
    request = next(r for r in records if r["msg"] == "request")
    assert (request["method"], request["path"], request["status"]) == ("GET", "/pods", 200)
    assert [r["msg"] for r in records][-1] == "agent stopped"


@pytest.mark.parametrize(("level", "pushed_logged"), [("info", True), ("warning", False)])
def test_reconcile_once_logs_in_the_format_and_level_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], level: str, pushed_logged: bool
) -> None:
    """`--log-format`/`--log-level` hold for a single pass too (the CronJob's): the git
    source's records (status pushed, clone repairs, force-push warnings) among them."""
    remote = Remote(tmp_path)
    shutil.copytree(EXAMPLE, remote.work / "fleet")
    remote.commit("fleet")
    state = tmp_path / "fleet.json"
    assert main(["sim", "init", str(state), "--groups", "hangzhou=2"]) == 0
    capsys.readouterr()
    argv = ["--cluster", f"sim:{state}", "--path", "fleet", "--cache-dir", str(tmp_path / "c")]
    options = ["--log-format", "json", "--log-level", level]
    assert main(["reconcile", remote.url, "--once", *argv, *options]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every stderr line is a JSON record
    assert any(r["msg"] == "status pushed" for r in records) is pushed_logged
