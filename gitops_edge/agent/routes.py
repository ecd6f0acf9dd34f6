"""Which request is which: the agent's routes, and the plain-text answer for everything else.

Routes: `GET /pods`, `GET /healthz`, `POST …/pods/{pod}/upgrade|imagepull`.
Pure functions: (method, raw path) → a Route, or a Response saying why not (400 a method that
is not an HTTP token, 404 unknown path, 405 wrong method with an Allow header, 400 names that
are not DNS-1123). No side effects.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token: what a method may be
_POD_ACTION = re.compile(r"/openyurt\.io/v1/namespaces/([^/]*)/pods/([^/]*)/(upgrade|imagepull)")


class Op(enum.Enum):
    LIST = "list"
    HEALTH = "health"
    UPGRADE = "upgrade"
    IMAGEPULL = "imagepull"


@dataclass(frozen=True, slots=True)
class Route:
    op: Op
    namespace: str = ""
    pod: str = ""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()
    note: str = ""  # for the request's log line only, never sent


def text(status: int, message: str, *headers: tuple[str, str]) -> Response:
    return Response(status=status, body=(message + "\n").encode(), headers=headers)


def shown(value: str, limit: int = 64) -> str:
    """A client-supplied value as it may appear in an answer or a log: quoted, escaped, short."""
    return repr(value[:limit] + ("…" if len(value) > limit else ""))


def valid_namespace(name: str) -> bool:
    return len(name) <= 63 and DNS1123_LABEL.fullmatch(name) is not None


def valid_pod_name(name: str) -> bool:
    return len(name) <= 253 and DNS1123_SUBDOMAIN.fullmatch(name) is not None


def route(method: str, raw_path: str) -> Route | Response:
    if not TOKEN.fullmatch(method):
        return text(400, f"invalid method {shown(method, 32)}: use GET or POST")
    path = urlsplit(raw_path).path
    if path == "/pods":
        if method != "GET":
            return text(405, f"method {method} not allowed on /pods: use GET", ("Allow", "GET"))
        return Route(Op.LIST)
    if path == "/healthz":
        if method != "GET":
            return text(405, f"method {method} not allowed on /healthz: use GET", ("Allow", "GET"))
        return Route(Op.HEALTH)
    match = _POD_ACTION.fullmatch(path)
    if match is None:
        return text(
            404,
            "not found: this agent serves GET /pods, GET /healthz and POST "
            "/openyurt.io/v1/namespaces/{ns}/pods/{pod}/upgrade|imagepull",
        )
    namespace, pod, action = unquote(match[1]), unquote(match[2]), match[3]
    if method != "POST":
        return text(405, f"method {method} not allowed on {action}: use POST", ("Allow", "POST"))
    if not valid_namespace(namespace):
        return text(400, f"invalid namespace {shown(namespace)}: must be a DNS-1123 label")
    if not valid_pod_name(pod):
        return text(400, f"invalid pod name {shown(pod)}: must be a DNS-1123 subdomain")
    return Route(Op(action), namespace, pod)
