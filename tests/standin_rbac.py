"""RBAC for the stand-in API server (`kube_standin`): how a request is authorized, as the real
one does it.

`request_attributes` maps a request to what the API server authorizes (upstream: apiserver's
`RequestInfoFactory.NewRequestInfo`): POST → create, PUT → update, PATCH → patch, DELETE →
delete (deletecollection without a name), GET → get (list without a name, watch with
`watch=true`); `resource/subresource` is a resource of its own; `/api/v1/namespaces/NAME` is the
namespace object. A server-side apply that creates its object is also authorized as `create`
(apiserver's patch handler checks `create` on top of the `patch` the filter checked), which is
`kube_standin`'s part. `Role` holds a ClusterRole's rules and matches them as RBAC does
(upstream: `pkg/apis/rbac/v1/evaluation_helpers.go`): apiGroups, resources (`*`,
`resource/subresource`, `*/subresource`), verbs (`*`) and resourceNames (empty: any). `forbidden`
is the Status body of the 403 the real server answers. Pure functions; no side effects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops_edge.repository.yamldoc import load_documents

# The reconciler's identity in deploy/reconciler-rbac.yaml (its ServiceAccount).
RECONCILER_USER = "system:serviceaccount:gitops-edge:gitops-edge-reconciler"
_PATH = re.compile(r"/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))(?P<rest>/.*)?")
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete", "GET": "get"}


@dataclass(frozen=True, slots=True)
class Attributes:
    """What one resource request is authorized as."""

    verb: str
    group: str
    resource: str
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def combined(self) -> str:
        """`resource` or `resource/subresource`, as RBAC rules name it."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def request_attributes(method: str, path: str, params: dict[str, str]) -> Attributes | None:
    """The attributes of a resource request; None for anything else (discovery: `/apis`,
    `/api`, `/version`: allowed to every authenticated user by system:discovery)."""
    match = _PATH.fullmatch(path)
    if match is None or not (match["rest"] or "").strip("/") or method not in _VERBS:
        return None
    group = match["group"] or ""
    parts = (match["rest"] or "").strip("/").split("/")
    namespace = ""
    if parts[0] == "namespaces" and len(parts) > 1:
        namespace = parts[1]
        if len(parts) > 2 and parts[2] not in _NAMESPACE_SUBRESOURCES:
            parts = parts[2:]  # a namespaced resource; else the namespace object itself
    resource, name, subresource = [*parts, "", ""][:3]
    verb = _VERBS[method]
    if not name and verb == "get":
        verb = "watch" if params.get("watch") in ("true", "1") else "list"
        selector = params.get("fieldSelector", "")
        exact = re.fullmatch(r"metadata\.name==?([^,]+)", selector)
        name = exact[1] if exact else ""
    elif not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(verb, group, resource, subresource, namespace, name)


@dataclass(frozen=True, slots=True)
class Rule:
    """One PolicyRule of a (Cluster)Role (resource rules only)."""

    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    resource_names: tuple[str, ...] = ()

    def allows(self, request: Attributes) -> bool:
        return (
            ("*" in self.verbs or request.verb in self.verbs)
            and ("*" in self.api_groups or request.group in self.api_groups)
            and any(self._resource_matches(r, request) for r in self.resources)
            and (not self.resource_names or request.name in self.resource_names)
        )

    @staticmethod
    def _resource_matches(rule: str, request: Attributes) -> bool:
        if rule in ("*", request.combined):
            return True
        return bool(request.subresource) and rule == f"*/{request.subresource}"


@dataclass(frozen=True, slots=True)
class Role:
    """A ClusterRole's rules: a request is allowed when any rule allows it (RBAC only adds)."""

    rules: tuple[Rule, ...]

    def allows(self, request: Attributes) -> bool:
        return any(rule.allows(request) for rule in self.rules)


def cluster_role(path: Path, name: str) -> Role:
    """The ClusterRole `name` of a manifest file (e.g. deploy/reconciler-rbac.yaml)."""
    (role,) = [
        d
        for d in _manifests(path)
        if d.get("kind") == "ClusterRole" and d["metadata"]["name"] == name
    ]
    return _role(role)


@dataclass(frozen=True, slots=True)
class Grants:
    """What a service account may do: its ClusterRole anywhere, and each Role bound to it in
    that Role's namespace only (RBAC only adds)."""

    cluster: Role
    namespaced: tuple[tuple[str, Role], ...]

    def allows(self, request: Attributes) -> bool:
        return self.cluster.allows(request) or any(
            namespace == request.namespace and role.allows(request)
            for namespace, role in self.namespaced
        )


def service_account_grants(path: Path, *, cluster_role_name: str, account: str) -> Grants:
    """The ClusterRole `cluster_role_name` of a manifest file and the Roles its RoleBindings
    bind to the service account `account`."""
    documents = _manifests(path)
    bound = {
        (d["metadata"]["namespace"], d["roleRef"]["name"])
        for d in documents
        if d.get("kind") == "RoleBinding"
        and any(s.get("name") == account for s in d.get("subjects") or ())
    }
    return Grants(
        cluster=cluster_role(path, cluster_role_name),
        namespaced=tuple(
            (d["metadata"]["namespace"], _role(d))
            for d in documents
            if d.get("kind") == "Role"
            and (d["metadata"]["namespace"], d["metadata"]["name"]) in bound
        ),
    )


def _manifests(path: Path) -> list[dict[str, Any]]:
    documents, problems = load_documents(path.name, path.read_text(encoding="utf-8"))
    assert problems == [], problems
    return [d.data for d in documents]


def _role(role: dict[str, Any]) -> Role:
    return Role(
        tuple(
            Rule(
                api_groups=tuple(rule.get("apiGroups") or ()),
                resources=tuple(rule.get("resources") or ()),
                verbs=tuple(rule.get("verbs") or ()),
                resource_names=tuple(rule.get("resourceNames") or ()),
            )
            for rule in role.get("rules") or ()
            if rule.get("resources")  # nonResourceURLs rules do not apply to resources
        )
    )


def forbidden(request: Attributes, user: str) -> dict[str, Any]:
    """The 403 Status the API server answers (apiserver's `responsewriters.Forbidden` and
    apimachinery's `NewForbidden`)."""
    where = (
        f"in the namespace {_quote(request.namespace)}"
        if request.namespace
        else "at the cluster scope"
    )
    reason = (
        f"User {_quote(user)} cannot {request.verb} resource {_quote(request.combined)} "
        f"in API group {_quote(request.group)} {where}"
    )
    qualified = f"{request.resource}.{request.group}" if request.group else request.resource
    subject = f"{qualified} {_quote(request.name)}" if request.name else qualified
    details: dict[str, Any] = {"kind": request.resource}
    if request.group:
        details["group"] = request.group
    if request.name:
        details["name"] = request.name
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f"{subject} is forbidden: {reason}",
        "reason": "Forbidden",
        "details": details,
        "code": 403,
    }


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
