"""The real-cluster tier's own helpers (tests/test_kube_real.py), checked without a cluster:
its impersonating client sends the identity headers the API server reads, the ClusterRole it
copies is deploy/'s, and its safety check names what disappeared."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import kmock
import pytest
from kube_standin import StandIn, running
from kubernetes import client
from standin_rbac import Role, Rule, cluster_role
from test_kube_real import ROOT, disappeared, impersonating, reconciler_rules


@pytest.fixture
def api() -> Iterator[StandIn]:
    with running() as standin:
        yield standin


def test_impersonating_client_sends_the_identity_headers(
    api: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers: list[tuple[str, str]] = []

    def record(_: StandIn, req: kmock.Request) -> None:
        headers.append(
            (str(req.headers.get("Impersonate-User")), str(req.headers.get("Impersonate-Group")))
        )

    api.gate = record
    monkeypatch.setenv("KUBECONFIG", str(api.kubeconfig(tmp_path / "kubeconfig")))
    client.CoreV1Api(impersonating("system:node:n1", "system:nodes")).list_node()
    client.CoreV1Api(impersonating("system:serviceaccount:ns:reconciler")).list_node()
    assert headers == [
        ("system:node:n1", "system:nodes"),
        ("system:serviceaccount:ns:reconciler", "None"),  # the server adds an account's groups
    ]


def test_the_role_the_tier_binds_is_deploys_reconciler_role() -> None:
    rules = reconciler_rules()
    copied = Role(
        tuple(Rule(tuple(r["apiGroups"]), tuple(r["resources"]), tuple(r["verbs"])) for r in rules)
    )
    assert copied == cluster_role(
        ROOT / "deploy" / "reconciler-rbac.yaml", "gitops-edge-reconciler"
    )


def test_the_safety_check_names_what_disappeared() -> None:
    before = {
        ("DaemonSet", "kube-system", "kube-proxy", "u1"),
        ("Namespace", "", "prod", "u2"),
        ("ClusterRole", "", "admin", "u3"),
    }
    replaced = {
        ("DaemonSet", "kube-system", "kube-proxy", "u9"),
        ("ClusterRole", "", "admin", "u3"),
    }
    assert disappeared(before, before) == []
    assert disappeared(before, replaced) == ["DaemonSet kube-system/kube-proxy", "Namespace prod"]
