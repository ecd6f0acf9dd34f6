"""The reconcile loop's probe endpoints (`--health-addr`): `GET /healthz` and `GET /readyz`.

Each answers 200 `ok: <reason>` or 503 `unhealthy: <reason>` / `not ready: <reason>`, one line
of plain text judged by `health.liveness` / `health.readiness` from the loop's `Heartbeat`.
When `--metrics-addr` is the same address, this one server also serves `/metrics` (the
Prometheus exposition of the given registry) instead of opening a second socket. Anything else:
404; a method other than GET: 405. The same WSGI server prometheus_client uses (wsgiref,
a thread per request), quiet (no access log: core code never prints), every socket read or
write bounded by `TIMEOUT` seconds so a silent client holds one thread for that long at most.
The address is read by `addresses.parse_address` (`EXAMPLE`: `:8081`, every interface, as
controller-runtime's: kubelet probes reach the pod IP, not loopback).
Side effects: `serve` listens on a socket in a background (daemon) thread.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from gitops_edge.reconciler.health import Heartbeat, Verdict, liveness, readiness

TIMEOUT = 10.0
StartResponse = Callable[..., Any]
App = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True, slots=True)
class Probes:
    heartbeat: Heartbeat
    grace: float  # seconds a pass may be late or run before /healthz fails (health.liveness)


# How --health-addr is written: kubelet probes reach the pod IP, so every interface.
EXAMPLE = ":8081 (every interface: what kubelet probes need) or 127.0.0.1:8081 (this machine only)"


def make_app(probes: Probes, *, metrics: CollectorRegistry | None = None) -> App:
    metrics_app = make_wsgi_app(metrics) if metrics is not None else None

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/metrics" and metrics_app is not None:
            return metrics_app(environ, start_response)  # type: ignore[no-any-return]
        if path not in ("/healthz", "/readyz"):
            served = "/healthz, /readyz" + (", /metrics" if metrics_app else "")
            return _answer(start_response, 404, f"not found: this address serves {served}")
        if method != "GET":
            return _answer(start_response, 405, f"method not allowed on {path}: use GET")
        beat = probes.heartbeat.snapshot()
        if path == "/healthz":
            now = probes.heartbeat.clock()
            verdict = liveness(beat, now=now, grace=probes.grace)
            return _verdict(start_response, verdict, failed="unhealthy")
        return _verdict(start_response, readiness(beat), failed="not ready")

    return app


def _verdict(start_response: StartResponse, verdict: Verdict, *, failed: str) -> list[bytes]:
    status = 200 if verdict.ok else 503
    return _answer(start_response, status, f"{'ok' if verdict.ok else failed}: {verdict.reason}")


def _answer(start_response: StartResponse, status: int, message: str) -> list[bytes]:
    body = (message + "\n").encode()
    phrase = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    if status == 405:
        headers.append(("Allow", "GET"))
    start_response(f"{status} {phrase[status]}", headers)
    return [body]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    timeout = TIMEOUT  # every read and write on the connection

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(host: str, port: int, app: App) -> WSGIServer:
    """Serve `app` on (host, port) in a daemon thread; returns the server (`server_port`,
    `shutdown()`)."""
    kind = _Server6 if ":" in host else _Server  # an IPv6 literal such as ::1
    server = make_server(host, port, app, server_class=kind, handler_class=_QuietHandler)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
    ).start()
    return server
