"""The README's examples are true: its marked command blocks are run against the simulated
cluster and the output they show is compared with what the commands print.

Convention (in README.md): a line `<!-- readme-test: SESSION -->` right before a fenced block
marks it. The marked blocks of one SESSION run in README order, in one temporary folder that
stands for the project root (it holds a copy of `example-repo`); `/tmp/` in a command is that
session's own stand-in folder, so nothing is written to the real `/tmp`.

- A ```sh block is setup: run as one `bash -e` script; it must succeed (its output is not
  compared).
- `<!-- readme-test: golden PATH -->` instead compares the block (`…` allowed) with the golden
  file PATH, which the tests that own it compare with real output.
- Any other marked block is a session transcript: a line `$ COMMAND` (continued by a trailing
  `\\`) is run with `bash -c`, and the lines up to the next `$ ` are its expected output
  (stdout and stderr together, as a terminal shows them). A line holding only `…` stands for
  any number of output lines (zero included), so a block may show an excerpt.

Normalisation, applied to the expected and the real output alike (what legitimately varies
when unrelated code or example-repo changes, never what a reader relies on):
- the session's stand-in for `/tmp/` is shown as `/tmp/`;
- pod name suffixes: `pod NS/NAME-x9tml` → `pod NS/NAME-<suffix>` (the simulated cluster
  derives them from a counter, so every object added to example-repo shifts them);
- 10-hex-digit hashes (controller revisions, spec hashes) → `<hash>` (they change with any
  change of a rendered manifest);
- trailing whitespace on each line.
The simulated clock is deterministic, so times are compared as they are.

Side effects: runs `gitops-edge` and shell commands in temporary folders (bounded by a timeout).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MARKER = re.compile(r"^<!-- readme-test: ((?:golden )?[A-Za-z0-9_./-]+) -->$")
GOLDEN = "golden "
FENCE = re.compile(r"^```(\S*)$")
ELLIPSIS = "…"
TIMEOUT = 120  # seconds per command or setup block: a hung command fails, never hangs
POD_SUFFIX = re.compile(r"(\bpod [a-z0-9.-]+/[a-z0-9.-]+)-[bcdfghjklmnpqrstvwxz2456789]{5}\b")
HASH = re.compile(r"\b[0-9a-f]{10}\b")


@dataclass(frozen=True)
class Block:
    """One marked fenced block of the README."""

    session: str
    lang: str
    line: int  # 1-based line of the opening fence
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Step:
    """One `$ COMMAND` of a transcript block and the output lines shown after it."""

    command: str
    expected: tuple[str, ...]


def marked_blocks(text: str) -> tuple[Block, ...]:
    lines = text.splitlines()
    blocks: list[Block] = []
    for index, line in enumerate(lines):
        marker = MARKER.match(line)
        if marker is None:
            continue
        fence = FENCE.match(lines[index + 1]) if index + 1 < len(lines) else None
        assert fence is not None, f"README.md:{index + 1}: a readme-test marker must precede ```"
        end = lines.index("```", index + 2)
        blocks.append(
            Block(
                session=marker.group(1),
                lang=fence.group(1),
                line=index + 2,
                lines=tuple(lines[index + 2 : end]),
            )
        )
    return tuple(blocks)


def transcript(block: Block) -> tuple[Step, ...]:
    steps: list[Step] = []
    command: list[str] = []
    expected: list[str] = []
    continued = False
    for line in block.lines:
        if continued or line.startswith("$ "):
            if not continued and command:
                steps.append(Step(" ".join(command), tuple(expected)))
                command, expected = [], []
            part = line[2:] if not continued else line.strip()
            continued = part.endswith("\\")
            command.append(part.removesuffix("\\").strip())
        else:
            assert command, f"README.md:{block.line}: a transcript block starts with `$ `"
            expected.append(line)
    if command:
        steps.append(Step(" ".join(command), tuple(expected)))
    return tuple(steps)


def normalise(lines: tuple[str, ...], *, tmp: str) -> tuple[str, ...]:
    out = []
    for line in lines:
        line = line.replace(f"{tmp}/", "/tmp/")
        line = POD_SUFFIX.sub(r"\1-<suffix>", line)
        line = HASH.sub("<hash>", line)
        out.append(line.rstrip())
    return tuple(out)


def matches(expected: tuple[str, ...], actual: tuple[str, ...]) -> bool:
    """Whether `actual` is `expected`, each `…` line standing for any number of lines."""
    pattern = "".join(
        r"(?:[^\n]*\n)*?" if line == ELLIPSIS else re.escape(line) + r"\n" for line in expected
    )
    return re.fullmatch(pattern, "".join(f"{line}\n" for line in actual)) is not None


def sessions() -> dict[str, tuple[Block, ...]]:
    grouped: dict[str, list[Block]] = {}
    for block in marked_blocks(README.read_text(encoding="utf-8")):
        if block.session.startswith(GOLDEN):
            continue
        grouped.setdefault(block.session, []).append(block)
    return {name: tuple(blocks) for name, blocks in grouped.items()}


def run(script: str, *, cwd: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",  # stdout and stderr interleave as on a terminal
        "XDG_CACHE_HOME": str(tmp.parent / "cache"),
    }
    return subprocess.run(
        ["bash", "-e", "-c", script.replace("/tmp/", f"{tmp}/")],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.mark.parametrize("session", sorted(sessions()))
def test_readme_session_prints_what_the_readme_shows(session: str, tmp_path: Path) -> None:
    cwd, tmp = tmp_path / "root", tmp_path / "tmp"
    shutil.copytree(ROOT / "example-repo", cwd / "example-repo")
    tmp.mkdir()
    for block in sessions()[session]:
        if block.lang == "sh":
            done = run("\n".join(block.lines), cwd=cwd, tmp=tmp)
            assert done.returncode == 0, (
                f"README.md:{block.line}: setup block failed ({done.returncode}):\n{done.stdout}"
            )
            continue
        for step in transcript(block):
            done = run(step.command, cwd=cwd, tmp=tmp)
            actual = normalise(tuple(done.stdout.splitlines()), tmp=str(tmp))
            expected = normalise(step.expected, tmp=str(tmp))
            assert matches(expected, actual), (
                f"README.md:{block.line}: `$ {step.command}` printed (normalised):\n"
                + "\n".join(actual)
                + "\n\nbut the README shows:\n"
                + "\n".join(expected)
                + "\n\nhint: run the session's commands and copy what they really print into"
                " that block (an excerpt may use `…` lines); never edit it by hand"
            )


def test_readme_marks_the_examples_of_every_main_command() -> None:
    commands = [
        step.command
        for blocks in sessions().values()
        for block in blocks
        if block.lang != "sh"
        for step in transcript(block)
    ]
    for verb in ("validate", "plan", "reconcile", "status"):
        assert any(c.startswith(f"gitops-edge {verb} ") for c in commands), verb
    setups = [
        line for block in sessions().get("fleet", ()) if block.lang == "sh" for line in block.lines
    ]
    assert any(line.startswith("gitops-edge sim init") for line in setups)


def test_transcript_matching_sees_a_changed_line_and_honours_ellipses() -> None:
    block = Block(
        session="s",
        lang="console",
        line=1,
        lines=("$ a \\", "  b", "one", "…", "four", "$ c"),
    )
    (first, second) = transcript(block)
    assert first == Step("a b", ("one", ELLIPSIS, "four"))
    assert second == Step("c", ())
    assert matches(first.expected, ("one", "two", "three", "four"))
    assert matches(first.expected, ("one", "four"))
    assert not matches(first.expected, ("one", "two", "for"))
    assert not matches(second.expected, ("something",))
    assert normalise(
        ("delete pod ns/log-agent-x9tml: outdated (178b142958 → 98053f0b9f)  ",), tmp="/t"
    ) == ("delete pod ns/log-agent-<suffix>: outdated (<hash> → <hash>)",)


def test_readme_shows_golden_files_as_they_are() -> None:
    goldens = [
        block
        for block in marked_blocks(README.read_text(encoding="utf-8"))
        if block.session.startswith(GOLDEN)
    ]
    assert goldens, "the diff example is marked with its golden file"
    for block in goldens:
        path = ROOT / block.session.removeprefix(GOLDEN)
        actual = tuple(path.read_text(encoding="utf-8").splitlines())
        assert matches(block.lines, actual), (
            f"README.md:{block.line}: the block differs from {path.relative_to(ROOT)}:\n"
            + "\n".join(actual)
        )
