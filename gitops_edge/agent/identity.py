"""Whose credentials the edge agent holds, and whether the API server ties them to its node.

The agent must act as its node (`system:node:NAME` in group `system:nodes`, as the kubelet and
OpenYurt's yurthub do): the Node authorizer and the NodeRestriction admission plugin then let
it delete and patch the status of that node's pods only. A service account token the API server
bound to a pod on the node (user extra `authentication.kubernetes.io/node-name`, Kubernetes ≥
1.30) is accepted too, for clusters that confine it with a ValidatingAdmissionPolicy instead.
`verify` asks the API server who the credentials are (SelfSubjectReview); when it cannot (the
cloud is unreachable, a server older than 1.28), it reads the subject of the kubeconfig's client
certificate, as the API server's x509 authenticator does (CN = user, O = groups).
Side effects: `verify` calls its source (an API request) and may read the certificate file.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gitops_edge.cluster.base import CloudUnreachableError, ClusterError, UnauthorizedError

NODE_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
NODE_NAME_CLAIM = "authentication.kubernetes.io/node-name"
NODE_KUBECONFIG = "/etc/kubernetes/kubelet.conf"
HOW = (
    "give the agent node {node}'s own identity (the kubelet's kubeconfig: --kubeconfig "
    f"{NODE_KUBECONFIG}, as deploy/agent.yaml does) or, on Kubernetes >= 1.30, a service "
    "account token bound to the node and the ValidatingAdmissionPolicy of "
    "deploy/alternatives/agent-vap.yaml"
)
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)
_COMMON_NAME = bytes([0x55, 0x04, 0x03])  # OID 2.5.4.3
_ORGANIZATION = bytes([0x55, 0x04, 0x0A])  # OID 2.5.4.10


@dataclass(frozen=True, slots=True)
class Identity:
    user: str
    groups: tuple[str, ...] = ()
    # a service account token's authentication.kubernetes.io/node-name claim
    node_claim: tuple[str, ...] = ()

    @property
    def node(self) -> str:
        """The node the API server ties these credentials to ("" for none): a node identity as
        kubernetes pkg/auth/nodeidentifier defines it (the name prefix and the group), or a
        service account token bound to a pod on one node."""
        if self.user.startswith(NODE_PREFIX) and NODES_GROUP in self.groups:
            return self.user.removeprefix(NODE_PREFIX)
        if self.user.startswith(SERVICE_ACCOUNT_PREFIX) and len(self.node_claim) == 1:
            return self.node_claim[0]
        return ""

    def describe(self) -> str:
        groups = ", ".join(g for g in self.groups if g != "system:authenticated")
        return f'user "{self.user}"' + (f" (groups {groups})" if groups else "")


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of `verify`: refuse to start (`error`), start with a `warning`, or start."""

    identity: Identity | None
    error: str = ""
    warning: str = ""
    # The API server refused the credentials (401) or could not be reached: the agent's first
    # list of its pods says so in kubectl's words (`cli.agent_cmd.first_contact`).
    api_failed: bool = False


class CredentialSource(Protocol):
    """What `verify` needs from the agent's cloud client (`KubeNodeClient`)."""

    def who_am_i(self) -> Mapping[str, Any]:
        """The API server's userInfo for these credentials (a SelfSubjectReview)."""
        ...

    def client_certificate(self) -> str | None:
        """The client certificate file the credentials use, if any."""
        ...


def identity_from_user_info(info: Mapping[str, Any]) -> Identity:
    extra = info.get("extra") or {}
    return Identity(
        user=str(info.get("username") or ""),
        groups=tuple(str(g) for g in info.get("groups") or ()),
        node_claim=tuple(str(n) for n in extra.get(NODE_NAME_CLAIM) or ()),
    )


def identity_from_certificate(pem: bytes) -> Identity:
    """The user and groups of the first certificate in a PEM file (a kubelet's
    kubelet-client-current.pem holds its key too): subject CN and O values."""
    found = _PEM.search(pem)
    if found is None:
        raise ValueError("no certificate in the file (no BEGIN CERTIFICATE block)")
    try:
        der = base64.b64decode(b"".join(found[1].split()), validate=True)
        names = list(_subject(der))
    except (binascii.Error, ValueError, IndexError) as exc:
        raise ValueError(f"not a readable X.509 certificate ({exc})") from None
    common = [v for oid, v in names if oid == _COMMON_NAME]
    if not common:
        raise ValueError("the certificate's subject has no common name (CN)")
    return Identity(user=common[0], groups=tuple(v for oid, v in names if oid == _ORGANIZATION))


def verify(source: CredentialSource, node: str) -> Check:
    """Whether the agent's credentials are `node`'s (see the module docstring)."""
    how = HOW.format(node=node)
    try:
        identity = identity_from_user_info(source.who_am_i())
        where = "as the API server sees them"
    except ClusterError as exc:
        path = source.client_certificate()
        if path is None:
            if isinstance(exc, CloudUnreachableError):
                return Check(
                    None,
                    warning=f"the agent's identity is not verified: {exc}, and the kubeconfig "
                    "has no client certificate to read it from; starting anyway (the API "
                    "server applies its own rules when it is back)",
                    api_failed=True,
                )
            return Check(
                None,
                error=f"--node {node}: cannot tell whose credentials the agent holds: {exc} "
                "(SelfSubjectReview, authentication.k8s.io/v1, needs Kubernetes >= 1.28) and "
                f"the kubeconfig has no client certificate; {how}",
                api_failed=isinstance(exc, UnauthorizedError),
            )
        try:
            identity = identity_from_certificate(Path(path).read_bytes())
        except (OSError, ValueError) as err:
            return Check(
                None, error=f"--node {node}: cannot read the client certificate {path}: {err}"
            )
        where = f"client certificate {path}"
    return Check(identity, error=_refusal(identity, node=node, where=where, how=how))


def _refusal(identity: Identity, *, node: str, where: str, how: str) -> str:
    bound = identity.node
    if bound == node:
        return ""
    if not bound:
        return (
            f"--node {node}: the agent's credentials are {identity.describe()} ({where}), not "
            "tied to any node: nothing but the agent's own checks would keep them off other "
            f"nodes' pods; {how}"
        )
    if identity.user.startswith(NODE_PREFIX):
        return (
            f"--node {node}: the agent's credentials are node {bound}'s ({identity.user}, "
            f"{where}): the API server lets them change only {bound}'s pods. Run the agent with "
            f"--node {bound}, or give it node {node}'s kubeconfig"
        )
    return (
        f"--node {node}: the agent's service account token ({identity.user}, {where}) is bound "
        f"to node {bound}: run the agent with --node {bound} (the DaemonSet's spec.nodeName)"
    )


# ── a minimal DER reader: just enough of X.509 to find the subject ───────────────────────────


def _element(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start, end) of the content of the DER element at `pos`."""
    tag, length, pos = der[pos], der[pos + 1], pos + 2
    if length & 0x80:
        size = length & 0x7F
        if not 1 <= size <= 4:
            raise ValueError("unsupported DER length")
        length, pos = int.from_bytes(der[pos : pos + size], "big"), pos + size
    if pos + length > len(der):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _children(der: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    pos = start
    while pos < end:
        tag, content, pos = _element(der, pos)
        yield tag, content, pos


def _subject(der: bytes) -> Iterator[tuple[bytes, str]]:
    """(attribute OID, value) of a certificate's subject, in order. RFC 5280: Certificate ::=
    SEQUENCE {tbsCertificate SEQUENCE {[0] version OPTIONAL, serialNumber, signature, issuer,
    validity, subject, …}, …}; Name ::= SEQUENCE OF SET OF SEQUENCE {type OID, value}."""
    _, start, end = _element(der, 0)
    _, start, end = _element(der, start)  # tbsCertificate
    fields = list(_children(der, start, end))
    if fields and fields[0][0] == 0xA0:  # [0] EXPLICIT version
        fields = fields[1:]
    _, start, end = fields[4]
    for _, set_start, set_end in _children(der, start, end):
        for _, attr_start, attr_end in _children(der, set_start, set_end):
            (_, oid_start, oid_end), (_, value_start, value_end) = list(
                _children(der, attr_start, attr_end)
            )[:2]
            value = der[value_start:value_end].decode("utf-8", errors="replace")
            yield der[oid_start:oid_end], value
