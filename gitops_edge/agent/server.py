"""The agent's HTTP server: loopback by default, bounded and defensive.

Every request line is routed by `routes`, answered by `handlers`; anything malformed gets a
plain-text 4xx. Limits: request line 8 KiB, headers as http.server allows (100), body at most
64 KiB (the API takes no body; it is read and dropped so keep-alive stays in step) and no
chunked bodies, a per-connection socket timeout (slow clients are dropped), at most 32
connections served at once. Logs one line per request (method, path, status; no headers, no
bodies, so nothing a client sends as a credential is ever logged).
Side effects: listens on a socket; writes log lines to stderr.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from gitops_edge.agent.handlers import Agent, handle
from gitops_edge.agent.routes import Response, Route, route, shown, text

MAX_REQUEST_LINE = 8192
MAX_BODY = 64 * 1024
MAX_CONNECTIONS = 32
DEFAULT_TIMEOUT = 10.0


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

    def __init__(
        self, address: tuple[str, int], agent: Agent, *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self.agent = agent
        self.connection_timeout = timeout
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, AgentHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):  # too many at once: refuse, don't queue
            with contextlib.suppress(OSError):
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n")
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class AgentServer6(AgentServer):
    address_family = socket.AF_INET6


def make_server(
    host: str, port: int, agent: Agent, *, timeout: float = DEFAULT_TIMEOUT
) -> AgentServer:
    """An AgentServer on (host, port); IPv6 literals such as ::1 get an IPv6 socket."""
    kind = AgentServer6 if ":" in host else AgentServer
    return kind((host, port), agent, timeout=timeout)


class AgentHandler(BaseHTTPRequestHandler):
    server: AgentServer
    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.1"  # even a garbage request line gets a status line
    server_version = "gitops-edge-agent"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.connection_timeout)  # slow clients are dropped

    def handle_one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(MAX_REQUEST_LINE + 1)
            if len(self.raw_requestline) > MAX_REQUEST_LINE:
                self.requestline, self.request_version, self.command = "", "", ""
                self._send(text(414, "request line too long"), close=True)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():  # sends its own 400/505 on malformed requests
                return
            self._answer()
        except (TimeoutError, ConnectionError):
            self.close_connection = True

    def _answer(self) -> None:
        problem = self._drain_body()
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
        raw = self.headers.get("Content-Length", "0") or "0"
        if not raw.isdigit():
            return text(400, "invalid Content-Length")
        length = int(raw)
        if length > MAX_BODY:
            return text(413, f"request body too large (at most {MAX_BODY} bytes; none is needed)")
        if length:
            self.rfile.read(length)
        return None

    def _send(self, answer: Response, *, close: bool = False) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for key, value in answer.headers:
            self.send_header(key, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (malformed request lines), as plain text like ours."""
        self._send(text(code, message or self.responses.get(code, ("error",))[0]), close=True)

    def log_message(self, format: str, *args: Any) -> None:
        line = format % args
        print(f"agent {self.client_address[0]} {shown(line, 200)}", file=sys.stderr, flush=True)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = shown(self.path, 200) if hasattr(self, "path") else "-"
        print(f"agent {self.command or '-'} {path} {code}", file=sys.stderr, flush=True)
