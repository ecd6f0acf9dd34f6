"""Issue 16 item 1: no input file can crash or stall a validation pass.

Each hostile file becomes a diagnostic at its file and line, and the other files of the folder
are still checked. Cases that could kill or hang the test process (a segfaulting parser, a FIFO)
run `gitops-edge validate` in a subprocess with a timeout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from repo_config import write_config
from test_git_source import Remote, run
from test_loop import DAEMONSET, _revision_of, wait_for, web_pods
from test_rollout_properties import desired_state

from gitops_edge.cluster.sim import SimCluster
from gitops_edge.planner import plan
from gitops_edge.repository import diagnostics
from gitops_edge.repository.diagnostics import Diagnostic, render_json, render_text
from gitops_edge.repository.loader import MAX_FILE_BYTES
from gitops_edge.repository.validation import validate_repository
from gitops_edge.source.status import summary_markdown

MAX_DEPTH = 100  # documented in README.md: the deepest nesting a file may have

OTHER_BAD = """apiVersion: gitops-edge.io/v1alpha1
kind: NodeGroup
metadata:
  name: other
spec:
  selector: {matchLabels: {a: b}}
  nodez: [x]
"""


def folder(tmp_path: Path) -> Path:
    """A folder with a valid config and one known-bad file, to show it is still checked."""
    root = tmp_path / "repo"
    write_config(root)
    (root / "other.yaml").write_text(OTHER_BAD)
    return root


def other_still_checked(diagnostics: tuple[Diagnostic, ...] | list[Diagnostic]) -> bool:
    return any(d.file == "other.yaml" and "nodez" in d.message for d in diagnostics)


def validate_cli(root: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`gitops-edge validate` in a child process: a crash or a hang fails the test, not pytest."""
    return subprocess.run(
        [sys.executable, "-m", "gitops_edge", "validate", str(root), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )


def only(diagnostics: tuple[Diagnostic, ...], file: str) -> list[Diagnostic]:
    return [d for d in diagnostics if d.file == file]


# ── nesting ──────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 600 + "]" * 600 + "\n",
        "a: " + "{k: " * 600 + "v" + "}" * 600 + "\n",
        "".join(" " * i + "k:\n" for i in range(600)) + " " * 600 + "v\n",
        "- " * 600 + "x\n",
    ],
    ids=["flow-seq", "flow-map", "block-map", "block-seq"],
)
def test_600_levels_of_nesting_is_a_depth_diagnostic(tmp_path: Path, text: str) -> None:
    root = folder(tmp_path)
    (root / "deep.yaml").write_text(text)
    depth = MAX_DEPTH - 1  # under the mapping `a:` of the document: just at the limit
    (root / "limit.yaml").write_text("a: " + "[" * depth + "]" * depth + "\n")
    result = validate_repository(root)
    assert not [d for d in only(result.diagnostics, "limit.yaml") if d.rule == "yaml"]
    [problem] = only(result.diagnostics, "deep.yaml")
    assert f"deeper than {MAX_DEPTH} levels" in problem.message
    assert problem.hint
    assert (problem.line, problem.col) != (1, 1) or text.startswith("- ")
    assert other_still_checked(result.diagnostics)


def test_depth_through_aliases_is_counted(tmp_path: Path) -> None:
    root = folder(tmp_path)
    lines = ["a0: &a0 [x]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, 300)]
    (root / "alias.yaml").write_text("\n".join(lines) + "\n")
    result = validate_repository(root)
    [problem] = only(result.diagnostics, "alias.yaml")
    assert f"deeper than {MAX_DEPTH} levels" in problem.message


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 50_000 + "]" * 50_000 + "\n",
        "a: " + "{k: " * 50_000 + "v" + "}" * 50_000 + "\n",
        "- " * 50_000 + "x\n",
        # the C parser refuses the first line, so the pure one (under its budget) gets the rest
        "a: [nginx:1.25]\nb: " + "[" * 20_000 + "]" * 20_000 + "\n",
        # brackets hidden in strings must not hide the nesting from the guard
        'a: ["]]]]", ' * 2 + "[" * 50_000 + "]" * 50_000 + "]]\n",
    ],
    ids=["flow-seq", "flow-map", "block-seq", "after-c-refusal", "quoted-closers"],
)
def test_50000_levels_of_nesting_never_crash_the_process(tmp_path: Path, text: str) -> None:
    root = folder(tmp_path)
    (root / "deep.yaml").write_text(text)
    done = validate_cli(root, "--format", "json")
    assert done.returncode == 1, f"exit {done.returncode}: {done.stderr[-2000:]}"
    found = json.loads(done.stdout)
    deep = [d for d in found if d["file"] == "deep.yaml"]
    assert len(deep) == 1 and f"deeper than {MAX_DEPTH} levels" in deep[0]["message"], deep
    assert any(d["file"] == "other.yaml" for d in found)


# ── links, special files, hidden folders ─────────────────────────────────────────────────────


def test_symbolic_link_loops_are_reported_not_raised(tmp_path: Path) -> None:
    root = folder(tmp_path)
    (root / "self.yaml").symlink_to("self.yaml")
    (root / "a.yaml").symlink_to("b.yaml")
    (root / "b.yaml").symlink_to("a.yaml")
    (root / "sub").mkdir()
    (root / "sub" / "up").symlink_to("..")  # a folder link forming a cycle: not followed
    (root / "loopdir").symlink_to("loopdir")
    result = validate_repository(root)
    for name in ("self.yaml", "a.yaml", "b.yaml"):
        [problem] = only(result.diagnostics, name)
        assert "symbolic link loop" in problem.message and problem.rule == "symlink"
    assert other_still_checked(result.diagnostics)
    assert result.files == 2  # gitops-edge.yaml and other.yaml, each once


def test_a_fifo_is_not_read_and_does_not_hang(tmp_path: Path) -> None:
    root = folder(tmp_path)
    os.mkfifo(root / "pipe.yaml")
    (root / "sub").mkdir()
    (root / "sub" / "link.yaml").symlink_to("../pipe.yaml")
    done = validate_cli(root, "--format", "json", timeout=30)
    assert done.returncode == 1, done.stderr
    found = json.loads(done.stdout)
    for name in ("pipe.yaml", "sub/link.yaml"):
        [problem] = [d for d in found if d["file"] == name]
        assert "not a regular file" in problem["message"], problem
    assert any(d["file"] == "other.yaml" for d in found)


def test_a_fifo_as_the_config_file_does_not_hang(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    os.mkfifo(root / "gitops-edge.yaml")
    done = validate_cli(root, "--format", "json", timeout=30)
    assert done.returncode == 1, done.stderr
    [problem] = [d for d in json.loads(done.stdout) if d["file"] == "gitops-edge.yaml"]
    assert "not a regular file" in problem["message"], problem


SECRET = "https://user:s3cr3t-t0ken@example.com/fleet.git"


@pytest.mark.parametrize("link", ["leak.yaml", "gitops-edge.yaml", "sub/leak.yaml"])
def test_nothing_under_git_is_read_through_a_link(tmp_path: Path, link: str) -> None:
    root = folder(tmp_path)
    git = root / ".git"
    git.mkdir()
    (git / "config").write_text(f'[remote "origin"]\n\turl = {SECRET}\n')
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.yaml").write_text(f"url: {SECRET}\n")
    target = root / link
    target.parent.mkdir(exist_ok=True)
    if target.exists():
        target.unlink()
    target.symlink_to(os.path.relpath(git / "config", target.parent))
    (root / "hidden.yaml").symlink_to(".hidden/x.yaml")
    (root / "gitdir").symlink_to(".git")
    result = validate_repository(root)
    text = render_text(list(result.diagnostics)) + render_json(list(result.diagnostics))
    assert "s3cr3t" not in text
    assert "origin" not in text  # the INI section would show in a YAML parse error
    for name in (link, "hidden.yaml"):
        [problem] = only(result.diagnostics, name)
        assert "hidden folder" in problem.message and problem.rule == "symlink", problem
    assert not only(result.diagnostics, "gitdir")  # a folder link is never followed anyway
    if link != "gitops-edge.yaml":
        assert other_still_checked(result.diagnostics)


# ── budget for the pure parser ───────────────────────────────────────────────────────────────


def test_a_1_mib_file_the_c_parser_refuses_is_not_parsed_for_minutes(tmp_path: Path) -> None:
    root = folder(tmp_path)
    line = "- {image: [nginx:1.25, a:b], k: v}\n"  # libyaml refuses `[nginx:1.25]`
    text = line * ((MAX_FILE_BYTES - 100) // len(line))
    (root / "big.yaml").write_text(text)
    (root / "small.yaml").write_text(line)  # under the budget: the pure parser reads it
    started = time.process_time()
    result = validate_repository(root)
    spent = time.process_time() - started
    assert spent < 10, f"{spent:.1f} s of CPU"  # was 18-97 s in the pure parser
    [problem] = only(result.diagnostics, "big.yaml")
    assert (problem.line, problem.col) == (1, 17), problem  # the ':' of nginx:1.25
    assert "budget" in problem.message and "split" in problem.hint
    assert not [d for d in only(result.diagnostics, "small.yaml") if d.rule == "yaml"]
    assert other_still_checked(result.diagnostics)


# ── NUL byte and other reader errors ─────────────────────────────────────────────────────────


def test_a_nul_byte_is_reported_at_its_line_and_column_on_one_line(tmp_path: Path) -> None:
    root = folder(tmp_path)
    (root / "nul.yaml").write_text("a: 1\nbb: x\x00y\n")
    result = validate_repository(root)
    [problem] = only(result.diagnostics, "nul.yaml")
    assert (problem.line, problem.col) == (2, 6), problem
    assert "\n" not in problem.message and "#x0000" in problem.message
    assert other_still_checked(result.diagnostics)


# ── file names that are not UTF-8 or not printable ───────────────────────────────────────────


def test_display_name_escapes_undecodable_and_control_characters() -> None:
    display_name = diagnostics.display_name
    assert display_name("ok/name.yaml") == "ok/name.yaml"
    assert display_name(os.fsdecode(b"\xff.yaml")) == "\\xff.yaml"
    assert display_name("a\nb\r\x1b[31m.yaml") == "a\\nb\\r\\x1b[31m.yaml"
    assert display_name("\u2028\x85é.yaml") == "\\u2028\\x85é.yaml"
    once = display_name(os.fsdecode(b"\xfe\n.yaml"))
    assert display_name(once) == once  # idempotent: safe to apply at every output


def _hostile_names(root: Path) -> None:
    for raw in (b"\xff.yaml", b"new\nline.yaml", b"esc\x1b[2J.yaml"):
        with open(os.path.join(os.fsencode(root), raw), "w") as handle:
            handle.write("kind: Nope\n")


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_hostile_file_names_never_crash_or_break_validate_output(tmp_path: Path, fmt: str) -> None:
    root = folder(tmp_path)
    _hostile_names(root)
    done = subprocess.run(
        [sys.executable, "-m", "gitops_edge", "validate", str(root), "--format", fmt],
        capture_output=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "PYTHONIOENCODING"},
    )
    assert done.returncode == 1, done.stderr.decode(errors="replace")
    out = done.stdout.decode("utf-8")  # valid UTF-8, whatever the names on disk
    assert "\x1b" not in out
    if fmt == "json":
        files = {d["file"] for d in json.loads(out)}
        assert {"\\xff.yaml", "new\\nline.yaml", "esc\\x1b[2J.yaml", "other.yaml"} <= files
    else:
        assert "\\xff.yaml" in out and "new\\nline.yaml" in out and "esc\\x1b[2J.yaml" in out
        for line in out.splitlines():  # one problem per line: no name breaks a line
            assert line.startswith(("::error", "::warning")) if fmt == "github" else ":" in line


def test_status_summary_with_hostile_file_names_is_valid_utf8(tmp_path: Path) -> None:
    root = folder(tmp_path)
    _hostile_names(root)
    result = validate_repository(root)
    desired = desired_state(
        tmp_path / "good", groups=["g0"], budget="30%", min_ready=0, version="1.0.0"
    )
    cluster = SimCluster.create(namespaces=("edge",), groups=[("g0", 2)])
    text = summary_markdown(
        desired, plan(desired, cluster.observe()), invalid=("abc", result.diagnostics)
    )
    text.encode("utf-8")  # raised UnicodeEncodeError: every status write failed
    assert "\\xff.yaml" in text and "new\\nline.yaml" in text


# ── the loop: hostile files pushed to a git source ───────────────────────────────────────────


def _records(log: Path) -> list[dict[str, Any]]:
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _remote_file(remote: Remote, path: str) -> str:
    run("fetch", "-q", "origin", cwd=remote.work)
    try:
        return run("show", f"origin/gitops-edge/status:{path}", cwd=remote.work)
    except subprocess.CalledProcessError:
        return ""


def test_hostile_files_pushed_to_git_never_stop_the_loop(tmp_path: Path) -> None:
    remote = Remote(tmp_path)
    write_config(remote.work)
    (remote.work / "web.yaml").write_text(DAEMONSET.replace("TAG", "1.19.4"))
    good = remote.commit("web 1.19.4")
    sim = tmp_path / "fleet.json"
    SimCluster.init_file(sim, SimCluster.create(groups=[("edge", 4)]))
    log = tmp_path / "loop.log"
    with log.open("w") as err:
        loop = subprocess.Popen(
            [
                *(sys.executable, "-m", "gitops_edge", "reconcile", remote.url),
                *("--cluster", f"sim:{sim}", "--interval", "0.3", "--log-format", "json"),
                *("--cache-dir", str(tmp_path / "cache")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        assert wait_for(lambda: len(web_pods(sim)[0]) == 4 and _revision_of(sim) == good)
        # Everything git can store: deep nesting, a link loop, a link into .git (which holds
        # the remote URL in the reconciler's clone), a name that is not UTF-8, a NUL byte.
        (remote.work / "web.yaml").write_text(DAEMONSET.replace("TAG", "1.20.0"))
        (remote.work / "deep.yaml").write_text("a: " + "[" * 50_000 + "]" * 50_000 + "\n")
        (remote.work / "loop.yaml").symlink_to("loop.yaml")
        (remote.work / "leak.yaml").symlink_to(".git/config")
        with open(os.path.join(os.fsencode(remote.work), b"\xff\n.yaml"), "w") as handle:
            handle.write("kind: Nope\n")
        (remote.work / "nul.yaml").write_text("a: 1\nb: \x00\n")
        bad = remote.commit("hostile files")

        def invalid_reported() -> bool:
            return any(
                r["msg"] == "revision is invalid; keeping the last good one"
                and r.get("revision") == bad
                for r in _records(log)
            )

        assert wait_for(invalid_reported), _records(log)[-5:]
        # The status commit of the invalid revision is pushed, names escaped.
        assert wait_for(lambda: bad[:12] in _remote_file(remote, "status/README.md"))
        summary = _remote_file(remote, "status/README.md")
        for expected in ("\\xff\\n.yaml", "deeper than 100 levels", "symbolic link loop"):
            assert expected in summary, summary
        assert "hidden folder" in summary and "nul.yaml:2:4" in summary, summary
        # The last good revision keeps being reconciled, pass after pass.
        seen = len(_records(log))
        assert wait_for(
            lambda: (
                sum(
                    1
                    for r in _records(log)[seen:]
                    if r["msg"] == "pass" and r.get("revision") == good
                )
                >= 3
            )
        )
        assert loop.poll() is None, "the loop died"
        pods, _, _ = web_pods(sim)
        assert len(pods) == 4 and _revision_of(sim) == good
    finally:
        loop.send_signal(signal.SIGTERM)
        try:
            loop.wait(timeout=30)
        except subprocess.TimeoutExpired:
            loop.kill()
            loop.wait(timeout=10)
    assert loop.returncode == 0, _records(log)[-5:]
    assert "s3cr3t" not in log.read_text(errors="replace")
