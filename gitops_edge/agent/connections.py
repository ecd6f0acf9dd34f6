"""The agent's open connections: how long each may take to send its request, and which one
gives way when there are too many.

`DeadlineReader` is a connection's reading side: every read waits at most the idle timeout and
never past the deadline of the request being read, so a client that sends one byte (or one
header line) just before each read would time out is still dropped when its request deadline
passes. `ConnectionTable` counts the open connections; when it is full, a new connection
displaces the one that has waited longest for its request (a slow or idle client) instead of
being refused, and only when every open connection is being answered is the newcomer refused.
Side effects: reads from sockets; `ConnectionTable.admit` shuts down the displaced socket.
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
from dataclasses import dataclass, field


class RequestDeadlineError(TimeoutError):
    """The request's line, headers and body did not all arrive before its deadline."""


class DeadlineReader(io.RawIOBase):
    def __init__(self, sock: socket.socket, *, idle: float) -> None:
        super().__init__()
        self.sock = sock
        self.idle = idle
        self.deadline: float | None = None
        self.received = 0  # bytes of the current request read from the socket so far
        self.displaced = False
        self.ended = False  # the client closed its side (a read returned end of stream)

    def readable(self) -> bool:
        return True

    def start(self, seconds: float) -> None:
        """A new request: all of it must arrive within `seconds` from now."""
        self.deadline = time.monotonic() + seconds
        self.received = 0

    def stop(self) -> None:
        """The request is in; reads (and writes) are bounded by the idle timeout only."""
        self.deadline = None
        self.sock.settimeout(self.idle)

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        timeout = self.idle
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise RequestDeadlineError
            timeout = min(timeout, left)
        self.sock.settimeout(timeout)
        try:
            count = self.sock.recv_into(buffer)
        except TimeoutError:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                raise RequestDeadlineError from None
            raise
        if self.displaced:
            raise ConnectionAbortedError("displaced by a newer connection")
        self.ended = self.ended or count == 0
        self.received += count
        return count


@dataclass(eq=False)
class _Open:
    reader: DeadlineReader
    waiting_since: float | None = field(default_factory=time.monotonic)  # None: being answered


class ConnectionTable:
    """At most `limit` open connections, each either waiting for a request or answering one."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._open: dict[socket.socket, _Open] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._open)

    def admit(self, sock: socket.socket, reader: DeadlineReader) -> bool:
        """Count a new connection in; when full, displace the one that has waited longest for
        its request. False (the newcomer must be refused) when every one is being answered."""
        with self._lock:
            if len(self._open) >= self.limit:
                waiting = [(o.waiting_since, s) for s, o in self._open.items() if o.waiting_since]
                if not waiting:
                    return False
                _, victim = min(waiting, key=lambda pair: pair[0])
                displaced = self._open.pop(victim)
                displaced.reader.displaced = True
                # Under the lock: the socket is not closed before it is forgotten.
                with contextlib.suppress(OSError):
                    victim.shutdown(socket.SHUT_RDWR)
            self._open[sock] = _Open(reader)
            return True

    def waiting(self, sock: socket.socket) -> None:
        """The connection waits for (or reads) its next request: it may be displaced."""
        self._mark(sock, time.monotonic())

    def answering(self, sock: socket.socket) -> None:
        """The connection's request is in and being answered: it is never displaced."""
        self._mark(sock, None)

    def _mark(self, sock: socket.socket, since: float | None) -> None:
        with self._lock:
            entry = self._open.get(sock)
            if entry is not None:
                entry.waiting_since = since

    def forget(self, sock: socket.socket) -> None:
        """The connection is about to be closed (call before closing its socket)."""
        with self._lock:
            self._open.pop(sock, None)
