"""`reconcile --once` on a git SOURCE whose newest revision is invalid resumes the last good
revision recorded in the committed status, as the loop does: the CronJob variant keeps
reconciling (a hand edit is restored, a rollout goes on) instead of stopping the fleet until the
head is fixed. It still exits 1 and says the head is invalid; the invalid revision is never
applied; with no record, nothing is done."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_git_source import EXAMPLE, Remote

from gitops_edge.cli.main import main

DAEMONSET = ("edge-apps", "nginx-daemonset")


def image_of(state: Path) -> str:
    data = json.loads(state.read_text())
    for ds in data["daemonsets"]:
        if (ds["metadata"]["namespace"], ds["metadata"]["name"]) == DAEMONSET:
            return str(ds["spec"]["template"]["spec"]["containers"][0]["image"])
    raise AssertionError("no nginx-daemonset")


@pytest.fixture
def fleet(tmp_path: Path) -> tuple[Remote, Path, list[str]]:
    remote = Remote(tmp_path)
    shutil.copytree(EXAMPLE, remote.work / "fleet")
    remote.commit("fleet")
    state = tmp_path / "fleet.json"
    assert main(["sim", "init", str(state), "--groups", "hangzhou=2"]) == 0
    argv = ["--cluster", f"sim:{state}", "--path", "fleet", "--cache-dir", str(tmp_path / "c")]
    return remote, state, argv


def test_once_on_an_invalid_head_resumes_the_last_good_revision(
    fleet: tuple[Remote, Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    remote, state, argv = fleet
    assert main(["reconcile", remote.url, "--once", *argv]) == 0
    good = image_of(state)
    assert main(["sim", "set-image", str(state), "edge-apps/nginx-daemonset", "nginx=nginx:9"]) == 0
    (remote.work / "fleet" / "broken.yaml").write_text("apiVersion: apps/v1\nkind: DaemonSet\n")
    bad = remote.commit("broken")
    capsys.readouterr()
    assert main(["reconcile", remote.url, "--once", *argv]) == 1
    out, err = capsys.readouterr()
    assert f"at {bad[:12]} is invalid" in err
    assert "resuming the last good revision" in err
    assert image_of(state) == good  # the hand edit was undone by the last good revision
    assert "pass over revision" in out and bad not in out.split("pass over revision")[1]


def test_once_on_an_invalid_head_without_a_record_does_nothing(
    fleet: tuple[Remote, Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    remote, state, argv = fleet
    (remote.work / "fleet" / "broken.yaml").write_text("apiVersion: apps/v1\nkind: DaemonSet\n")
    remote.commit("broken")
    before = state.read_bytes()
    assert main(["reconcile", remote.url, "--once", *argv]) == 1
    err = capsys.readouterr().err
    assert "no last good revision to resume" in err
    assert state.read_bytes() == before
