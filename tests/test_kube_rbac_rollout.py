"""A whole rollout of example-repo through the Kubernetes adapter against the stand-in API
server enforcing exactly the reconciler's ClusterRole from deploy/reconciler-rbac.yaml, as an
in-cluster reconciler runs (DESIGN §8: a server-side apply that creates its object needs
`create`): DaemonSets and node jobs created on an empty cluster, OTA conditions marked, a new
version applied, pods deleted and marked, a workload and a node job pruned; listing on every
pass and through the loop's watch-fed cache. The test plays the DaemonSet controller, the
scheduler and the kubelets as they behave (tests/standin_controllers.py)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from kube_standin import StandIn, running
from standin_controllers import run_daemonset_controller, run_kubelets, run_scheduler
from standin_rbac import Role, cluster_role

from gitops_edge.cli.main import main
from gitops_edge.cluster import kube
from gitops_edge.cluster.kube import Retrier
from gitops_edge.cluster.kube_cluster import KubeCluster
from gitops_edge.reconciler.apply import DONE, FAILED, ActionResult
from gitops_edge.reconciler.event_recorder import EventRecorder
from gitops_edge.reconciler.reconcile import load_desired, reconcile_once

ROOT = Path(__file__).resolve().parent.parent
RECONCILER_ROLE = cluster_role(ROOT / "deploy" / "reconciler-rbac.yaml", "gitops-edge-reconciler")


def play_control_plane(api: StandIn) -> None:
    """What kube-controller-manager's DaemonSet controller, kube-scheduler and the kubelets do
    (`standin_controllers`): a ControllerRevision for a new template at once, a pod Pending
    and pinned to each eligible node without one (pods that are there stay: OnDelete), bound by
    the scheduler and started by the node's kubelet."""
    run_daemonset_controller(api)
    run_scheduler(api)
    run_kubelets(api)


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
            logged: list[str] = []
            events = EventRecorder(
                enabled=True, log=lambda _, message, **__: logged.append(message)
            )

            def reconcile() -> list[str]:
                outcome = reconcile_once(load_desired(repo, revision="r"), cluster)
                events.record(outcome, cluster=cluster, revision="r")
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
            play_control_plane(api)
            reconcile()  # OTA pods get PodNeedUpgrade=False
            edit(repo / "workloads" / "log-agent.yaml", "log-agent:1.4.3", "log-agent:1.4.4")
            edit(repo / "workloads" / "ota-updater.yaml", "ota-updater:2.3.0", "ota-updater:2.3.1")
            reconcile()  # the DaemonSets are updated
            play_control_plane(api)  # new revisions
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
    # Kubernetes Events of every pass, allowed by the role, on the objects the actions changed
    assert logged == [] and ("events", "create") in verbs
    recorded = {
        (e["involvedObject"]["kind"], e["involvedObject"]["name"], e["reason"]): e
        for e in api.k8s_events.values()
    }
    applied = recorded[("DaemonSet", "log-agent-hangzhou", "Applied")]
    assert applied["metadata"]["namespace"] == "edge-system"
    assert applied["involvedObject"]["uid"].startswith("uid-")  # as the stand-in assigned it
    assert applied["metadata"]["annotations"] == {"gitops-edge.io/revision": "r"}
    assert ("DaemonSet", "log-agent-hangzhou", "PodsDeleted") in recorded
    assert ("DaemonSet", "node-exporter-hangzhou", "Pruned") in recorded
    assert ("Namespace", "edge-apps", "Applied") in recorded
    node_job = next(e for (kind, _, reason), e in recorded.items() if kind == "NodeUpgradeJob")
    assert node_job["metadata"]["namespace"] == "default"


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
    (failed,) = [
        e for e in api.k8s_events.values() if e["involvedObject"]["name"] == "log-agent-hangzhou"
    ]
    assert (failed["type"], failed["reason"]) == ("Warning", "ApplyFailed")
    assert 'cannot create resource "daemonsets"' in failed["message"]
