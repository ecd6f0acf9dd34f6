"""Who is asking, for the stand-in API server (`kube_standin.StandIn.gate`): bearer tokens mapped
to users, SelfSubjectReview, and what the real API server lets a node identity do with pods.

Modelled on Kubernetes v1.28 with the Node authorizer, RBAC and the NodeRestriction admission
plugin on (DESIGN §8):
- a node identity is user `system:node:NAME` in group `system:nodes`
  (pkg/auth/nodeidentifier/default.go: both are required);
- the Node authorizer allows it the static rules of bootstrappolicy.NodeRules()
  (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go); for the resources this stand-in
  serves: pods get/list/watch/create/delete, pods/status update/patch, pods/eviction create,
  nodes get/list/watch/create/update/patch, nodes/status update/patch, events
  create/update/patch, services get/list/watch. Nothing on DaemonSets, ControllerRevisions,
  Jobs or KubeEdge's node jobs. (From v1.32, AuthorizeNodeWithSelectors also narrows pod get and
  list to the node's own pods; not modelled: v1.28 lets a node read every pod.)
- NodeRestriction (plugin/pkg/admission/noderestriction/admission.go) then lets it delete only
  pods whose spec.nodeName is itself (admitPod), update the status only of such pods and not
  their labels (admitPodStatus), and create only mirror pods bound to itself (admitPodCreate);
- every authenticated user may create a SelfSubjectReview (system:basic-user) and read
  discovery (system:discovery).
Refusals are 403 Status bodies shaped like the API server's (responsewriters.forbiddenMessage,
admission.NewForbidden); unknown or missing tokens are 401. Other users are allowed what the
test grants them (`User.grants`; None: everything, as system:masters).
No side effects beyond answering requests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import kmock

if TYPE_CHECKING:
    from kube_standin import StandIn

NODES_GROUP = "system:nodes"
NODE_PREFIX = "system:node:"
NODE_NAME_CLAIM = "authentication.kubernetes.io/node-name"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
Grant = tuple[str, str, str]  # (apiGroup, resource[/subresource], verb)
NODE_RULES: frozenset[Grant] = frozenset(
    [("", "pods", v) for v in ("get", "list", "watch", "create", "delete")]
    + [("", "pods/status", v) for v in ("update", "patch")]
    + [("", "pods/eviction", "create")]
    + [("", "nodes", v) for v in ("get", "list", "watch", "create", "update", "patch")]
    + [("", "nodes/status", v) for v in ("update", "patch")]
    + [("", "events", v) for v in ("create", "update", "patch")]
    + [("", "services", v) for v in ("get", "list", "watch")]
)
EVERYONE: frozenset[Grant] = frozenset({("authentication.k8s.io", "selfsubjectreviews", "create")})
VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()
    grants: frozenset[Grant] | None = frozenset()  # for non-node users; None: everything

    @property
    def node(self) -> str | None:
        """The node this user is, as the Node authorizer and NodeRestriction identify it."""
        if self.name.startswith(NODE_PREFIX) and NODES_GROUP in self.groups:
            return self.name.removeprefix(NODE_PREFIX)
        return None

    def user_info(self) -> dict[str, Any]:
        return {
            "username": self.name,
            "groups": [*self.groups, "system:authenticated"],
            **({"extra": {k: list(v) for k, v in self.extra}} if self.extra else {}),
        }


def node_user(name: str) -> User:
    """A kubelet's identity (its client certificate: CN system:node:NAME, O system:nodes)."""
    return User(f"{NODE_PREFIX}{name}", (NODES_GROUP,))


@dataclass(frozen=True)
class Attributes:
    """A request as the authorizer sees it."""

    verb: str
    group: str
    resource: str  # with "/subresource"
    namespace: str
    name: str

    @property
    def qualified(self) -> str:
        base = self.resource.partition("/")[0]
        return f"{base}.{self.group}" if self.group else base


def attributes(method: str, path: str, params: dict[str, str]) -> Attributes | None:
    """The authorizer's view of a request; None for a non-resource request (discovery)."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    if not rest:
        return None
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    resource, name = rest[0], rest[1] if len(rest) > 1 else ""
    if len(rest) > 2:
        resource += "/" + rest[2]
    if method == "GET":
        verb = "get" if name else ("watch" if params.get("watch") == "true" else "list")
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = VERBS.get(method, method.lower())
    return Attributes(verb, group, resource, namespace, name)


@dataclass
class Identities:
    """The stand-in's authentication and authorization: `tokens` maps bearer tokens to users."""

    tokens: dict[str, User] = field(default_factory=dict)
    refused: list[tuple[str, Attributes, str]] = field(default_factory=list)  # (user, request, why)

    def __call__(self, api: StandIn, req: kmock.Request) -> kmock.Response | None:
        method, path = str(req.method.value).upper(), req.url.path
        auth = str(req.headers.get("Authorization") or "")
        user = self.tokens.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
        if user is None:
            return _status(401, "Unauthorized", "Unauthorized")
        attrs = attributes(method, path, dict(req.params))
        if attrs is None:
            return None  # discovery: every authenticated user (system:discovery)
        if (attrs.group, attrs.resource, attrs.verb) in EVERYONE:
            return self._review(user)
        node = user.node
        if node is None:
            if user.grants is None or (attrs.group, attrs.resource, attrs.verb) in user.grants:
                return None
            return self._refuse(user.name, attrs, _forbidden_by_rbac(user.name, attrs))
        if (attrs.group, attrs.resource, attrs.verb) not in NODE_RULES:
            return self._refuse(user.name, attrs, _forbidden_by_rbac(user.name, attrs))
        body = json.loads(req.body) if req.body else {}
        why = _node_restriction(api, node, attrs, body)
        return self._refuse(user.name, attrs, why) if why else None

    def _refuse(self, user: str, attrs: Attributes, message: str) -> kmock.Response:
        self.refused.append((user, attrs, message))
        return _status(
            403,
            f'{attrs.qualified} "{attrs.name}" is forbidden: {message}'
            if attrs.name
            else f"{attrs.qualified} is forbidden: {message}",
            "Forbidden",
            details={"name": attrs.name, "group": attrs.group, "kind": attrs.qualified},
        )

    def _review(self, user: User) -> kmock.Response:
        return kmock.Response(
            status=201,
            payload={
                "kind": "SelfSubjectReview",
                "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"creationTimestamp": None},
                "status": {"userInfo": user.user_info()},
            },
        )


def _forbidden_by_rbac(user: str, attrs: Attributes) -> str:
    where = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    return (
        f'User "{user}" cannot {attrs.verb} resource "{attrs.resource}" in API group '
        f'"{attrs.group}" {where}'
    )


def _node_restriction(api: StandIn, node: str, attrs: Attributes, body: dict[str, Any]) -> str:
    """NodeRestriction's refusal of a node's pod write ("" when admitted)."""
    if (
        attrs.group
        or not attrs.resource.startswith("pods")
        or attrs.verb
        not in (
            "create",
            "delete",
            "update",
            "patch",
        )
    ):
        return ""
    if attrs.resource == "pods" and attrs.verb == "create":  # admitPodCreate
        meta = body.get("metadata") or {}
        if MIRROR_ANNOTATION not in (meta.get("annotations") or {}):
            return (
                f'pod does not have "{MIRROR_ANNOTATION}" annotation, node "{node}" can only '
                "create mirror pods"
            )
        if (body.get("spec") or {}).get("nodeName") != node:
            return f'node "{node}" can only create pods with spec.nodeName set to itself'
        return ""
    existing = api.store["pods"].get((attrs.namespace, attrs.name))
    if existing is None:
        return ""  # the stand-in answers 404, as the API server does
    bound = (existing.get("spec") or {}).get("nodeName")
    if attrs.resource == "pods":  # admitPod, delete
        if bound != node:
            return f'node "{node}" can only delete pods with spec.nodeName set to itself'
        return ""
    if attrs.resource == "pods/status":  # admitPodStatus
        if bound != node:
            return (
                f'node "{node}" can only update pod status for pods with spec.nodeName set to '
                "itself"
            )
        before = dict(existing["metadata"].get("labels") or {})
        after = {**before, **((body.get("metadata") or {}).get("labels") or {})}
        if {k: v for k, v in after.items() if v is not None} != before:
            return f'node "{node}" cannot update labels through pod status'
        return ""
    return ""  # pods/eviction: not served by the stand-in


def _status(
    code: int, message: str, reason: str, *, details: dict[str, str] | None = None
) -> kmock.Response:
    return kmock.Response(
        status=code,
        payload={
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            **({"details": details} if details else {}),
            "code": code,
        },
    )
