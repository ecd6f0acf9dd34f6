"""What a user reads when the Kubernetes API cannot be used, in one line as kubectl would say
it: a server that cannot be reached (and why: connection refused, a name that does not resolve,
a timeout, TLS), credentials it refuses (401), a kubeconfig that does not exist or lacks the
context asked for. Messages name the server and the context, never the credentials (no token,
no client key, no password in a URL); the adapter's own error types for a 409 and a 422.
Side effects: `config_problem` reads the kubeconfig files
for the names of their contexts; the rest are pure functions.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import urllib3
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from gitops_edge.cluster.base import ClusterError


class ConflictError(ClusterError):
    """409: a precondition (uid) no longer holds, or a write lost a race."""


class ListExpiredError(ClusterError):
    """410 Gone: a paged LIST's continue token is older than the store's last compaction
    (reason Expired); the list must be made again from its first page."""


class InvalidError(ClusterError):
    """422 Invalid: the API server refused the object; `fields` are the fields it names."""

    def __init__(self, message: str, *, fields: frozenset[str]) -> None:
        super().__init__(message)
        self.fields = fields


UNREACHABLE_HINT = "is the cluster running and is the kubeconfig right?"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """The API server and whose credentials are used, as messages name them."""

    server: str = "the configured server"
    credentials: str = "the configured credentials"  # "the credentials in context prod"
    renew: str = "renew them or choose other credentials"  # how to get accepted ones

    @classmethod
    def of(cls, server: str, *, context: str | None, in_cluster: bool = False) -> Endpoint:
        if in_cluster:
            return cls(
                shown_url(server),
                "the credentials of the pod's service account",
                "check the pod's service account and its token",
            )
        if context:
            return cls(
                shown_url(server),
                f"the credentials in context {context}",
                "log in again or renew them in the kubeconfig, or pick another context with "
                "--cluster kube:CONTEXT",
            )
        return cls(shown_url(server))

    def unreachable(self, error: BaseException) -> str:
        return (
            f"cannot reach the Kubernetes API at {self.server}: {unreachable_reason(error)} — "
            f"{UNREACHABLE_HINT}"
        )

    def unauthorized(self) -> str:
        return f"401 Unauthorized: {self.credentials} were refused by {self.server} — {self.renew}"


def shown_url(url: str) -> str:
    """`url` without a user name or password in it."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def unreachable_reason(error: BaseException) -> str:
    """A few words for why a connection failed, from the errors urllib3 wraps (the first one
    that explains it, outermost first)."""
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending:
        exc = pending.pop(0)
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        reason = _explained(exc)
        if reason:
            return reason
        inner = [getattr(exc, "reason", None), exc.__cause__, exc.__context__, *exc.args]
        pending += [e for e in inner if isinstance(e, BaseException)]
    text = str(error)
    return text if len(text) <= 200 else text[:197] + "..."


def _explained(exc: BaseException) -> str:
    if isinstance(exc, urllib3.exceptions.NameResolutionError):
        return "the host name does not resolve"
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return ""  # a subclass of ConnectTimeoutError: its cause says what happened
    if isinstance(exc, urllib3.exceptions.ConnectTimeoutError | TimeoutError):
        return "timed out"
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return "no answer in time (read timed out)"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"its certificate is not trusted ({getattr(exc, 'verify_message', '') or exc})"
    if isinstance(exc, ssl.SSLError):
        return f"the TLS handshake failed ({exc.reason or exc})"
    if isinstance(exc, OSError) and exc.errno and exc.strerror:
        return str(exc.strerror).lower()  # connection refused, no route to host, …
    return ""


def config_problem(*, flag: str, path: str, context: str | None, detail: str) -> str:
    """Why no client could be made from the kubeconfig `path` (KUBECONFIG may list several
    files): it does not exist, it has no context `context`, or the client library's `detail`.
    `flag`: the --cluster value."""
    prefix = f"{flag}: no usable Kubernetes configuration"
    files = [Path(p).expanduser() for p in path.split(os.pathsep) if p]
    if not any(f.exists() for f in files):
        where = "" if context else " and this is not a pod with a service account"
        inside = "" if context else ", or run inside a cluster"
        return (
            f"{prefix}: the kubeconfig {path} does not exist{where}; set KUBECONFIG to your "
            f"cluster's kubeconfig file{inside}"
        )
    contexts = context_names(files)
    if context and context not in contexts:
        return (
            f"{prefix}: the kubeconfig {path} has no context {context} (it has: "
            f"{', '.join(contexts) or 'none'}); name one of those, or use --cluster kube for "
            "its current context"
        )
    return f"{prefix} ({detail}); set KUBECONFIG or run inside a cluster"


def context_names(files: Sequence[Path]) -> list[str]:
    """The names of the contexts the kubeconfig files define (unreadable files: none)."""
    names: list[str] = []
    for file in files:
        try:
            data = YAML(typ="safe", pure=True).load(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, YAMLError):
            continue
        contexts = data.get("contexts") if isinstance(data, dict) else None
        for entry in contexts if isinstance(contexts, list) else ():
            if isinstance(entry, dict) and entry.get("name"):
                names.append(str(entry["name"]))
    return names
