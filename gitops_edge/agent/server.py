"""The agent's HTTP server: loopback by default, bounded and defensive.

Every request line is routed by `routes`, answered by `handlers`; anything malformed gets a
plain-text 4xx. Limits: request line 8 KiB, headers as http.server allows (100), body at most
64 KiB (the API takes no body; it is read and dropped so keep-alive stays in step), no chunked
bodies, one `Content-Length` of ASCII digits (anything else: 400). A request cut short (the
client closes before the blank line ending its headers, or before its body is complete) is not
answered, let alone acted upon: the connection is closed.

Staying responsive under slow clients (slowloris): a thread per connection, and
- each request — line, headers and body — must arrive within `request_timeout` seconds of the
  server starting to wait for it (the connection accepted, or the previous answer sent), else
  it gets 408 (if it had begun) and the connection is closed; every single read or write also
  gives up after `timeout` seconds of silence. Dripping a header line every few seconds no
  longer keeps a connection open forever;
- at most `max_connections` (64) are open at once, but a connection still waiting for its
  request does not hold its place against a newcomer: when the table is full, the connection
  that has waited longest for its request (a slow or idle client) is closed to make room.
  A well-behaved client sends its request as soon as it connects, so it is the newest, never
  the one that gives way, and is answered however many slow connections are open; only when
  every open connection is being answered is a newcomer refused (503). Connections the
  accept loop has not taken yet wait in the kernel's listen queue (128).
Logs one record per answered request through `log` (`gitops_edge.reports.logline`: text or JSON, the
same lines as the loop's): `request` with method, path, status, duration_ms (from the request
line's arrival to the answer being ready to send) and remote, plus a note for a refused or cut
short request; but not a passing `GET /healthz` (the kubelet's probe, every few seconds: noise).
No headers, no bodies, so nothing a client sends as a credential is logged (the path's query is
masked by the logger like every field), and client-supplied text is truncated and escaped by
the logger's format, so control characters cannot reach the log reader's terminal; an internal
error logs its type and place, never a traceback quoting what the client sent.
Side effects: listens on a socket; writes log lines (to stderr by default).
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import re
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from gitops_edge.agent.connections import ConnectionTable, DeadlineReader, RequestDeadlineError
from gitops_edge.agent.handlers import Agent, handle
from gitops_edge.agent.routes import TOKEN, Response, Route, route, text
from gitops_edge.reports.logline import Log, make_logger

MAX_REQUEST_LINE = 8192
MAX_BODY = 64 * 1024
MAX_CONNECTIONS = 64
MAX_LOGGED_PATH = 200  # characters of a request's path in its log line; a method's: 32
DEFAULT_TIMEOUT = 10.0
DEFAULT_REQUEST_TIMEOUT = 10.0
_LENGTH = re.compile(r"[0-9]{1,18}")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AgentServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        agent: Agent,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
        log: Log | None = None,
    ) -> None:
        self.agent = agent
        self.log = log if log is not None else make_logger("text")
        self.connection_timeout = timeout
        self.request_timeout = request_timeout
        self.connections = ConnectionTable(max_connections)
        super().__init__(address, AgentHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        reader = DeadlineReader(request, idle=self.connection_timeout)
        if not self.connections.admit(request, reader):  # every one is being answered
            with contextlib.suppress(OSError):
                request.settimeout(1.0)
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n")
            self.shutdown_request(request)
            return
        thread = threading.Thread(
            target=self._serve_connection, args=(request, client_address, reader), daemon=True
        )
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any, reader: DeadlineReader) -> None:
        try:
            AgentHandler(request, client_address, self, reader=reader)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.connections.forget(request)  # before the socket is closed
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line: the error's type and where it happened, never its message or a traceback
        (they may quote what the client sent)."""
        _, exc, tb = sys.exc_info()
        where = traceback.extract_tb(tb)[-1] if tb is not None else None
        place = f"{where.filename}:{where.lineno}" if where is not None else None
        self.log(
            "error",
            "internal error; connection closed",
            error=type(exc).__name__,
            at=place,
            remote=client_address[0],
        )


class AgentServer6(AgentServer):
    address_family = socket.AF_INET6


def make_server(
    host: str,
    port: int,
    agent: Agent,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
    log: Log | None = None,
) -> AgentServer:
    """An AgentServer on (host, port); IPv6 literals such as ::1 get an IPv6 socket. `log`:
    where its log records go (default: text lines on stderr)."""
    kind = AgentServer6 if ":" in host else AgentServer
    return kind(
        (host, port),
        agent,
        timeout=timeout,
        request_timeout=request_timeout,
        max_connections=max_connections,
        log=log,
    )


class AgentHandler(BaseHTTPRequestHandler):
    server: AgentServer
    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.1"  # even a garbage request line gets a status line
    server_version = "gitops-edge-agent"
    sys_version = ""

    def __init__(
        self,
        request: Any,
        client_address: Any,
        server: AgentServer,
        *,
        reader: DeadlineReader | None = None,
    ) -> None:
        self.reader = reader or DeadlineReader(request, idle=server.connection_timeout)
        self.note = ""
        self.started = time.monotonic()
        super().__init__(request, client_address, server)

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.connection_timeout)  # writes: slow readers
        self.rfile.close()  # reads go through the deadline reader instead
        self.rfile = io.BufferedReader(self.reader)

    def handle_one_request(self) -> None:
        self.command, self.path, self.requestline = "", "", ""
        self.request_version, self.note = self.default_request_version, ""
        self.server.connections.waiting(self.connection)
        self.reader.start(self.server.request_timeout)
        self.started = time.monotonic()
        try:
            self.raw_requestline = self.rfile.readline(MAX_REQUEST_LINE + 1)
            self.started = time.monotonic()  # the request line arrived
            if len(self.raw_requestline) > MAX_REQUEST_LINE:
                self._send(text(414, "request line too long"), close=True)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():  # sends its own 400/505 on malformed requests
                return
            self._answer()
        except RequestDeadlineError:
            self.close_connection = True
            self._too_slow()
        except (TimeoutError, ConnectionError):
            self.close_connection = True

    def _too_slow(self) -> None:
        if not self.reader.received:  # an idle keep-alive connection: just close it
            return
        self.reader.stop()
        self.note = f"request not received within {self.server.request_timeout:g} s"
        message = f"{self.note}: send the request line, headers and body at once"
        with contextlib.suppress(OSError):
            self._send(text(408, message), close=True)

    def _answer(self) -> None:
        problem = self._drain_body()
        if self.reader.ended:  # the head or body was cut short: never act on half a request
            self.close_connection = True
            return
        self.reader.stop()  # the request is in: its deadline no longer applies
        self.server.connections.answering(self.connection)
        if problem is not None:
            self._send(problem, close=True)
            return
        target = route(self.command, self.path)
        if isinstance(target, Route):
            try:
                answer = handle(self.server.agent, target)
            except Exception as exc:  # a bug must cost one request, never the server
                answer = text(500, f"internal error: {type(exc).__name__}")
        else:
            answer = target
        self._send(answer)

    def _drain_body(self) -> Response | None:
        if self.headers.get("Transfer-Encoding"):
            return text(400, "chunked request bodies are not accepted; this API takes no body")
        lengths = self.headers.get_all("Content-Length") or ["0"]
        if len(lengths) > 1:
            return text(400, "more than one Content-Length header: send one (or none)")
        if not _LENGTH.fullmatch(lengths[0].strip()):
            return text(
                400,
                "invalid Content-Length: write the body's size in bytes as decimal digits "
                "(0-9); this API takes no body, so leave it out",
            )
        length = int(lengths[0])
        if length > MAX_BODY:
            return text(413, f"request body too large (at most {MAX_BODY} bytes; none is needed)")
        if length:
            self.rfile.read(length)
        return None

    def _send(self, answer: Response, *, close: bool = False) -> None:
        self.note = self.note or answer.note
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for key, value in answer.headers:
            self.send_header(key, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self._log_answer(answer.status)  # before it is sent: logged when the client has it
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (malformed request lines), as plain text like ours."""
        self._send(text(code, message or self.responses.get(code, ("error",))[0]), close=True)

    def log_message(self, format: str, *args: Any) -> None:
        """http.server's own messages (none is expected: its error paths are ours)."""
        message = _truncated(format % args, MAX_LOGGED_PATH)
        self.server.log("warning", message, remote=self.client_address[0])

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Called by `send_response`, before its headers are complete: `_send` logs the answer
        once they are (with how long it took)."""

    def _log_answer(self, status: int) -> None:
        if status == 200 and self.command == "GET" and self.path == "/healthz":
            return  # a passing kubelet probe, every few seconds: nothing worth a line
        method = self.command or None
        if method is not None and not TOKEN.fullmatch(method):
            method = _truncated(method, 32)
        fields: dict[str, Any] = {
            "method": method,
            "path": _truncated(self.path, MAX_LOGGED_PATH) if self.path else None,
            "status": status,
            "duration_ms": round((time.monotonic() - self.started) * 1000, 3),
            "remote": self.client_address[0],
        }
        if self.note:
            fields["note"] = self.note
        self.server.log("info", "request", **fields)


def _truncated(value: str, limit: int) -> str:
    """A client-supplied value cut to `limit` characters (the logger escapes what it holds)."""
    return value[:limit] + ("…" if len(value) > limit else "")
