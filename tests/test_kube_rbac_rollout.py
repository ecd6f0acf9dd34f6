"""A whole rollout of example-repo through the Kubernetes adapter against the stand-in API
server enforcing exactly the reconciler's ClusterRole from deploy/reconciler-rbac.yaml, as an
in-cluster reconciler runs (DESIGN §8: a server-side apply that creates its object needs
`create`): DaemonSets and node jobs created on an empty cluster, OTA conditions marked, a new
version applied, pods deleted and marked, a workload and a node job pruned; listing on every
pass and through the loop's watch-fed cache. The test plays the DaemonSet controller."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from kube_standin import Obj, StandIn, running
from standin_rbac import Role, cluster_role

from gitops_edge.apply import DONE, FAILED, ActionResult
from gitops_edge.cli.main import main
from gitops_edge.cluster import kube
from gitops_edge.cluster.kube import KubeCluster, Retrier
from gitops_edge.cluster.sim_controller import node_is_eligible, template_hash
from gitops_edge.observed import REVISION_HASH_LABEL, TEMPLATE_GENERATION_LABEL
from gitops_edge.reconcile import load_desired, reconcile_once

ROOT = Path(__file__).resolve().parent.parent
RECONCILER_ROLE = cluster_role(ROOT / "deploy" / "reconciler-rbac.yaml", "gitops-edge-reconciler")
READY_LONG_AGO = "2020-01-01T00:00:00Z"  # every pod is past its minReadySeconds


def play_daemonset_controller(api: StandIn, names: Iterator[int]) -> None:
    """What kube-controller-manager's DaemonSet controller does, at once: a ControllerRevision
    for a new template, and a Ready pod of the newest revision on each eligible node without
    one (pods that are there stay: OnDelete)."""
    for (namespace, name), ds in list(api.store["daemonsets"].items()):
        template = ds["spec"].get("template") or {}
        digest, uid = template_hash(template), ds["metadata"]["uid"]
        owner = {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": name, "uid": uid}
        owned = [
            r
            for r in api.store["controllerrevisions"].values()
            if any(ref.get("uid") == uid for ref in r["metadata"].get("ownerReferences") or ())
        ]
        if all(r["metadata"]["labels"][REVISION_HASH_LABEL] != digest for r in owned):
            api.put(
                "controllerrevisions",
                {
                    "metadata": {
                        "name": f"{name}-{digest}",
                        "namespace": namespace,
                        "labels": {REVISION_HASH_LABEL: digest},
                        "ownerReferences": [{**owner, "controller": True}],
                    },
                    "revision": len(owned) + 1,
                    "data": {"spec": {"template": template}},
                },
            )
        hosting = {
            p["spec"]["nodeName"]
            for p in api.store["pods"].values()
            if any(ref.get("uid") == uid for ref in p["metadata"].get("ownerReferences") or ())
        }
        for node in list(api.store["nodes"].values()):
            node_name = node["metadata"]["name"]
            if node_name in hosting or not node_is_eligible(template.get("spec") or {}, node):
                continue
            labels = (template.get("metadata") or {}).get("labels") or {}
            api.put("pods", _pod(f"{name}-{next(names)}", namespace, node_name, owner, labels, ds))


def _pod(name: str, namespace: str, node: str, owner: Obj, labels: Obj, ds: Obj) -> Obj:
    generation = str(ds["metadata"]["generation"])
    digest = template_hash(ds["spec"].get("template") or {})
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                **labels,
                REVISION_HASH_LABEL: digest,
                TEMPLATE_GENERATION_LABEL: generation,
            },
            "ownerReferences": [{**owner, "controller": True}],
        },
        "spec": {"nodeName": node},
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": READY_LONG_AGO}
            ]
        },
    }


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{path}: {old!r} not found"
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.mark.parametrize("cached", [False, True], ids=["listing", "watch-cache"])
def test_a_whole_rollout_needs_nothing_the_reconciler_role_does_not_grant(
    tmp_path: Path, cached: bool
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "example-repo", repo)
    names = itertools.count(1)
    with running() as api:
        api.authorizer = RECONCILER_ROLE.allows
        api.job_versions = ["v1alpha1", "v1alpha2"]
        for pool, count in (("hangzhou", 3), ("shanghai", 2)):
            for i in range(count):
                api.put(
                    "nodes",
                    {
                        "metadata": {
                            "name": f"{pool}-{i}",
                            "labels": {
                                "apps.openyurt.io/nodepool": pool,
                                "node-role.kubernetes.io/edge": "",
                                "node-role.kubernetes.io/agent": "",
                            },
                        },
                        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
                    },
                )
        client = kube.api_client_for(str(api.kubeconfig(tmp_path / "kubeconfig")), None)
        with KubeCluster(client, retrier=Retrier(sleep=lambda _: None)) as cluster:
            if cached:
                cluster.start_cache(idle_delay=0.02)
            done: list[ActionResult] = []

            def reconcile() -> list[str]:
                outcome = reconcile_once(load_desired(repo, revision="r"), cluster)
                failed = [r.detail for r in outcome.results if r.outcome == FAILED]
                assert failed == []
                assert outcome.last_plan.errors == ()
                done.extend(r for r in outcome.results if r.outcome == DONE)
                return [r.action.reason for r in outcome.results if r.outcome == DONE]

            created = reconcile()  # an empty cluster: namespaces first, then every DaemonSet
            assert created[:4] == [  # and node job
                f"create Namespace {ns} (declared at namespaces.yaml:{line})"
                for ns, line in (
                    ("edge-apps", 4),
                    ("edge-system", 9),
                    ("monitoring", 14),
                    ("ota-demo", 19),
                )
            ]
            assert any(
                r.startswith("create DaemonSet edge-system/log-agent-hangzhou ") for r in created
            )
            assert any(reason.startswith("create NodeUpgradeJob") for reason in created)
            play_daemonset_controller(api, names)
            reconcile()  # OTA pods get PodNeedUpgrade=False
            edit(repo / "workloads" / "log-agent.yaml", "log-agent:1.4.3", "log-agent:1.4.4")
            edit(repo / "workloads" / "ota-updater.yaml", "ota-updater:2.3.0", "ota-updater:2.3.1")
            reconcile()  # the DaemonSets are updated
            play_daemonset_controller(api, names)  # new revisions
            reconcile()  # hangzhou's log-agent pods are deleted, the OTA pods marked
            (repo / "workloads" / "node-exporter.yaml").unlink()
            (repo / "jobs" / "upgrade-example.yaml").unlink()
            edit(repo / "gitops-edge.yaml", "jobs: false", "jobs: true")
            reconcile()  # node-exporter and the node job are pruned
    kinds = {type(r.action).__name__ for r in done}
    assert {
        "ApplyDaemonSet",
        "SetPodCondition",
        "DeletePod",
        "PruneDaemonSet",
        "CreateNodeJob",
        "DeleteNodeJob",
    } <= kinds
    verbs = {(a.combined, a.verb) for a in api.authorizations}
    assert {("daemonsets", "create"), ("daemonsets", "patch"), ("pods/status", "patch")} <= verbs
    assert {("namespaces", "list"), ("namespaces", "create")} <= verbs


def test_a_refused_apply_is_a_failed_action_naming_the_missing_permission(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    without_create = Role(
        tuple(
            replace(rule, verbs=tuple(v for v in rule.verbs if v != "create"))
            if "daemonsets" in rule.resources
            else rule
            for rule in RECONCILER_ROLE.rules
        )
    )
    with running() as api:
        api.authorizer = without_create.allows
        api.job_versions = ["v1alpha1", "v1alpha2"]
        monkeypatch.setenv("KUBECONFIG", str(api.kubeconfig(tmp_path / "kubeconfig")))
        code = main(["reconcile", str(ROOT / "example-repo"), "--cluster", "kube", "--once"])
    out = capsys.readouterr().out
    assert code == 1
    lines = [
        line for line in out.splitlines() if "DaemonSet edge-system/log-agent-hangzhou" in line
    ]
    assert lines and all(line.startswith("FAIL create ") for line in lines)
    assert (
        'apply DaemonSet edge-system/log-agent-hangzhou: 403 daemonsets.apps "log-agent-hangzhou" '
        'is forbidden: User "system:serviceaccount:gitops-edge:gitops-edge-reconciler" cannot '
        'create resource "daemonsets" in API group "apps" in the namespace "edge-system" — grant '
        "that permission to the account gitops-edge runs as (deploy/ has the roles it needs)"
    ) in lines[0]
    assert api.store["daemonsets"] == {}
