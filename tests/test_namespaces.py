"""Namespaces (issue 15 item 1): declared v1 Namespaces are validated, applied before the
objects in them and pruned only with `spec.prune.namespaces: true` and this source's owner
label; the simulated cluster has namespaces and refuses an object in a missing one, with the
same error as the Kubernetes adapter; an apply into a missing namespace is a failed action
naming the namespace, never "already gone"."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from gitops_edge.cluster.base import NamespaceMissingError, NotFoundError
from gitops_edge.cluster.sim import SimCluster
from gitops_edge.model.plan import ApplyDaemonSet, ApplyNamespace, PruneDaemonSet, PruneNamespace
from gitops_edge.planner import plan
from gitops_edge.reconciler.apply import DONE, FAILED, apply_actions
from gitops_edge.reconciler.reconcile import load_desired, reconcile_once
from gitops_edge.repository.diagnostics import WARNING
from gitops_edge.repository.validation import validate_repository

CONFIG = """apiVersion: gitops-edge.io/v1alpha1
kind: RepositoryConfig
metadata:
  name: {owner}
spec:
  prune:
    namespaces: {prune}
"""
NAMESPACE = """apiVersion: v1
kind: Namespace
metadata:
  name: {name}
  labels:
    team: edge
---
"""
DAEMONSET = """apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {name}
  namespace: {namespace}
spec:
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: c
          image: registry.example.com/edge/{name}:1.0
---
"""


def write_repo(
    root: Path,
    *,
    namespaces: tuple[str, ...],
    daemonsets: tuple[tuple[str, str], ...],
    owner: str = "fleet",
    prune: bool = False,
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "gitops-edge.yaml").write_text(
        CONFIG.format(owner=owner, prune=str(prune).lower()), encoding="utf-8"
    )
    (root / "namespaces.yaml").write_text(
        "".join(NAMESPACE.format(name=n) for n in namespaces), encoding="utf-8"
    )
    (root / "daemonsets.yaml").write_text(
        "".join(DAEMONSET.format(name=n, namespace=ns) for ns, n in daemonsets), encoding="utf-8"
    )
    return root


def fleet() -> SimCluster:
    return SimCluster.create(groups=[("a", 2)])


def daemonset(namespace: str, name: str) -> dict[str, object]:
    container = {"name": "c", "image": "registry.example.com/edge/x:1"}
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"template": {"spec": {"containers": [container]}}},
    }


# ── the simulated cluster ───────────────────────────────────────────────────────────────────


def test_sim_refuses_a_daemonset_in_a_missing_namespace_as_the_api_server_does() -> None:
    cluster = fleet()
    manifest = {"metadata": {"name": "d", "namespace": "edge-apps"}, "spec": {}}
    with pytest.raises(NamespaceMissingError) as caught:
        cluster.apply_daemonset(manifest)
    assert caught.value.namespace == "edge-apps"
    assert str(caught.value) == (
        'apply DaemonSet edge-apps/d: namespace "edge-apps" does not exist: declare it in the '
        "repository (a v1 Namespace) or create it (kubectl create namespace edge-apps)"
    )
    assert cluster.observe().daemonsets == ()
    with pytest.raises(NamespaceMissingError):
        cluster.create_pull_job({"metadata": {"name": "j", "namespace": "edge-apps"}})


def test_sim_has_the_system_namespaces_and_applies_and_deletes_namespaces() -> None:
    cluster = fleet()
    names = [n.name for n in cluster.observe().namespaces or ()]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]
    cluster.apply_namespace({"metadata": {"name": "edge", "labels": {"team": "x"}}})
    cluster.apply_daemonset(daemonset("edge", "d"))
    (edge,) = [n for n in cluster.observe().namespaces or () if n.name == "edge"]
    assert edge.labels == {"team": "x", "kubernetes.io/metadata.name": "edge"}
    cluster.delete_namespace("edge")  # what is in it goes with it
    assert cluster.observe().daemonsets == ()
    assert "edge" not in cluster.snapshot()["namespaces"]
    with pytest.raises(NotFoundError):
        cluster.delete_namespace("edge")


def test_sim_state_file_from_before_namespaces_keeps_working(tmp_path: Path) -> None:
    state = tmp_path / "cluster.json"
    cluster = SimCluster.create(groups=[("a", 2)], namespaces=("edge",))
    cluster.apply_daemonset(daemonset("edge", "d"))
    cluster.save(state)
    data = json.loads(state.read_text())
    del data["namespaces"]  # as written before namespaces existed
    state.write_text(json.dumps(data))
    with SimCluster.open(state) as loaded:
        names = {n.name for n in loaded.observe().namespaces or ()}
        assert {"default", "kube-system", "edge"} <= names
        loaded.apply_daemonset(daemonset("edge", "e"))


# ── reconciling ─────────────────────────────────────────────────────────────────────────────


def test_declared_namespaces_are_created_before_the_workloads_in_them(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "r", namespaces=("edge",), daemonsets=(("edge", "web"),))
    cluster = fleet()
    outcome = reconcile_once(load_desired(repo, revision="r1"), cluster)
    first = outcome.plans[0].actions
    assert isinstance(first[0], ApplyNamespace) and first[0].create
    assert first[0].reason.startswith("create Namespace edge (declared at namespaces.yaml:1)")
    assert isinstance(first[1], ApplyDaemonSet)
    assert all(r.outcome == DONE for r in outcome.results)
    (edge,) = [n for n in cluster.observe().namespaces or () if n.name == "edge"]
    assert edge.labels["gitops-edge.io/owner"] == "fleet"
    assert edge.labels["app.kubernetes.io/managed-by"] == "gitops-edge"
    assert edge.labels["team"] == "edge"
    # Applied as declared: nothing to do next pass.
    assert plan(load_desired(repo, revision="r2"), cluster.observe()).namespaces == ()


def test_an_apply_into_a_missing_namespace_is_a_failed_action_naming_it(tmp_path: Path) -> None:
    """Before: the 404 was read as "already gone" and the action skipped."""
    repo = write_repo(tmp_path / "r", namespaces=(), daemonsets=(("edge-apps", "web"),))
    outcome = reconcile_once(load_desired(repo, revision="r1"), fleet())
    assert outcome.results and all(r.outcome == FAILED for r in outcome.results)
    for result in outcome.results:
        assert result.detail == (
            'apply DaemonSet edge-apps/web: namespace "edge-apps" does not exist: declare it in '
            "the repository (a v1 Namespace) or create it (kubectl create namespace edge-apps)"
        )


def test_namespaces_are_pruned_only_with_the_flag_and_the_owner_label(tmp_path: Path) -> None:
    cluster = fleet()
    keep = (("edge", "keep"),)
    both = write_repo(tmp_path / "v1", namespaces=("edge", "old"), daemonsets=(*keep, ("old", "d")))
    reconcile_once(load_desired(both, revision="v1"), cluster)
    cluster.apply_namespace({"metadata": {"name": "mine-by-hand"}})  # no owner label
    without_flag = write_repo(tmp_path / "v2", namespaces=("edge",), daemonsets=keep)
    first = plan(load_desired(without_flag, revision="v2"), cluster.observe())
    assert first.namespace_prunes == ()
    assert first.namespace_notes == (
        "Namespace old (owner fleet) is no longer in the repository; not pruned "
        "(spec.prune.namespaces is false)",
    )
    other = write_repo(tmp_path / "v3", namespaces=(), daemonsets=(), owner="other", prune=True)
    assert plan(load_desired(other, revision="v3"), cluster.observe()).namespace_prunes == ()
    flagged = write_repo(tmp_path / "v4", namespaces=("edge",), daemonsets=keep, prune=True)
    planned = plan(load_desired(flagged, revision="v4"), cluster.observe())
    assert [type(a) for a in planned.actions] == [PruneDaemonSet, PruneNamespace]
    assert [p.name for p in planned.namespace_prunes] == ["old"]
    assert "with its DaemonSets d" in planned.namespace_prunes[0].reason
    apply_actions(planned.actions, cluster)
    names = {n.name for n in cluster.observe().namespaces or ()}
    assert "old" not in names and {"edge", "mine-by-hand", "default"} <= names


def test_a_namespace_holding_objects_this_pass_does_not_prune_is_kept(tmp_path: Path) -> None:
    cluster = fleet()
    v1 = write_repo(tmp_path / "v1", namespaces=("shared",), daemonsets=(("shared", "d"),))
    reconcile_once(load_desired(v1, revision="v1"), cluster)
    cluster.apply_daemonset(
        daemonset("shared", "theirs")
    )  # another team's DaemonSet, in our namespace
    v2 = write_repo(tmp_path / "v2", namespaces=(), daemonsets=(("default", "e"),), prune=True)
    planned = plan(load_desired(v2, revision="v2"), cluster.observe())
    assert planned.namespace_prunes == ()
    (note,) = planned.namespace_notes
    assert "pruning it is refused: it still holds DaemonSets this pass does not prune (theirs)" in (
        note
    )
    # Kubernetes' own namespaces are never pruned, whatever their labels say.
    owned = json.loads(planned.daemonsets[0].actions[0].manifest_json)["metadata"]["labels"]  # type: ignore[union-attr]
    cluster.apply_namespace({"metadata": {"name": "kube-public", "labels": owned}})
    again = plan(load_desired(v2, revision="v2"), cluster.observe())
    assert all(p.name != "kube-public" for p in again.namespace_prunes)
    assert any("kube-public" in n and "never pruned" in n for n in again.namespace_notes)


def test_a_backend_that_lists_no_namespaces_gets_them_applied_and_none_pruned(
    tmp_path: Path,
) -> None:
    repo = write_repo(tmp_path / "r", namespaces=("edge",), daemonsets=(), prune=True)
    observed = replace(fleet().observe(), namespaces=None)
    planned = plan(load_desired(repo, revision="r"), observed)
    assert [(a.name, a.create) for a in planned.namespaces] == [("edge", False)]
    assert planned.namespace_prunes == ()


# ── validation ──────────────────────────────────────────────────────────────────────────────


def test_undeclared_namespace_is_a_warning_once_the_repository_declares_some(
    tmp_path: Path,
) -> None:
    repo = write_repo(
        tmp_path / "r", namespaces=("edge",), daemonsets=(("edge", "a"), ("other", "b"))
    )
    result = validate_repository(repo)
    assert result.valid
    (warning,) = result.diagnostics
    assert warning.severity == WARNING and warning.rule == "namespace-undeclared"
    assert (warning.file, warning.line, warning.path) == (
        "daemonsets.yaml",
        21,
        "metadata.namespace",
    )
    assert "kubectl create namespace other" in warning.hint
    none_declared = write_repo(tmp_path / "s", namespaces=(), daemonsets=(("other", "b"),))
    assert validate_repository(none_declared).diagnostics == ()
