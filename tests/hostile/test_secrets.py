"""Issue 16 item 6: no secret is ever printed. Every command is run with a credential URL in
each form (against unreachable or invalid sources) and all it writes — stdout, stderr, log
lines, the status files it commits, metric labels — is searched for the secret; the masking
function is checked form by form, and never mangles ordinary text beside a credential."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_git_source import EXAMPLE, Remote, run
from test_status_writeback import World

from gitops_edge.cli.main import main
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.source.gitsource import redact

SECRET = "s3cr3tTOKEN42"
FRAGMENTS = ("s3cr3t", "TOKEN42")  # a form may split the secret (a raw `@` or `/` in it)
HOST = "127.0.0.1:1"  # loopback, refused at once: no network is used
FORMS = {
    "upper-case scheme": f"HTTP://deploy:{SECRET}@{HOST}/fleet.git",
    "leading space": f" https://deploy:{SECRET}@{HOST}/fleet.git",
    "git+http": f"git+http://deploy:{SECRET}@{HOST}/fleet.git",
    "scp-like with a password": f"deploy:{SECRET}@127.0.0.1:fleet.git",
    "query token": f"https://{HOST}/fleet.git?token={SECRET}",
    "query access_token": f"https://{HOST}/fleet.git?access_token={SECRET}",
    "query private_token": f"https://{HOST}/fleet.git?ref=main&private_token={SECRET}",
    "raw @ in the password": f"https://deploy:s3cr3t@TOKEN42@{HOST}/fleet.git",
    "raw / in the password": f"https://deploy:s3cr3t/TOKEN42@{HOST}/fleet.git",
    "ssh user:password": f"ssh://deploy:{SECRET}@{HOST}/fleet.git",
    "token only": f"https://{SECRET}@{HOST}/fleet.git",
    "x-access-token": f"https://x-access-token:{SECRET}@{HOST}/org/fleet.git",
    "percent-encoded password": f"https://deploy:s3cr3t%40TOKEN42@{HOST}/fleet.git",
    "user:token": f"https://deploy:{SECRET}@{HOST}/fleet.git",
}


def leaks(text: str) -> list[str]:
    return [f for f in FRAGMENTS if f.lower() in text.lower()]


# ── the masking function, form by form ───────────────────────────────────────────────────────

MASKED_BEFORE = {  # the forms `gitsource.redact` masked already (they leaked elsewhere)
    "upper-case scheme",
    "leading space",
    "git+http",
    "ssh user:password",
    "token only",
    "x-access-token",
    "percent-encoded password",
    "user:token",
}
MORE_FORMS = {
    "a URL made a path": f"/home/ci/https:/deploy:{SECRET}@{HOST}/fleet.git: no such file",
    "a token-only URL made a path": f"/home/ci/https:/{SECRET}@{HOST}/fleet.git: no such file",
    "scp-like, raw @ in the password": "deploy:s3cr3t@TOKEN42@git.example.com:org/fleet.git",
    "Authorization header": f"> Authorization: Basic {SECRET}",
    "Bearer token": f"> Authorization: Bearer {SECRET}",
    "password= in running text": f"connect: user=deploy password={SECRET} failed",
}
UNIT_FORMS = {name: url for name, url in FORMS.items() if name not in MASKED_BEFORE} | MORE_FORMS


def masked(text: str) -> str:
    return redact(f"fatal: unable to access '{text}': Couldn't connect to server")


@pytest.mark.parametrize("text", UNIT_FORMS.values(), ids=UNIT_FORMS.keys())
def test_every_credential_form_is_masked(text: str) -> None:
    """Through `gitsource.redact`, the name its callers use."""
    out = masked(text)
    assert not leaks(out), out
    assert "***" in out and redact(out) == out  # idempotent


def test_one_masking_function_masks_every_form_in_linear_time() -> None:
    from gitops_edge.reports import redaction

    assert redact is redaction.redact
    for name, text in (FORMS | MORE_FORMS).items():
        out = masked(text)
        assert not leaks(out) and "***" in out, (name, out)
    started = time.monotonic()
    for text in (",a:" * 200_000 + "@/", "a:@" * 200_000, "https://" + "a:/b:x/" * 100_000 + "@h"):
        redact(text)
    assert time.monotonic() - started < 10  # generous: "does not hang" on hostile text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"deploy:{SECRET}@git.example.com:org/fleet.git and git@github.com:org/fleet.git",
            "deploy:***@git.example.com:org/fleet.git and git@github.com:org/fleet.git",
        ),
        (
            f"image: nginx:1.25@sha256:{'a' * 64} from u:{SECRET}@registry.example.com:x",
            f"image: nginx:1.25@sha256:{'a' * 64} from u:***@registry.example.com:x",
        ),
        (
            f"https://host:8443/repo@v1, apps.openyurt.io/nodepool=hangzhou, ?token={SECRET}",
            "https://host:8443/repo@v1, apps.openyurt.io/nodepool=hangzhou, ?token=***",
        ),
        (
            f"https://u:p@ss@{HOST}/fleet.git ({{'user@host': 'a:b'}})",
            f"https://***@{HOST}/fleet.git ({{'user@host': 'a:b'}})",
        ),
    ],
)
def test_ordinary_text_beside_a_credential_is_kept(text: str, expected: str) -> None:
    assert redact(text) == expected


# ── every command, every form ────────────────────────────────────────────────────────────────


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A simulated cluster, a valid folder, a git repository as the current folder, no prompts
    and no ssh that could wait for a password."""
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")
    monkeypatch.setenv("GIT_SSH_COMMAND", "ssh -o BatchMode=yes -o ConnectTimeout=5")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    sim = tmp_path / "fleet.json"
    SimCluster.init_file(sim, SimCluster.create(groups=[("hangzhou", 2)]))
    folder = tmp_path / "fleet"
    shutil.copytree(EXAMPLE, folder)
    remote = Remote(tmp_path)
    (remote.work / "README.md").write_text("x\n")
    remote.commit("first")
    monkeypatch.chdir(remote.work)
    return {"sim": sim, "folder": folder, "cache": tmp_path / "cache"}


def commands(url: str, w: dict[str, Path]) -> dict[str, list[str]]:
    sim, cache = f"sim:{w['sim']}", str(w["cache"])
    return {
        "validate": ["validate", url],
        "validate --format": ["validate", "--format", url],
        "argparse: unknown command": [url],
        "argparse: unrecognized argument": ["validate", str(w["folder"]), url],
        "diff PATH": ["diff", "--base", "HEAD", url],
        "diff --base": ["diff", "--base", url],
        "diff --head": ["diff", "--base", "HEAD", "--head", url],
        "plan": ["plan", url, "--cluster", sim, "--cache-dir", cache],
        "plan --cluster": ["plan", str(w["folder"]), "--cluster", url],
        "reconcile --once": ["reconcile", url, "--cluster", sim, "--once", "--cache-dir", cache],
        "status": ["status", url, "--cache-dir", cache],
        "status --cluster": ["status", url, "--cluster", sim, "--cache-dir", cache],
        "agent --cluster": ["agent", "--node", "edge-1", "--cluster", url],
        "agent --listen": ["agent", "--node", "edge-1", "--cluster", sim, "--listen", url],
        "sim show": ["sim", "show", url],
        "sim node": ["sim", "node", str(w["sim"]), url, "--not-ready"],
    }


COMMANDS = list(commands("URL", {"sim": Path(), "folder": Path(), "cache": Path()}))


def run_cli(argv: list[str], capfd: pytest.CaptureFixture[str]) -> str:
    with contextlib.suppress(SystemExit):  # argparse's usage errors
        main(argv)
    out, err = capfd.readouterr()
    return out + err


@pytest.mark.parametrize("command", COMMANDS)
def test_no_command_prints_a_secret_in_any_form(
    command: str, world: dict[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    leaked = {}
    for form, url in FORMS.items():
        output = run_cli(commands(url, world)[command], capfd)
        assert output.strip(), f"{command} with {form}: no output at all"
        if leaks(output):
            leaked[form] = output
    assert not leaked, leaked


def test_the_reconcile_loop_logs_no_secret_in_any_form(tmp_path: Path) -> None:
    """The real loop, one process per form (text and JSON logs), stopped by SIGTERM once it has
    failed a pass or exited."""
    sim = tmp_path / "fleet.json"
    SimCluster.init_file(sim, SimCluster.create(groups=[("hangzhou", 2)]))
    env = os.environ | {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o ConnectTimeout=5",
        "PYTHONUNBUFFERED": "1",
    }
    started = []
    for number, url in enumerate(FORMS.values()):
        log = tmp_path / f"loop-{number}.log"
        argv = ["reconcile", url, "--cluster", f"sim:{sim}", "--interval", "0.2"]
        argv += [
            "--cache-dir",
            str(tmp_path / "cache"),
            "--log-format",
            ("json", "text")[number % 2],
        ]
        with log.open("w") as sink:
            started.append(
                (
                    log,
                    subprocess.Popen(
                        [sys.executable, "-m", "gitops_edge", *argv],
                        stdout=sink,
                        stderr=subprocess.STDOUT,
                        env=env,
                        cwd=tmp_path,
                    ),
                )
            )
    deadline = time.monotonic() + 150  # 14 processes starting at once on a busy machine
    try:
        for log, process in started:
            while process.poll() is None and time.monotonic() < deadline:
                if "pass failed" in log.read_text():
                    break
                time.sleep(0.1)
            assert process.poll() is not None or "pass failed" in log.read_text(), log.read_text()
    finally:
        for _, process in started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _, process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
    outputs = {url: log.read_text() for (log, _), url in zip(started, FORMS.values(), strict=True)}
    assert all(outputs.values())
    assert not {url: text for url, text in outputs.items() if leaks(text)}


# ── what is committed, exported and shown from a repository's content ───────────────────────

INVALID_IMAGE = f"https://deploy:{SECRET}@registry.example.com/edge/redis:6.2.14"
PREPULL = """apiVersion: operations.kubeedge.io/v1alpha1
kind: ImagePrePullJob
metadata:
  name: prepull-redis
spec:
  imagePrePullTemplate:
    images:
      - IMAGE
    nodeNames:
      - edgenode1
"""


def test_status_files_and_logs_of_an_invalid_revision_hold_no_secret(tmp_path: Path) -> None:
    """A diagnostic quoting a credential (an image written as a URL with a token) reaches the
    status README committed to git and the loop's log: both masked."""
    world = World(tmp_path)
    world.one_pass()
    job = world.remote.work / "fleet" / "jobs" / "prepull-redis.yaml"
    job.write_text(PREPULL.replace("IMAGE", INVALID_IMAGE))
    bad = world.remote.commit("prepull with a token in the image")
    world.one_pass()
    summary = world.remote_file("fleet/status/README.md")
    assert f"## Revision `{bad}` is invalid" in summary and "prepull-redis.yaml" in summary
    assert "https://***@registry.example.com" in summary
    committed = run("log", "-p", world.status_ref, "--", "fleet/status", cwd=world.remote.work)
    assert "is invalid" in committed
    assert not leaks(committed)
    assert not leaks(repr(world.logs))


def test_validate_plan_and_diff_show_no_secret_quoted_from_the_repository(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = Remote(tmp_path)
    shutil.copytree(EXAMPLE, remote.work / "fleet")
    remote.commit("fleet")
    (remote.work / "fleet" / "jobs" / "prepull-redis.yaml").write_text(
        PREPULL.replace("IMAGE", INVALID_IMAGE)
    )
    remote.commit("prepull with a token in the image")
    sim = tmp_path / "fleet.json"
    SimCluster.init_file(sim, SimCluster.create(groups=[("hangzhou", 2)]))
    monkeypatch.chdir(remote.work)
    fleet = str(remote.work / "fleet")
    outputs = {}
    for argv in (
        ["validate", fleet],
        ["validate", fleet, "--format", "json"],
        ["validate", fleet, "--format", "github"],
        ["plan", fleet, "--cluster", f"sim:{sim}"],
        ["reconcile", fleet, "--cluster", f"sim:{sim}", "--once"],
        ["diff", "--base", "HEAD~1", fleet],
        ["diff", "--base", "HEAD~1", fleet, "--format", "text"],
    ):
        outputs[" ".join(argv[:1] + argv[2:])] = output = run_cli(argv, capfd)
        assert "prepull-redis.yaml" in output
    assert not {argv: text for argv, text in outputs.items() if leaks(text)}


def test_metric_labels_hold_no_secret() -> None:
    from prometheus_client import generate_latest

    from gitops_edge.reconciler.metrics import LoopMetrics

    metrics = LoopMetrics()
    metrics.record_error(f"GitSourceError {FORMS['token only']}")
    metrics.record_failures({f"kind {FORMS['query token']}": 2})
    exported = generate_latest(metrics.registry).decode()
    assert "GitSourceError https://***@" in exported and not leaks(exported)


CRASH = """
import sys
import gitops_edge.cli.validate_cmd as validate_cmd
from gitops_edge.cli.main import main


def crash(paths):
    raise RuntimeError("cannot reach " + sys.argv[1])


validate_cmd.validate_paths = crash
raise SystemExit(main(["validate", "."]))
"""


def test_an_uncaught_exception_is_printed_masked(tmp_path: Path) -> None:
    """The last resort: a traceback nobody expected goes through the masking too."""
    url = FORMS["raw @ in the password"]
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH, url],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert crashed.returncode == 1 and "Traceback" in crashed.stderr
    assert "RuntimeError: cannot reach https://***@" in crashed.stderr
    assert not leaks(crashed.stdout + crashed.stderr)
