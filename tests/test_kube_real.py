"""Opt-in tier against a real cluster: `pytest -m kube` with KUBECONFIG set (skipped otherwise).

Everything it creates is named `gitops-edge-e2e-<random>` (namespaces, the owner identity in the
test repositories' gitops-edge.yaml, a ClusterRole and its binding) and deleted afterwards;
a session-wide check lists the DaemonSets, namespaces, ClusterRoles and ClusterRoleBindings
outside those names before the first test and after the last, and fails if any disappeared.
Scenarios:
- a rollout in a namespace of its own (once listing on every observe, once through the loop's
  watch-fed cache): an AdvancedRollingUpdate DaemonSet is created, its image changed, and
  passes are run until every Ready node's pod is current, checking the budget among Ready nodes
  after every pass and that no DaemonSet outside its namespace was created or deleted;
- RBAC: the same rollout as the reconciler's ServiceAccount (impersonated), bound to a copy of
  deploy/reconciler-rbac.yaml's ClusterRole: the role suffices;
- agent confinement: a node identity (`system:node:NODE`, group `system:nodes`, impersonated)
  is refused (403, NodeRestriction) the deletion and the status patch of a pod bound to another
  node; skipped where the cluster runs no Node authorizer/NodeRestriction or the test may not
  impersonate;
- namespaces: a repository declaring its own namespace reconciled into a cluster without it
  (skipped until the repository may declare `v1` Namespaces);
- a KubeEdge node job round trip (skipped without KubeEdge's CRDs).
Needs permission to create and delete namespaces, DaemonSets, pods, ServiceAccounts,
ClusterRoles and ClusterRoleBindings, and to impersonate users, groups and service accounts
(cluster-admin has all of it); runs on whatever nodes the cluster has (NotReady ones must be
deferred).
"""

from __future__ import annotations

import json
import math
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from gitops_edge.cluster import kube
from gitops_edge.cluster.base import ClusterError
from gitops_edge.cluster.kube_cluster import KubeCluster
from gitops_edge.model.kinds import KINDS
from gitops_edge.reconciler.apply import FAILED
from gitops_edge.reconciler.reconcile import load_desired, reconcile_once
from gitops_edge.repository.yamldoc import load_documents

pytestmark = [
    pytest.mark.kube,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG is not set"),
]

PREFIX = "gitops-edge-e2e-"  # every name this tier creates starts with it
ROOT = Path(__file__).resolve().parent.parent
PAUSE = "registry.k8s.io/pause:3.9"
CONFIG = """apiVersion: gitops-edge.io/v1alpha1
kind: RepositoryConfig
metadata:
  name: {namespace}
spec:
  defaultNamespace: {namespace}
"""

DAEMONSET = """apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: gitops-edge-e2e
  namespace: {namespace}
  annotations:
    apps.openyurt.io/update-strategy: AdvancedRollingUpdate
    apps.openyurt.io/max-unavailable: 30%
spec:
  selector:
    matchLabels: {{app: gitops-edge-e2e}}
  updateStrategy:
    type: OnDelete
  template:
    metadata:
      labels: {{app: gitops-edge-e2e}}
    spec:
      tolerations: [{{operator: Exists}}]
      containers:
        - name: pause
          image: registry.k8s.io/pause:{tag}
"""


Outside = set[tuple[str, str, str, str]]  # (kind, namespace, name, uid)


def outside_the_tier() -> Outside:
    """The DaemonSets, namespaces, ClusterRoles and ClusterRoleBindings this tier did not
    create (their names, or their namespace's, do not start with PREFIX)."""
    core, apps, rbac = client.CoreV1Api(), client.AppsV1Api(), client.RbacAuthorizationV1Api()
    listed = (
        ("DaemonSet", apps.list_daemon_set_for_all_namespaces().items),
        ("Namespace", core.list_namespace().items),
        ("ClusterRole", rbac.list_cluster_role().items),
        ("ClusterRoleBinding", rbac.list_cluster_role_binding().items),
    )
    return {
        (kind, o.metadata.namespace or "", o.metadata.name, o.metadata.uid)
        for kind, items in listed
        for o in items
        if not (o.metadata.namespace or o.metadata.name).startswith(PREFIX)
        and not o.metadata.name.startswith(PREFIX)
    }


def disappeared(before: Outside, after: Outside) -> list[str]:
    return [
        f"{kind} {ns + '/' if ns else ''}{name}" for kind, ns, name, _ in sorted(before - after)
    ]


@pytest.fixture(scope="session", autouse=True)
def nothing_outside_the_tier_disappears() -> Iterator[None]:
    config.load_kube_config()
    before = outside_the_tier()
    yield
    gone = disappeared(before, outside_the_tier())
    if gone:
        pytest.fail(f"the kube tier deleted (or replaced) what it did not create: {gone}")


@pytest.fixture
def namespace() -> Iterator[str]:
    core = client.CoreV1Api()
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    try:
        yield name
    finally:
        core.delete_namespace(name)


def impersonating(user: str, *groups: str) -> client.ApiClient:
    """A client from KUBECONFIG that acts as `user` (in `groups`): the Impersonate-User and
    Impersonate-Group headers (for a service account, the API server adds its groups)."""
    api = kube.api_client_for(None, None)
    api.set_default_header("Impersonate-User", user)
    for group in groups:  # one header per group; this client sends one at most
        api.set_default_header("Impersonate-Group", group)
    return api


def reconciler_rules() -> list[dict[str, Any]]:
    """The rules of deploy/reconciler-rbac.yaml's ClusterRole."""
    path = ROOT / "deploy" / "reconciler-rbac.yaml"
    documents, problems = load_documents(path.name, path.read_text(encoding="utf-8"))
    assert problems == [], problems
    (role,) = [d.data for d in documents if d.data.get("kind") == "ClusterRole"]
    return list(role["rules"])


def refusal(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body).get("message", exc.body))
    except (TypeError, ValueError):
        return str(exc.body)


@pytest.mark.parametrize("cached", [False, True], ids=["listing", "watch-cache"])
def test_rollout_on_a_real_cluster(namespace: str, tmp_path: Path, cached: bool) -> None:
    """Listing on every observe (`plan`, `--once`) and from the loop's watch-fed cache, whose
    view must never let a pass exceed the budget."""
    with KubeCluster.connect(None) as cluster:
        roll_out(cluster, repo=tmp_path / "repo", namespace=namespace, cached=cached)


def roll_out(cluster: KubeCluster, *, repo: Path, namespace: str, cached: bool) -> None:
    """Create the DaemonSet, wait for its pods, change its image and run passes until every
    Ready node's pod is current, never beyond the budget, touching nothing outside."""
    repo.mkdir()
    (repo / "gitops-edge.yaml").write_text(CONFIG.format(namespace=namespace))
    ds_file = repo / "ds.yaml"
    others = _elsewhere(cluster, namespace)
    if cached:
        cluster.start_cache()
    ds_file.write_text(DAEMONSET.format(namespace=namespace, tag="3.9"))
    created = reconcile_once(load_desired(repo, revision="v1"), cluster)
    assert [r.detail for r in created.results if r.outcome == FAILED] == []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # wait for the first pods
        pods = [p for p in cluster.observe().pods if p.namespace == namespace]
        if pods and all(p.ready for p in pods):
            break
        time.sleep(5)
    ds_file.write_text(DAEMONSET.format(namespace=namespace, tag="3.10"))
    desired = load_desired(repo, revision="v2")
    for _ in range(60):
        outcome = reconcile_once(desired, cluster)
        assert [r.detail for r in outcome.results if r.outcome == FAILED] == []
        observed = cluster.observe()
        ready = {n.name for n in observed.nodes if n.ready}
        ds = next(d for d in observed.daemonsets if d.namespace == namespace)
        mine = [p for p in observed.pods if p.owner_name == ds.name]
        budget = math.ceil(0.3 * len({p.node for p in mine}))
        down = {p.node for p in mine if p.node in ready and (not p.ready or p.deleting)}
        assert len(down) <= max(budget, 1)
        assert _elsewhere(cluster, namespace) == others  # nothing outside was touched
        if all(p.revision_hash == ds.current_revision and p.ready for p in mine if p.node in ready):
            return
        time.sleep(10)
    pytest.fail("the rollout did not complete on the Ready nodes in 10 minutes")


def test_reconciler_role_suffices_for_a_rollout_as_its_service_account(
    namespace: str, tmp_path: Path
) -> None:
    """deploy/reconciler-rbac.yaml's ClusterRole, copied under this run's name and bound to a
    ServiceAccount of the test namespace; the rollout runs impersonating that account (through
    the loop's watch-fed cache: list and watch, as the Deployment runs)."""
    rbac, core = client.RbacAuthorizationV1Api(), client.CoreV1Api()
    account = "reconciler"
    core.create_namespaced_service_account(namespace, {"metadata": {"name": account}})
    role = {"metadata": {"name": namespace}, "rules": reconciler_rules()}
    binding = {
        "metadata": {"name": namespace},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": namespace,
        },
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
    }
    try:
        rbac.create_cluster_role(role)
        rbac.create_cluster_role_binding(binding)
        api = impersonating(f"system:serviceaccount:{namespace}:{account}")
        with KubeCluster(api) as cluster:
            _wait_until_authorized(cluster)
            roll_out(cluster, repo=tmp_path / "repo", namespace=namespace, cached=True)
    finally:
        for delete in (rbac.delete_cluster_role_binding, rbac.delete_cluster_role):
            try:
                delete(namespace)
            except ApiException as exc:
                if exc.status != 404:
                    raise


def _wait_until_authorized(cluster: KubeCluster) -> None:
    """The first observation as the impersonated account, once the new binding is in force (the
    authorizer's cache follows it within moments); skips when the test may not impersonate."""
    deadline = time.monotonic() + 30
    while True:
        try:
            cluster.observe()
            return
        except ClusterError as exc:
            if "cannot impersonate" in str(exc):
                pytest.skip(f"the test's credentials may not impersonate: {exc}")
            if " 403 " not in f" {exc} " or time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_a_node_identity_cannot_delete_or_patch_a_pod_bound_to_another_node(
    namespace: str,
) -> None:
    """As the agent's credential (the kubelet's): `system:node:NODE` in group `system:nodes`,
    for a real NODE. The pod is bound to another node (on a one-node cluster, a node that does
    not exist: the pod stays Pending, and NodeRestriction judges by spec.nodeName alone)."""
    core = client.CoreV1Api()
    nodes = sorted(n.metadata.name for n in core.list_node().items)
    me = nodes[0]
    other = nodes[1] if len(nodes) > 1 else f"{namespace}-no-such-node"
    pod = core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "elsewhere"},
            "spec": {
                "nodeName": other,
                "containers": [{"name": "pause", "image": PAUSE}],
                "tolerations": [{"operator": "Exists"}],
                "terminationGracePeriodSeconds": 0,
            },
        },
    )
    node = client.CoreV1Api(impersonating(f"system:node:{me}", "system:nodes"))
    try:
        node.read_namespaced_pod("elsewhere", namespace)  # the Node authorizer lets nodes read pods
    except ApiException as exc:
        if exc.status != 403:
            raise
        if "cannot impersonate" in refusal(exc):
            pytest.skip(f"the test's credentials may not impersonate: {refusal(exc)}")
        pytest.skip(f"no Node authorizer (a node identity may not read pods): {refusal(exc)}")
    try:  # a dry run first: where NodeRestriction is off, nothing is deleted
        node.delete_namespaced_pod("elsewhere", namespace, dry_run="All")
    except ApiException as exc:
        assert exc.status == 403, refusal(exc)
    else:
        pytest.skip("the cluster does not run NodeRestriction: a node may delete any pod")
    with pytest.raises(ApiException) as deleted:
        node.delete_namespaced_pod("elsewhere", namespace)
    assert deleted.value.status == 403
    assert f'node "{me}" can only delete pods with spec.nodeName set to itself' in refusal(
        deleted.value
    )
    forged = {"status": {"conditions": [{"type": "PodNeedUpgrade", "status": "False"}]}}
    with pytest.raises(ApiException) as patched:
        node.patch_namespaced_pod_status(
            "elsewhere",
            namespace,
            forged,
            _content_type="application/strategic-merge-patch+json",
        )
    assert patched.value.status == 403
    assert f'node "{me}" can only update pod status for pods with spec.nodeName set to itself' in (
        refusal(patched.value)
    )
    still = core.read_namespaced_pod("elsewhere", namespace)
    assert still.metadata.uid == pod.metadata.uid and not still.metadata.deletion_timestamp
    types = {c.type for c in still.status.conditions or ()}
    assert "PodNeedUpgrade" not in types


NAMESPACE_DOC = """apiVersion: v1
kind: Namespace
metadata:
  name: {namespace}
"""


@pytest.mark.skipif(
    ("v1", "Namespace") not in KINDS,
    reason="the repository cannot declare v1 Namespaces yet (issue 15 item 1, branch h6)",
)
def test_a_repository_declaring_its_namespace_reconciles_into_a_cluster_without_it(
    tmp_path: Path,
) -> None:
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    core, apps = client.CoreV1Api(), client.AppsV1Api()
    with pytest.raises(ApiException) as absent:
        core.read_namespace(name)
    assert absent.value.status == 404
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "gitops-edge.yaml").write_text(CONFIG.format(namespace=name))
    (repo / "namespace.yaml").write_text(NAMESPACE_DOC.format(namespace=name))
    (repo / "ds.yaml").write_text(DAEMONSET.format(namespace=name, tag="3.9"))
    try:
        with KubeCluster.connect(None) as cluster:
            outcome = reconcile_once(load_desired(repo, revision="v1"), cluster)
        assert [r.detail for r in outcome.results if r.outcome == FAILED] == []
        assert core.read_namespace(name).metadata.name == name
        assert apps.read_namespaced_daemon_set("gitops-edge-e2e", name).metadata.namespace == name
    finally:
        try:
            core.delete_namespace(name)
        except ApiException as exc:
            if exc.status != 404:
                raise


def _elsewhere(cluster: KubeCluster, namespace: str) -> set[tuple[str, str, str]]:
    """DaemonSets outside the test's namespace: (namespace, name, uid)."""
    return {
        (d.namespace, d.name, d.uid)
        for d in cluster.observe().daemonsets
        if d.namespace != namespace
    }


def test_node_job_round_trip_on_a_real_cluster() -> None:
    """Create, read back and delete a harmless ImagePrePullJob (its only node does not exist)
    in the newest served version; skipped where KubeEdge's node-job CRDs are absent."""
    with KubeCluster.connect(None) as cluster:
        versions = cluster.observe().job_versions
        if not versions:
            pytest.skip("operations.kubeedge.io is not served (KubeEdge CRDs absent)")
        version, name = versions[-1], f"gitops-edge-e2e-{uuid.uuid4().hex[:8]}"
        cluster.create_node_job(
            {
                "apiVersion": f"operations.kubeedge.io/{version}",
                "kind": "ImagePrePullJob",
                "metadata": {
                    "name": name,
                    "labels": {
                        "app.kubernetes.io/managed-by": "gitops-edge",
                        "gitops-edge.io/owner": name,  # an identity no repository has
                    },
                    "annotations": {"gitops-edge.io/job-api-version": version},
                },
                "spec": {
                    "imagePrePullTemplate": {
                        "images": ["registry.k8s.io/pause:3.10"],
                        "nodeNames": [f"{name}-no-such-node"],
                    }
                },
            }
        )
        try:
            (job,) = [j for j in cluster.observe().jobs if j.name == name]
            assert job.api_version.endswith(version) and job.managed
        finally:
            cluster.delete_node_job(f"operations.kubeedge.io/{version}", "ImagePrePullJob", name)
