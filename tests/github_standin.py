"""A stand-in for the GitHub REST API's issue comments, on 127.0.0.1 in a thread: lists a pull
request's comments page by page (`per_page`, `page`, a `Link: <…>; rel="next"` header as GitHub
sends), creates (201) and updates (200) them, checks the documented headers and the token, and
records every request. `fail[(METHOD, path)] = (status, json)` answers an error instead."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "ghs_standInToken0123456789"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class GitHubStandIn:
    url: str = ""
    comments: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    fail: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    next_id: int = 1000

    def add(self, repository: str, number: int, body: str, user: str = "someone") -> int:
        self.next_id += 1
        self.comments.setdefault((repository, number), []).append(
            {"id": self.next_id, "body": body, "user": {"login": user}}
        )
        return self.next_id

    def bodies(self, repository: str, number: int) -> list[str]:
        return [c["body"] for c in self.comments.get((repository, number), [])]


def _handler(state: GitHubStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def _answer(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            state.requests.append(
                Request(self.command, parts.path, parse_qs(parts.query), dict(self.headers), body)
            )
            if (self.command, parts.path) in state.fail:
                self._answer(*state.fail[(self.command, parts.path)])
                return
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._answer(401, {"message": "Bad credentials"})
                return
            if (
                self.headers.get("Accept") != "application/vnd.github+json"
                or self.headers.get("X-GitHub-Api-Version") != "2022-11-28"
            ):
                self._answer(400, {"message": "missing the documented headers"})
                return
            segments = parts.path.strip("/").split("/")
            issue = segments[3:4] == ["issues"] and segments[4:5] != ["comments"]
            if len(segments) == 6 and issue and segments[5] == "comments":
                key = (f"{segments[1]}/{segments[2]}", int(segments[4]))
                if self.command == "GET":
                    query = parse_qs(parts.query)
                    per_page = int(query.get("per_page", ["30"])[0])
                    page = int(query.get("page", ["1"])[0])
                    every = state.comments.get(key, [])
                    shown = every[(page - 1) * per_page : page * per_page]
                    headers = {}
                    if page * per_page < len(every):
                        nxt = f"{state.url}{parts.path}?per_page={per_page}&page={page + 1}"
                        headers["Link"] = f'<{nxt}>; rel="next", <{nxt}>; rel="last"'
                    self._answer(200, shown, headers)
                    return
                if self.command == "POST":
                    state.next_id += 1
                    comment = {
                        "id": state.next_id,
                        "body": body["body"],
                        "html_url": f"https://github.test/{key[0]}/pull/{key[1]}"
                        f"#issuecomment-{state.next_id}",
                    }
                    state.comments.setdefault(key, []).append(comment)
                    self._answer(201, comment)
                    return
            if len(segments) == 6 and segments[3:5] == ["issues", "comments"]:
                for comments in state.comments.values():
                    for comment in comments:
                        if comment["id"] == int(segments[5]) and self.command == "PATCH":
                            comment["body"] = body["body"]
                            comment["html_url"] = f"https://github.test/c/{comment['id']}"
                            self._answer(200, comment)
                            return
            self._answer(404, {"message": "Not Found"})

        do_GET = do_POST = do_PATCH = _handle

    return Handler


@contextmanager
def github_standin() -> Iterator[GitHubStandIn]:
    state = GitHubStandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
