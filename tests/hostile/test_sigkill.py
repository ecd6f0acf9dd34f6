"""Issue 16 item 2, the crash test: the real `reconcile` loop (no --once) against a `file://`
remote, started in a process group of its own and killed as a container is, SIGKILL to the
whole group (git children included), over and over: during its first clone, while git commits,
fetches or pushes (hooks slow them down so that git is caught at work), and at random moments.
After each kill no process of the group is left, the budget was never exceeded, and the
restarted loop resumes: it repairs what git left in the clone (a half-made first clone, the
index.lock of a killed commit), the rollout completes and the final status commit is pushed.
Extends the SIGKILL test of tests/test_loop.py (its helpers)."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from repo_config import write_config
from test_git_source import Remote, run
from test_loop import DAEMONSET, _revision_of, start_loop, wait_for, web_pods

from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model.desired import DEFAULT_STATUS_BRANCH
from gitops_edge.source.gitsource import GitSource

from .test_clone_repair import clean_state, slow_git_env

KILLS = 8  # after the one during the first clone
BUDGET = math.ceil(0.3 * 10)  # max-unavailable 30% of 10 nodes


def group_processes(pgid: int) -> list[str]:
    """The command lines of the live (not zombie) processes of process group `pgid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) != pgid or fields[0] == "Z":
                continue
            found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, ValueError, IndexError):
            continue
    return found


def git_running(pgid: int, *words: str) -> bool:
    """A git process of the group is at work on one of `words` (e.g. fetch, push)."""
    return any("git" in line and any(w in line for w in words) for line in group_processes(pgid))


class Loop:
    """The loop as a subprocess in its own process group; each run's log in its own file."""

    def __init__(self, remote: Remote, sim: Path, tmp: Path) -> None:
        self.remote, self.sim, self.tmp = remote, sim, tmp
        self.env = slow_git_env(tmp, 0.3)
        hooks = tmp / "loop-hooks"  # status commits take a while: kills land mid-commit
        hooks.mkdir()
        (hooks / "pre-commit").write_text("#!/bin/sh\nsleep 0.3\n")
        (hooks / "pre-commit").chmod(0o755)
        config = self.env["GIT_CONFIG_GLOBAL"]
        run("config", "-f", config, "core.hooksPath", str(hooks), cwd=tmp)
        # The remote's side of a push runs in a session of its own, as on a git server: a
        # container kill does not reach it (else it would leave the remote's ref locked).
        run("config", "-f", config, "remote.origin.receivepack", "setsid git-receive-pack", cwd=tmp)
        self.runs = 0
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> subprocess.Popen[str]:
        self.runs += 1
        with open(self.tmp / f"run-{self.runs}.log", "w") as log:
            self.proc = start_loop(
                self.remote.url,
                self.sim,
                self.tmp / "cache",
                start_new_session=True,  # its own process group, git children included
                env=self.env,
                cwd=self.tmp,  # the installed (or PYTHONPATH's) gitops_edge
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        return self.proc

    def kill(self) -> None:
        """SIGKILL the whole group, as a container kill does; nothing of it may survive."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        assert wait_for(lambda: not group_processes(self.proc.pid), seconds=10), group_processes(
            self.proc.pid
        )

    def logs(self) -> list[dict[str, Any]]:
        lines = []
        for n in range(1, self.runs + 1):
            for line in (self.tmp / f"run-{n}.log").read_text().splitlines():
                if line.startswith("{"):
                    lines.append(json.loads(line))
        return lines


def nodes_down(sim: Path) -> int:
    pods, ready, _ = web_pods(sim)
    live = [p for p in pods if not p.deleting]
    down = {p.node for p in live if p.node in ready and not p.ready}
    return len(down | (ready - {p.node for p in live}))


def rolled_out(sim: Path, revisions: set[str]) -> bool:
    """Every pod current and Ready, the DaemonSet applied from one of `revisions`."""
    pods, _, current = web_pods(sim)
    live = [p for p in pods if not p.deleting]
    return (
        bool(current)
        and len(live) == 10
        and all(p.revision_hash == current and p.ready for p in live)
        and _revision_of(sim) in revisions
    )


def test_sigkill_of_the_whole_group_at_any_point_resumes_within_budget(tmp_path: Path) -> None:
    remote = Remote(tmp_path)
    write_config(remote.work)
    (remote.work / "web.yaml").write_text(DAEMONSET.replace("TAG", "1.19.4"))
    remote.commit("web 1.19.4")
    hook = remote.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nsleep 0.3\n")  # pushes take a while: kills land mid-push
    hook.chmod(0o755)
    sim = tmp_path / "fleet.json"
    SimCluster.init_file(sim, SimCluster.create(groups=[("edge", 10)]))
    loop = Loop(remote, sim, tmp_path)
    rng = random.Random(16)
    try:
        # 1. Killed during its first clone: a partial .git is left.
        clone = GitSource(remote.url, branch="main", subpath=".", cache_dir=tmp_path / "cache")
        proc = loop.start()
        assert wait_for(
            lambda: git_running(proc.pid, "clone") and (clone.clone_dir / ".git/HEAD").exists(),
            seconds=30,
        )
        loop.kill()
        loop.start()
        assert wait_for(lambda: len(web_pods(sim)[0]) == 10, seconds=60), "no pass after restart"
        with SimCluster.open(sim) as cluster:
            cluster.tick(10)  # all Ready
        (remote.work / "web.yaml").write_text(DAEMONSET.replace("TAG", "1.20.0"))
        head = remote.commit("web 1.20.0")
        rollout = {head}  # the revisions holding web 1.20.0
        # 2. Killed again and again: while git fetches or pushes, or at a random moment.
        worst, caught = 0, 0
        for kill in range(KILLS):
            proc = loop.proc
            assert proc is not None
            if kill % 4 in (0, 1):  # pods turn Ready: the status changes, is committed, pushed
                with SimCluster.open(sim) as cluster:
                    cluster.tick(3)
                words = ("commit",) if kill % 4 == 0 else ("push", "receive-pack")
                caught += wait_for(lambda p=proc, w=words: git_running(p.pid, *w), 10)
            elif kill % 4 == 2:  # someone pushes: the loop fetches
                (remote.work / f"notes-{kill}.txt").write_text("not desired state\n")
                head = remote.commit(f"notes {kill}")  # the newest spec revision now
                rollout.add(head)
                caught += wait_for(lambda p=proc: git_running(p.pid, "fetch", "upload-pack"), 10)
            else:
                time.sleep(rng.uniform(0.0, 1.5))
            assert proc.poll() is None, "the loop died by itself"
            loop.kill()
            worst = max(worst, nodes_down(sim))
            assert worst <= BUDGET, f"{worst} nodes down, budget {BUDGET}"
            with SimCluster.open(sim) as cluster:
                cluster.tick(3)  # pods become Ready over time
            loop.start()
            time.sleep(rng.uniform(0.5, 1.5))
        assert caught >= 3, f"git was caught at work by only {caught} kills"
        # 3. Left alone, it completes the rollout and pushes the status of it.
        deadline = time.monotonic() + 120
        while not rolled_out(sim, rollout):
            assert time.monotonic() < deadline, "the rollout did not complete after the kills"
            assert loop.proc is not None and loop.proc.poll() is None, "the loop died"
            worst = max(worst, nodes_down(sim))
            assert worst <= BUDGET, f"{worst} nodes down, budget {BUDGET}"
            with SimCluster.open(sim) as cluster:
                cluster.tick(3)
            time.sleep(0.2)

        def final_status_pushed() -> bool:
            subject = run("log", "-1", "--format=%s", DEFAULT_STATUS_BRANCH, cwd=remote.bare)
            return subject.startswith("status: 10/10 nodes current") and head[:12] in subject

        assert wait_for(final_status_pushed, seconds=60), run(
            "log", "-3", "--format=%s", DEFAULT_STATUS_BRANCH, cwd=remote.bare
        )
        assert loop.proc is not None
        loop.proc.send_signal(signal.SIGTERM)
        assert loop.proc.wait(timeout=60) == 0
    finally:
        if loop.proc is not None and loop.proc.poll() is None:
            loop.kill()
    clean_state(clone.clone_dir)
    records = loop.logs()
    repaired = [r for r in records if r["msg"] == "repaired the git clone"]
    assert any("first clone" in r["problem"] for r in repaired), repaired
    assert any("index.lock" in r["problem"] for r in repaired), repaired  # a killed commit
    assert loop.runs == KILLS + 2
