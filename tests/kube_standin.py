"""A stand-in Kubernetes API server on loopback for the adapter's tests and benchmark.

kmock (pinned) serves real HTTP; this module holds the objects and adds what the adapter relies
on and kmock's emulator lacks (DESIGN §8): label and field selectors, `limit`/`continue`
pagination (a continue token from below the compaction point: 410 Gone, reason Expired),
resourceVersions, watches (every write is an event; resume from a resourceVersion, 410 Gone
below a compaction point), DELETE with a uid precondition (409 Conflict when it does not
hold), graceful pod deletion (a bound pod gets `metadata.deletionTimestamp` and stays
Terminating until its node's kubelet confirms: at once while the node is Ready or absent, as the
pod garbage collector does for a vanished node; never while it is NotReady, until
`set_node_ready` brings it back: MODIFIED, then DELETED), a strategic-merge patch of pod
conditions by type (a `metadata.uid` in it that is not the pod's answers 422 Invalid, `field is
immutable`, as the real server does), server-side apply as create-or-update (with generation,
the API server's defaults and canonical quantities: `apiserver_defaults`), hand edits, cascading
DaemonSet deletion, a pod's Jobs deleted with the pod (the garbage collector, for the pre-pull
Jobs' ownerReference), injected failures (409/429/5xx with Retry-After), refused credentials (every
request 401 Unauthorized, a switch), and KubeEdge's node job CRDs in the versions a test
declares (discovery, paged lists, create, get, delete; one stored object served at every
declared version, as with conversion strategy None), and core/v1 Events (`k8s_events`: create,
get, strategic merge patch; the API server's namespace rules for them). It runs no controllers
(`standin_controllers` plays them). Every request is recorded for assertions on request counts,
and so is what it is authorized as (`standin_rbac`: verb, API group, resource/subresource; an
apply that creates its object is also a `create`); with an `authorizer` (e.g. a ClusterRole from
deploy/), a request it does not allow answers 403 Forbidden as the real server does.
Namespaces (DESIGN §8): `/api/v1/namespaces` is served (list, get, server-side apply, create,
delete: deleting one deletes what is in it at once, the namespace controller's work); default,
kube-system, kube-public and kube-node-lease exist from the start, and seeding an object (`put`)
makes its namespace exist; a create or server-side apply of a namespaced object in a namespace
that does not exist answers 404 `namespaces "NAME" not found` with details {name, kind:
namespaces}, as NamespaceLifecycle admission does.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kmock
import kmock._internal.parsing as kmock_parsing
from apiserver_defaults import default_daemonset
from standin_leases import PATH as LEASE_PATH
from standin_leases import Leases
from standin_rbac import RECONCILER_USER, Attributes, forbidden, request_attributes

Obj = dict[str, Any]
Key = tuple[str, str]
_LIST = re.compile(
    r"/(api/v1|apis/apps/v1|apis/batch/v1)/(nodes|pods|daemonsets|controllerrevisions|jobs)"
)
_JOB = re.compile(
    r"/apis/operations\.kubeedge\.io/(v1alpha1|v1alpha2)/"
    r"(nodeupgradejobs|imageprepulljobs|configupdatejobs)(?:/([^/]+))?"
)
_ITEM = re.compile(
    r"/(api/v1|apis/apps/v1|apis/batch/v1)/namespaces/([^/]+)/(pods|daemonsets|jobs)"
    r"(?:/([^/]+))?(/status)?"
)
_NAMESPACE = re.compile(r"/api/v1/namespaces(?:/([^/]+))?")
_EVENT = re.compile(r"/api/v1/namespaces/([^/]+)/events(?:/([^/]+))?")
# The API server's answer (410 Gone, reason Expired) to a continue token older than the last
# compaction (apiserver storage/etcd3, `NewResourceExpired`).
CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted between "
    "the time the first chunk was returned and now may show up in the list."
)
SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
SERVER_VERSION = {  # GET /version of a kube-apiserver v1.28 (its fields; values of a build)
    "major": "1",
    "minor": "28",
    "gitVersion": "v1.28.15",
    "gitCommit": "841856557ef0f6a399096c42635d114d6f2cf7f4",
    "gitTreeState": "clean",
    "buildDate": "2024-10-22T20:28:14Z",
    "goVersion": "go1.22.8",
    "compiler": "gc",
    "platform": "linux/amd64",
}
JOB_PLURALS = {
    "NodeUpgradeJob": "nodeupgradejobs",
    "ImagePrePullJob": "imageprepulljobs",
    "ConfigUpdateJob": "configupdatejobs",
}
# Plurals whose CRD defines only some versions (KubeEdge's ConfigUpdateJob: v1alpha2).
JOB_PLURAL_VERSIONS = {"configupdatejobs": ("v1alpha2",)}
KINDS = {
    "nodes": "Node",
    "pods": "Pod",
    "daemonsets": "DaemonSet",
    "controllerrevisions": "ControllerRevision",
    "jobs": "Job",
}


_kmock_parse_path = kmock_parsing.parse_path


def _parse_path(path: str) -> kmock_parsing.ParsedPath:
    """kmock 0.8 fails to parse the namespace collection `/api/v1/namespaces` itself (it reads
    `namespaces` as the start of a namespaced path and finds no name): parse it as a list."""
    if path.rstrip("/") == "/api/v1/namespaces":
        return kmock_parsing.ParsedPath(group="", version="v1", plural="namespaces")
    return _kmock_parse_path(path)


kmock_parsing.parse_path = _parse_path


@dataclass
class Injected:
    method: str
    path: str  # prefix
    status: int
    retry_after: str | None = None


@dataclass
class StandIn:
    store: dict[str, dict[Key, Obj]] = field(
        default_factory=lambda: {resource: {} for resource in KINDS}
    )
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    failures: list[Injected] = field(default_factory=list)
    url: str = ""
    groups: list[str] = field(default_factory=lambda: ["apps"])  # served API groups
    job_versions: list[str] = field(default_factory=list)  # operations.kubeedge.io, [] = no CRDs
    jobs: dict[tuple[str, str], Obj] = field(default_factory=dict)  # (plural, name) → object
    config_update_crd: bool = True  # configupdatejobs served (KubeEdge >= 1.21's CRD installed)
    # Watch events per resource, (rv, type, object as it was then); a test may turn recording
    # off while seeding a large fleet, or hold events back (a watch then sees nothing new).
    events: dict[str, list[tuple[int, str, Obj]]] = field(
        default_factory=lambda: {resource: [] for resource in KINDS}
    )
    record_events: bool = True
    hold_events: bool = False
    broken_watches: set[str] = field(default_factory=set)  # paths whose watches answer 500
    compacted: int = 0  # watches and continue tokens from a version below: 410 Gone
    # Every authorization the requests needed, in order (what tests derive RBAC grants from);
    # with an `authorizer`, what it does not allow answers 403 Forbidden to `user`.
    authorizations: list[Attributes] = field(default_factory=list)
    authorizer: Callable[[Attributes], bool] | None = None
    user: str = RECONCILER_USER
    reject_credentials: bool = False  # every request answers 401 Unauthorized (a revoked token)
    namespaces: dict[str, Obj] = field(
        default_factory=lambda: {n: _namespace_object(n) for n in SYSTEM_NAMESPACES}
    )
    # Who may do what (e.g. kube_identity.Identities): sees each request first and answers it
    # (401, 403, an endpoint of its own) or returns None to let it through. None: anyone may.
    gate: Callable[[StandIn, kmock.Request], kmock.Response | None] | None = None
    # core/v1 Events by (namespace, name): the Kubernetes Events the reconciler records (not
    # the watch `events` above).
    k8s_events: dict[Key, Obj] = field(default_factory=dict)
    leases: Leases = field(default_factory=Leases)
    # (monotonic time, Authorization header, method, path) of every request but GETs
    writes: list[tuple[float, str, str, str]] = field(default_factory=list)
    _rv: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _uid: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _writes: int = 0  # bumped by every write: invalidates the filtered-list cache
    _filtered: dict[tuple[str, str, str], tuple[int, list[Obj]]] = field(default_factory=dict)

    # ── seeding ──────────────────────────────────────────────────────────────────────────────

    def put(self, resource: str, obj: Obj) -> Obj:
        self._writes += 1
        meta = obj.setdefault("metadata", {})
        if resource != "nodes":
            meta.setdefault("namespace", "default")
            self.namespaces.setdefault(meta["namespace"], _namespace_object(meta["namespace"]))
        meta.setdefault("uid", f"uid-{next(self._uid)}")
        meta["resourceVersion"] = str(next(self._rv))
        obj.setdefault("kind", KINDS[resource])
        key = (meta.get("namespace", ""), meta["name"])
        self._record(resource, "MODIFIED" if key in self.store[resource] else "ADDED", obj)
        self.store[resource][key] = obj
        return obj

    def add_namespace(self, name: str) -> None:
        """Create a namespace, as `kubectl create namespace` would."""
        self.namespaces.setdefault(name, _namespace_object(name))

    def _record(self, resource: str, kind: str, obj: Obj) -> None:
        if self.record_events:
            rv = int(obj["metadata"]["resourceVersion"])
            self.events[resource].append((rv, kind, json.loads(json.dumps(obj))))

    def fail_next(
        self, method: str, path: str, status: int, *, retry_after: str | None = None
    ) -> None:
        self.failures.append(Injected(method, path, status, retry_after))

    def kubeconfig(self, path: Path, *, token: str = "not-a-secret") -> Path:
        return write_kubeconfig(path, self.url, token=token)

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _ in self.requests if m == method and p == path)

    # ── serving ──────────────────────────────────────────────────────────────────────────────

    def respond(self, req: kmock.Request) -> kmock.Response:
        method, path = str(req.method.value).upper(), req.url.path
        params = dict(req.params)
        self.requests.append((method, path, params))
        if method != "GET":
            token = str(req.headers.get("Authorization") or "")
            self.writes.append((time.monotonic(), token, method, path))
        if self.reject_credentials:  # the authenticator's answer, before any authorization
            return _status(401, "Unauthorized", reason="Unauthorized")
        denied = self._authorize(req, method, path, params)
        if denied is not None:
            return denied
        if self.gate is not None and (answer := self.gate(self, req)) is not None:
            return answer
        for injected in self.failures:
            if injected.method == method and path.startswith(injected.path):
                self.failures.remove(injected)
                headers = {"Retry-After": injected.retry_after} if injected.retry_after else {}
                return _status(injected.status, "injected failure", headers)
        body = json.loads(req.body) if req.body else None
        if method == "GET" and path in ("/version", "/version/"):  # kube-apiserver v1.28
            return kmock.Response(status=200, payload=SERVER_VERSION)
        if method == "GET" and path in ("/apis", "/apis/"):  # discovery
            groups = [{"name": g, "versions": [{"groupVersion": f"{g}/v1"}]} for g in self.groups]
            if self.job_versions:
                groups.append(
                    {
                        "name": "operations.kubeedge.io",
                        "versions": [
                            {"groupVersion": f"operations.kubeedge.io/{v}", "version": v}
                            for v in self.job_versions
                        ],
                        "preferredVersion": {"version": self.job_versions[-1]},
                    }
                )
            return kmock.Response(status=200, payload={"kind": "APIGroupList", "groups": groups})
        if method == "GET" and params.get("watch") == "true" and (m := _LIST.fullmatch(path)):
            if path in self.broken_watches:
                return _status(500, "watch broken by the test")
            return self._watch(m[2], params)
        if (j := _JOB.fullmatch(path)) is not None:
            return self._job(method, j[1], j[2], j[3], body, params)
        if (e := _EVENT.fullmatch(path)) is not None:
            return self._k8s_event(method, e[1], e[2], body)
        if (n := _NAMESPACE.fullmatch(path)) is not None:
            return self._namespace(method, n[1], body)
        if (lease := LEASE_PATH.fullmatch(path)) is not None:
            code, answer = self.leases.serve(
                method,
                lease[1],
                lease[2],
                body,
                next_version=lambda: str(next(self._rv)),
                namespace_exists=lease[1] in self.namespaces,
            )
            return kmock.Response(status=code, payload=answer)
        if method == "GET" and (m := _LIST.fullmatch(path)):
            return self._list(m[2], params)
        m = _ITEM.fullmatch(path)
        if m is None:
            return _status(404, f"the server could not find the requested resource {path}")
        namespace, resource, name, status = m[2], m[3], m[4], bool(m[5])
        creates = method == "POST" or (method == "PATCH" and "fieldManager" in params)
        if creates and namespace not in self.namespaces:  # NamespaceLifecycle admission
            return _status(
                404,
                f'namespaces "{namespace}" not found',
                reason="NotFound",
                details={"name": namespace, "kind": "namespaces"},
            )
        if method == "POST" and name is None and body is not None:  # create (201, as a server)
            body.setdefault("metadata", {})["namespace"] = namespace
            if (namespace, body["metadata"]["name"]) in self.store[resource]:
                return _status(409, f'{resource} "{body["metadata"]["name"]}" already exists')
            return kmock.Response(status=201, payload=self.put(resource, body))
        if name is None:
            return _status(405, "method not allowed")
        key = (namespace, name)
        if method == "PATCH" and resource == "daemonsets" and "fieldManager" not in params:
            return self._patch_daemonset(key, body or {})
        if method == "PATCH" and resource == "daemonsets":
            return self._apply(key, body, params)
        obj = self.store[resource].get(key)
        if obj is None:
            return _status(404, f'{resource} "{name}" not found')
        if method == "GET":
            return kmock.Response(status=200, payload=obj)
        if method == "DELETE":
            return self._delete(resource, key, body)
        if method == "PATCH" and resource == "pods" and status:
            return self._patch_status(obj, body)
        return _status(405, "method not allowed")

    def _authorize(
        self, req: kmock.Request, method: str, path: str, params: dict[str, str]
    ) -> kmock.Response | None:
        """Authorize a resource request as the API server does (see `standin_rbac`): the
        filter checks the request's verb; a server-side apply of an absent object must also be
        allowed to `create` it. None when allowed, else the 403 response."""
        attributes = request_attributes(method, path, params)
        if attributes is None:
            return None  # discovery
        checks = [attributes]
        apply = str(req.headers.get("Content-Type", "")).startswith("application/apply-patch")
        if method == "PATCH" and apply and not self._exists(attributes):
            checks.append(replace(attributes, verb="create"))
        for check in checks:
            self.authorizations.append(check)
            if self.authorizer is not None and not self.authorizer(check):
                return kmock.Response(status=403, payload=forbidden(check, self.user))
        return None

    def _exists(self, attributes: Attributes) -> bool:
        if attributes.resource == "namespaces":
            return attributes.name in self.namespaces
        if attributes.resource in self.store:
            return (attributes.namespace, attributes.name) in self.store[attributes.resource]
        return (attributes.resource, attributes.name) in self.jobs

    def _job(
        self,
        method: str,
        version: str,
        plural: str,
        name: str | None,
        body: Obj | None,
        params: dict[str, str],
    ) -> kmock.Response:
        if version not in self.job_versions or version not in JOB_PLURAL_VERSIONS.get(
            plural, (version,)
        ):
            return _status(404, "the server could not find the requested resource")
        if plural == "configupdatejobs" and not self.config_update_crd:
            return _status(404, "the server could not find the requested resource")
        if method == "POST" and name is None and body is not None:
            key = (plural, body["metadata"]["name"])
            if key in self.jobs:
                return _status(409, f'{plural} "{key[1]}" already exists')
            meta = body["metadata"]
            meta.update(uid=f"uid-{next(self._uid)}", resourceVersion=str(next(self._rv)))
            self.jobs[key] = body
            return kmock.Response(status=201, payload=body)
        if method == "GET" and name is not None:
            job = self.jobs.get((plural, name))
            if job is None:
                return _status(404, "not found")
            return kmock.Response(status=200, payload=_as_version(job, version))
        if method == "GET":  # list, paged: every object in the version asked (conversion None)
            items = [j for (p, _), j in sorted(self.jobs.items()) if p == plural]
            start = int(params.get("continue") or 0)
            limit = int(params.get("limit") or 0) or len(items) or 1
            more = start + limit < len(items)
            kind = next(k for k, p in JOB_PLURALS.items() if p == plural)
            return kmock.Response(
                status=200,
                payload={
                    "apiVersion": f"operations.kubeedge.io/{version}",
                    "kind": f"{kind}List",
                    "metadata": {
                        "resourceVersion": str(next(self._rv)),
                        "continue": str(start + limit) if more else "",
                    },
                    "items": [_as_version(j, version) for j in items[start : start + limit]],
                },
            )
        if method == "DELETE" and name is not None:
            if self.jobs.pop((plural, name), None) is None:
                return _status(404, "not found")
            return kmock.Response(status=200, payload={"kind": "Status", "status": "Success"})
        return _status(405, "method not allowed")

    def _namespace(self, method: str, name: str | None, body: Obj | None) -> kmock.Response:
        """Namespaces: list, create, get, server-side apply (create or update of labels and
        annotations), delete (what is in it goes at once)."""
        if name is None and method == "GET":
            items = [self.namespaces[n] for n in sorted(self.namespaces)]
            meta = {"resourceVersion": str(next(self._rv)), "continue": ""}
            payload = {"kind": "NamespaceList", "apiVersion": "v1", "metadata": meta}
            return kmock.Response(status=200, payload={**payload, "items": items})
        if name is None and method == "POST" and body is not None:
            name = str(body["metadata"]["name"])
            if name in self.namespaces:
                return _status(409, f'namespaces "{name}" already exists')
            method = "PATCH"
        if name is None:
            return _status(405, "method not allowed")
        if method == "PATCH" and body is not None:
            stored = self.namespaces.setdefault(name, _namespace_object(name))
            meta = body.get("metadata") or {}
            labels = {**(meta.get("labels") or {}), "kubernetes.io/metadata.name": name}
            stored["metadata"].update(
                labels=labels, annotations=dict(meta.get("annotations") or {})
            )
            stored["metadata"]["resourceVersion"] = str(next(self._rv))
            return kmock.Response(status=200, payload=stored)
        if name not in self.namespaces:
            return _status(
                404,
                f'namespaces "{name}" not found',
                reason="NotFound",
                details={"name": name, "kind": "namespaces"},
            )
        if method == "GET":
            return kmock.Response(status=200, payload=self.namespaces[name])
        if method == "DELETE":
            for resource, objects in self.store.items():
                for key in [k for k in objects if k[0] == name]:
                    self._remove(resource, key)
            return kmock.Response(status=200, payload=self.namespaces.pop(name))
        return _status(405, "method not allowed")

    def _k8s_event(
        self, method: str, namespace: str, name: str | None, body: Obj | None
    ) -> kmock.Response:
        """core/v1 Events: create (NamespaceLifecycle, then the legacy validation of an Event
        without eventTime: its namespace is its object's, or default for a cluster-scoped one;
        409 when the name is taken), get, and a strategic merge patch of its fields."""
        if method == "POST" and name is None and body is not None:
            if namespace not in self.namespaces:
                return _status(
                    404,
                    f'namespaces "{namespace}" not found',
                    reason="NotFound",
                    details={"name": namespace, "kind": "namespaces"},
                )
            involved = (body.get("involvedObject") or {}).get("namespace", "")
            if involved != namespace and not (involved == "" and namespace == "default"):
                return _invalid(
                    "Event", body["metadata"]["name"], "involvedObject.namespace", involved
                )
            key = (namespace, body["metadata"]["name"])
            if key in self.k8s_events:
                return _status(409, f'events "{key[1]}" already exists', reason="AlreadyExists")
            body["metadata"].update(
                namespace=namespace,
                uid=f"uid-{next(self._uid)}",
                resourceVersion=str(next(self._rv)),
            )
            self.k8s_events[key] = body
            return kmock.Response(status=201, payload=body)
        stored = self.k8s_events.get((namespace, name or ""))
        if name is None or stored is None:
            return _status(404, f'events "{name}" not found', reason="NotFound")
        if method == "GET":
            return kmock.Response(status=200, payload=stored)
        if method == "PATCH" and body is not None:
            for field_name, value in body.items():
                if isinstance(value, dict):
                    stored.setdefault(field_name, {}).update(value)
                else:
                    stored[field_name] = value
            stored["metadata"]["resourceVersion"] = str(next(self._rv))
            return kmock.Response(status=200, payload=stored)
        return _status(405, "method not allowed")

    def set_job_status(self, plural: str, name: str, status: Obj) -> None:
        """Write a node job's status, as KubeEdge's controllers would."""
        self.jobs[(plural, name)]["status"] = status

    def set_node_ready(self, name: str, ready: bool) -> None:
        """Flip a node's Ready condition, as the node lifecycle controller would."""
        self._writes += 1
        obj = self.store["nodes"][("", name)]
        obj["status"]["conditions"] = [{"type": "Ready", "status": "True" if ready else "False"}]
        obj["metadata"]["resourceVersion"] = str(next(self._rv))
        self._record("nodes", "MODIFIED", obj)
        self._kubelet_confirms(name)  # back: its kubelet finishes the deletions it missed

    def _watch(self, resource: str, params: dict[str, str]) -> kmock.Response:
        """The events after the resourceVersion asked for that match the label selector, then
        the stream ends (as a server-side watch timeout does); 410 Gone below `compacted`."""
        since = int(params.get("resourceVersion") or 0)
        if since < self.compacted:
            gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}
            return kmock.Response(status=200, payload=json.dumps(gone).encode() + b"\n")
        if self.hold_events:
            return kmock.Response(status=200, payload=b"")
        selector = params.get("labelSelector", "")
        lines = [
            json.dumps({"type": kind, "object": obj}).encode() + b"\n"
            for rv, kind, obj in self.events[resource]
            if rv > since and (not selector or _labels_match(obj, selector))
        ]
        return kmock.Response(status=200, payload=b"".join(lines) or b"")

    def _list(self, resource: str, params: dict[str, str]) -> kmock.Response:
        selectors = (params.get("labelSelector", ""), params.get("fieldSelector", ""))
        cache_key = (resource, *selectors)
        cached = self._filtered.get(cache_key)
        if cached is not None and cached[0] == self._writes:
            items = cached[1]  # the next page of the same list: filter once, not per page
        else:
            items = list(self.store[resource].values())  # insertion order: stable
            if selectors[0]:
                items = [o for o in items if _labels_match(o, selectors[0])]
            if selectors[1]:
                items = [o for o in items if _fields_match(o, selectors[1])]
            self._filtered[cache_key] = (self._writes, items)
        # The continue token carries the first page's resourceVersion: every page of one list
        # reports it, as the API server's paginated lists do (one consistent snapshot).
        offset, _, version = (params.get("continue") or "").partition(":")
        if version and int(version) < self.compacted:  # etcd compacted it away meanwhile
            return _status(410, CONTINUE_EXPIRED, reason="Expired")
        start = int(offset or 0)
        version = version or str(next(self._rv))
        limit = int(params.get("limit") or 0) or len(items) or 1
        page = items[start : start + limit]
        more = start + limit < len(items)
        meta = {
            "resourceVersion": version,
            "continue": f"{start + limit}:{version}" if more else "",
        }
        return kmock.Response(
            status=200,
            payload={
                "kind": f"{KINDS[resource]}List",
                "apiVersion": "v1",
                "metadata": meta,
                "items": page,
            },
        )

    def _apply(self, key: Key, body: Obj, params: dict[str, str]) -> kmock.Response:
        if params.get("fieldManager") != "gitops-edge":
            return _status(422, "server-side apply needs a fieldManager")
        body = default_daemonset(body)  # stored as the API server stores it
        existing = self.store["daemonsets"].get(key)
        meta = body.setdefault("metadata", {})
        meta["namespace"] = key[0]
        if existing is None:
            meta["generation"] = 1
        else:
            old = existing["metadata"]
            meta["uid"] = old["uid"]
            changed = existing.get("spec") != body.get("spec")
            meta["generation"] = old["generation"] + (1 if changed else 0)
        return kmock.Response(status=200, payload=self.put("daemonsets", body))

    def _patch_daemonset(self, key: Key, body: Obj) -> kmock.Response:
        """A merge patch of annotations (null removes), or a template replaced whole
        (`$patch: replace`, as `kubectl rollout undo` sends)."""
        obj = self.store["daemonsets"].get(key)
        if obj is None:
            return _status(404, "not found")
        for name, value in ((body.get("metadata") or {}).get("annotations") or {}).items():
            annotations = obj["metadata"].setdefault("annotations", {})
            if value is None:
                annotations.pop(name, None)
            else:
                annotations[name] = value
        template = (body.get("spec") or {}).get("template")
        if template is not None:
            obj["spec"]["template"] = {k: v for k, v in template.items() if k != "$patch"}
            obj["metadata"]["generation"] += 1
        return kmock.Response(status=200, payload=self.put("daemonsets", obj))

    def edit_daemonset(self, namespace: str, name: str, edit: Callable[[Obj], None]) -> Obj:
        """Change a stored DaemonSet by hand, as `kubectl edit` / `kubectl set image` would:
        `edit` mutates it in place, annotations are kept, `metadata.generation` goes up when the
        spec changed, a MODIFIED event is recorded. The new ControllerRevision the DaemonSet
        controller would create for a new template is not (no controllers run here): `put` it."""
        obj = self.store["daemonsets"][(namespace, name)]
        before = json.loads(json.dumps(obj.get("spec")))
        edit(obj)
        if obj.get("spec") != before:
            obj["metadata"]["generation"] = int(obj["metadata"].get("generation") or 1) + 1
        return self.put("daemonsets", obj)

    def _delete(self, resource: str, key: Key, body: Obj | None) -> kmock.Response:
        obj = self.store[resource][key]
        wanted = ((body or {}).get("preconditions") or {}).get("uid")
        if wanted and wanted != obj["metadata"]["uid"]:
            return _status(  # storage's precondition check, as a Conflict
                409,
                f'Operation cannot be fulfilled on {resource} "{key[1]}": Precondition failed: '
                f"UID in precondition: {wanted}, UID in object meta: {obj['metadata']['uid']}",
            )
        if resource == "pods":
            return self._delete_pod(key, obj, body or {})
        self._remove(resource, key)
        if resource == "daemonsets":  # cascade (the garbage collector, instantly)
            uid = obj["metadata"]["uid"]
            for res in ("pods", "controllerrevisions"):
                for k, o in list(self.store[res].items()):
                    refs = o["metadata"].get("ownerReferences") or []
                    if any(r.get("uid") == uid for r in refs):
                        self._remove(res, k)
        return kmock.Response(status=200, payload={"kind": "Status", "status": "Success"})

    def _delete_pod(self, key: Key, obj: Obj, options: Obj) -> kmock.Response:
        """Graceful deletion (apiserver's pod `CheckGracefulDelete`): the grace period is the
        request's, else the pod's `terminationGracePeriodSeconds`, else 30 (its default); an
        unbound or finished pod, or a grace period of 0, is removed at once. Otherwise the pod
        is marked (deletionTimestamp, deletionGracePeriodSeconds: a MODIFIED event) and answered
        as it is now; its kubelet then confirms, if it can. Deleting a Terminating pod again
        changes nothing."""
        meta, spec = obj["metadata"], obj.get("spec") or {}
        grace = options.get("gracePeriodSeconds")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", 30)
        phase = (obj.get("status") or {}).get("phase")
        if not spec.get("nodeName") or phase in ("Succeeded", "Failed") or grace == 0:
            self._remove("pods", key)
            return kmock.Response(status=200, payload=obj)
        if not meta.get("deletionTimestamp"):
            self._writes += 1
            meta["deletionTimestamp"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            meta["deletionGracePeriodSeconds"] = int(grace)
            meta["resourceVersion"] = str(next(self._rv))
            self._record("pods", "MODIFIED", obj)
        answer = json.loads(json.dumps(obj))
        self._kubelet_confirms(spec["nodeName"])
        return kmock.Response(status=200, payload=answer)

    def _kubelet_confirms(self, node: str) -> None:
        """The kubelet of `node` finishes the graceful deletions of its pods (a DELETED event
        each), unless the node is NotReady: it cannot, until the node comes back."""
        host = self.store["nodes"].get(("", node))
        conditions = ((host or {}).get("status") or {}).get("conditions") or ()
        ready = host is None or any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
        )
        if not ready:
            return
        for key, pod in list(self.store["pods"].items()):
            bound = (pod.get("spec") or {}).get("nodeName")
            if bound == node and pod["metadata"].get("deletionTimestamp"):
                self._remove("pods", key)

    def _remove(self, resource: str, key: Key) -> None:
        """Delete an object at once (no graceful deletion), as a DELETED event. A pod that is
        gone takes the Jobs it owns with it (the garbage collector, instantly: the pre-pull
        Jobs' ownerReference names the pod's uid)."""
        obj = self.store[resource].pop(key)
        self._writes += 1
        obj["metadata"]["resourceVersion"] = str(next(self._rv))
        self._record(resource, "DELETED", obj)
        if resource == "pods":
            uid = obj["metadata"]["uid"]
            for k, job in list(self.store["jobs"].items()):
                if any(r.get("uid") == uid for r in job["metadata"].get("ownerReferences") or ()):
                    self._remove("jobs", k)

    def remove(self, resource: str, namespace: str, name: str) -> None:
        """Delete an object as a controller would (the DaemonSet controller, a pod eviction)."""
        self._remove(resource, (namespace, name))

    def _patch_status(self, obj: Obj, body: Obj) -> kmock.Response:
        wanted = (body.get("metadata") or {}).get("uid")
        if wanted and wanted != obj["metadata"]["uid"]:  # the patched object changes its uid
            return _invalid("Pod", obj["metadata"]["name"], "metadata.uid", wanted)
        self._writes += 1
        conditions = obj.setdefault("status", {}).setdefault("conditions", [])
        for patch in (body.get("status") or {}).get("conditions") or []:  # merge key: type
            conditions[:] = [c for c in conditions if c.get("type") != patch.get("type")]
            conditions.append(patch)
        obj["metadata"]["resourceVersion"] = str(next(self._rv))
        self._record("pods", "MODIFIED", obj)
        return kmock.Response(status=200, payload=obj)


def write_kubeconfig(path: Path, server: str, *, token: str = "not-a-secret") -> Path:
    """A kubeconfig with one context, "standin", for `server` (plain HTTP, a bearer token)."""
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "standin", "cluster": {"server": server}}],
                "users": [{"name": "tester", "user": {"token": token}}],
                "contexts": [
                    {"name": "standin", "context": {"cluster": "standin", "user": "tester"}}
                ],
                "current-context": "standin",
            }
        )
    )
    return path


def _status(
    code: int,
    message: str,
    headers: dict[str, str] | None = None,
    *,
    reason: str = "",
    details: Obj | None = None,
) -> kmock.Response:
    payload: Obj = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message}
    if reason:
        payload["reason"] = reason
    if details:
        payload["details"] = details
    return kmock.Response(status=code, payload={**payload, "code": code}, headers=headers or {})


def _namespace_object(name: str) -> Obj:
    """A v1 Namespace as the API server stores it (its name label, phase Active)."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        "status": {"phase": "Active"},
    }


def _invalid(kind: str, name: str, path: str, value: str) -> kmock.Response:
    """422 for an update that changes an immutable field (apimachinery's `NewInvalid` of
    `ValidateImmutableField`)."""
    detail = f'Invalid value: "{value}": field is immutable'
    return kmock.Response(
        status=422,
        payload={
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": f'{kind} "{name}" is invalid: {path}: {detail}',
            "reason": "Invalid",
            "details": {
                "name": name,
                "kind": kind,
                "causes": [{"reason": "FieldValueInvalid", "message": detail, "field": path}],
            },
            "code": 422,
        },
    )


def _labels_match(obj: Obj, selector: str) -> bool:
    labels = obj["metadata"].get("labels") or {}
    for term in filter(None, selector.split(",")):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key.rstrip("=")) != value:
                return False
        elif labels.get(term) is None:
            return False
    return True


def _fields_match(obj: Obj, selector: str) -> bool:
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        current: Any = obj
        for part in key.split("."):
            current = current.get(part) if isinstance(current, dict) else None
        if str(current) != value:
            return False
    return True


@contextmanager
def running() -> Iterator[StandIn]:
    """A StandIn served over HTTP on 127.0.0.1 from a background event loop."""
    api = StandIn()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def serve() -> None:
        stop = asyncio.Event()
        holder["stop"] = stop
        async with kmock.RawHandler() as handler, kmock.Server(handler) as server:
            handler << api.respond
            api.url = str(server.url).rstrip("/")
            ready.set()
            await stop.wait()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("the stand-in API server did not start")
    try:
        yield api
    finally:
        loop.call_soon_threadsafe(holder["stop"].set)
        thread.join(30)
        loop.close()


def _as_version(job: Obj, version: str) -> Obj:
    """A stored custom object served at another version: only apiVersion changes (a CRD with
    conversion strategy None)."""
    group = str(job["apiVersion"]).partition("/")[0]
    return {**job, "apiVersion": f"{group}/{version}"}
