"""Misbehaving git remotes for the hostile git tests: a loopback HTTP "server" that accepts
connections and never answers (or trickles a byte now and then), and helpers to find and kill
the git processes talking to it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from pathlib import Path


class HungRemote:
    """Accepts every connection on 127.0.0.1 and then says nothing (`trickle=False`) or sends
    one byte of an endless HTTP header every 0.2 s (`trickle=True`)."""

    def __init__(self, *, trickle: bool = False) -> None:
        self.trickle = trickle
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/fleet.git"
        self.accepted = 0
        self.connections: list[socket.socket] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self.connections.append(conn)
            if self.trickle:
                threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        try:
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            while not self.stopped.wait(0.2):
                conn.sendall(b"a")
        except OSError:
            return

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        self.listener.close()
        for conn in self.connections:
            conn.close()


def processes_mentioning(text: str) -> list[int]:
    """The pids of the git processes (git, git-remote-http, …) whose command line contains
    `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            cmdline = b" ".join(argv).decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        name = Path(argv[0].decode(errors="replace")).name
        if text in cmdline and state != "Z" and (name == "git" or name.startswith("git-")):
            found.append(int(entry.name))
    return found


def git_processes_left(text: str, *, grace: float = 3.0) -> list[int]:
    """The git processes still talking to `text` after `grace` seconds to exit."""
    deadline = time.monotonic() + grace
    while True:
        left = processes_mentioning(text)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def kill_pids(pids: list[int]) -> None:
    """Kill what a test left behind (processes it started, by their id)."""
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def child_pids() -> list[int]:
    """The live child processes of this process (every thread's)."""
    pids: list[int] = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return pids
