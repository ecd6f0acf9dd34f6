"""Leases (`coordination.k8s.io/v1`) for the stand-in API server (`kube_standin`), as the real one
serves them: GET (404 when absent), POST (201; 409 AlreadyExists when the name is taken; 404
`namespaces "NAME" not found` in a missing namespace, as NamespaceLifecycle admission does), PUT
(an update: 409 Conflict "the object has been modified" when the body's `resourceVersion` is not
the stored one, an unconditional update when it carries none; 404 when absent). Every write
gets a new resourceVersion. kmock's own emulator has no PUT and never answers 409.

`history` records every stored version (monotonic time, holder, leaseTransitions), for tests
that check when the lease changed hands. Pure data; the stand-in serves it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PATH = re.compile(r"/apis/coordination\.k8s\.io/v1/namespaces/([^/]+)/leases(?:/([^/]+))?")
Obj = dict[str, Any]
Answer = tuple[int, Obj]  # (HTTP status, body)


@dataclass
class Leases:
    objects: dict[tuple[str, str], Obj] = field(default_factory=dict)
    history: list[tuple[float, str, int]] = field(default_factory=list)

    def serve(
        self,
        method: str,
        namespace: str,
        name: str | None,
        body: Obj | None,
        *,
        next_version: Callable[[], str],
        namespace_exists: bool,
    ) -> Answer:
        if method == "POST" and name is None and body is not None:
            if not namespace_exists:
                return _status(
                    404,
                    f'namespaces "{namespace}" not found',
                    reason="NotFound",
                    details={"name": namespace, "kind": "namespaces"},
                )
            key = (namespace, str(body["metadata"]["name"]))
            if key in self.objects:
                return _status(
                    409,
                    f'leases.coordination.k8s.io "{key[1]}" already exists',
                    reason="AlreadyExists",
                )
            return 201, self._store(key, body, next_version)
        if name is None:
            return _status(405, "method not allowed")
        key = (namespace, name)
        stored = self.objects.get(key)
        if stored is None:
            return _status(404, f'leases.coordination.k8s.io "{name}" not found', reason="NotFound")
        if method == "GET":
            return 200, stored
        if method == "PUT" and body is not None:
            wanted = str((body.get("metadata") or {}).get("resourceVersion") or "")
            if wanted and wanted != stored["metadata"]["resourceVersion"]:
                return _status(
                    409,
                    f'Operation cannot be fulfilled on leases.coordination.k8s.io "{name}": the '
                    "object has been modified; please apply your changes to the latest version "
                    "and try again",
                    reason="Conflict",
                )
            body["metadata"]["uid"] = stored["metadata"]["uid"]
            return 200, self._store(key, body, next_version)
        return _status(405, "method not allowed")

    def _store(self, key: tuple[str, str], body: Obj, next_version: Callable[[], str]) -> Obj:
        meta = body.setdefault("metadata", {})
        meta.update(namespace=key[0], name=key[1], resourceVersion=next_version())
        meta.setdefault("uid", f"lease-{key[0]}-{key[1]}")
        body.update(apiVersion="coordination.k8s.io/v1", kind="Lease")
        self.objects[key] = body
        spec = body.get("spec") or {}
        self.history.append(
            (time.monotonic(), str(spec.get("holderIdentity") or ""), spec.get("leaseTransitions"))
        )
        return body

    def holder(self, namespace: str, name: str) -> str:
        stored = self.objects.get((namespace, name)) or {}
        return str((stored.get("spec") or {}).get("holderIdentity") or "")


def _status(code: int, message: str, *, reason: str = "", details: Obj | None = None) -> Answer:
    payload: Obj = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message}
    if reason:
        payload["reason"] = reason
    if details:
        payload["details"] = details
    return code, {**payload, "code": code}
