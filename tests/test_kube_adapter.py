"""The Kubernetes adapter with the official client over real HTTP, against the stand-in API
server: pagination and request counts, raw-JSON parsing, server-side apply, uid-preconditioned
deletes, the pods/status patch, retries (409, 429 with Retry-After, 5xx), errors per object,
the agent's node-scoped client, and `plan`/`reconcile --cluster kube` end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube_standin import StandIn, running, write_kubeconfig

from gitops_edge.cli.main import main
from gitops_edge.cluster import kube
from gitops_edge.cluster.base import ClusterError, NotFoundError, TransientClusterError
from gitops_edge.cluster.kube import Retrier
from gitops_edge.cluster.kube_cluster import KubeCluster
from gitops_edge.cluster.kube_node import KubeNodeClient
from gitops_edge.model.observed import Condition, Node

EXAMPLE = Path(__file__).resolve().parent.parent / "example-repo"


def node(name: str, *, ready: bool = True, pool: str = "a") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"apps.openyurt.io/nodepool": pool}},
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                }
            ]
        },
    }


def pod(
    name: str, node_name: str, *, owner_uid: str = "ds-uid", owner: str = "web"
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "edge",
            "labels": {"controller-revision-hash": "h1", "pod-template-generation": "1"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "DaemonSet",
                    "name": owner,
                    "uid": owner_uid,
                    "controller": True,
                }
            ],
        },
        "spec": {"nodeName": node_name},
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:10Z"}
            ]
        },
    }


@pytest.fixture
def api() -> Iterator[StandIn]:
    with running() as standin:
        standin.add_namespace("edge")  # where these tests apply their objects
        yield standin


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def cluster(api: StandIn, tmp_path: Path, sleeps: list[float]) -> Iterator[KubeCluster]:
    client = kube.api_client_for(str(api.kubeconfig(tmp_path / "kubeconfig")), None)
    with KubeCluster(client, retrier=Retrier(sleep=sleeps.append, base_delay=0.0)) as c:
        yield c


def seed(api: StandIn) -> None:
    for i in range(12):
        api.put("nodes", node(f"n{i:02d}", ready=i != 3))
    api.put(
        "daemonsets",
        {
            "metadata": {"name": "web", "namespace": "edge", "uid": "ds-uid", "generation": 2},
            "spec": {"updateStrategy": {"type": "OnDelete"}, "minReadySeconds": 5},
        },
    )
    for number, digest in ((1, "h1"), (2, "h2")):
        api.put(
            "controllerrevisions",
            {
                "metadata": {
                    "name": f"web-{digest}",
                    "namespace": "edge",
                    "labels": {"controller-revision-hash": digest},
                    "ownerReferences": [{"kind": "DaemonSet", "uid": "ds-uid", "controller": True}],
                },
                "revision": number,
            },
        )
    for i in range(12):
        api.put("pods", pod(f"web-{i:02d}", f"n{i:02d}"))


def test_observe_parses_everything_the_planner_needs(api: StandIn, cluster: KubeCluster) -> None:
    seed(api)
    api.put("pods", {"metadata": {"name": "not-a-daemon-pod", "namespace": "edge"}, "spec": {}})
    observed = cluster.observe()
    assert len(observed.nodes) == 12 and not observed.nodes[3].ready
    (ds,) = observed.daemonsets
    assert (ds.current_revision, ds.template_generation, ds.min_ready_seconds) == ("h2", 2, 5)
    assert ds.update_strategy == "OnDelete"
    assert len(observed.pods) == 12  # the Deployment-style pod was filtered by the server
    first = observed.pods[0]
    assert (first.owner_kind, first.owner_name, first.node) == ("DaemonSet", "web", "n00")
    assert (first.revision_hash, first.template_generation, first.ready) == ("h1", 1, True)


def test_observe_is_four_paginated_lists(
    api: StandIn, cluster: KubeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(api)
    cluster.observe()
    # nodes, revisions, daemonsets, pods, pre-pull jobs, namespaces (one page each), discovery
    assert len(api.requests) == 7
    api.requests.clear()
    monkeypatch.setattr(kube, "PAGE_SIZE", 5)
    observed = cluster.observe()
    assert len(observed.nodes) == 12 and len(observed.pods) == 12
    assert api.count("GET", "/api/v1/nodes") == 3  # 5 + 5 + 2
    assert api.count("GET", "/api/v1/pods") == 3
    continues = [p.get("continue") for m, path, p in api.requests if path == "/api/v1/nodes"]
    assert [c.partition(":")[0] if c else c for c in continues] == [None, "5", "10"]
    assert all(p["limit"] == "5" for _, path, p in api.requests if path != "/apis/")
    pod_lists = [p for _, path, p in api.requests if path == "/api/v1/pods"]
    assert all(p["labelSelector"] == "controller-revision-hash" for p in pod_lists)


def test_server_side_apply(api: StandIn, cluster: KubeCluster) -> None:
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "app", "namespace": "edge", "annotations": {"a": "1"}},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x/y:1"}]}}},
    }
    cluster.apply_daemonset(manifest)
    cluster.apply_daemonset(manifest)
    stored = api.store["daemonsets"][("edge", "app")]
    assert stored["metadata"]["generation"] == 1  # same spec twice: one generation
    method, path, params = api.requests[-1]
    assert (method, path) == ("PATCH", "/apis/apps/v1/namespaces/edge/daemonsets/app")
    assert params == {"fieldManager": "gitops-edge", "force": "true"}


def test_delete_pod_with_uid_precondition(api: StandIn, cluster: KubeCluster) -> None:
    seed(api)
    uid = api.store["pods"][("edge", "web-00")]["metadata"]["uid"]
    with pytest.raises(NotFoundError, match="replaced"):
        cluster.delete_pod("edge", "web-00", "some-other-uid")
    assert ("edge", "web-00") in api.store["pods"]  # 409: not retried, not deleted
    assert api.count("DELETE", "/api/v1/namespaces/edge/pods/web-00") == 1
    cluster.delete_pod("edge", "web-00", uid)
    assert ("edge", "web-00") not in api.store["pods"]
    with pytest.raises(NotFoundError):
        cluster.delete_pod("edge", "web-00", uid)


def test_status_patch_replaces_one_condition_by_type(api: StandIn, cluster: KubeCluster) -> None:
    seed(api)
    uid = api.store["pods"][("edge", "web-01")]["metadata"]["uid"]
    mark = Condition(
        "PodNeedUpgrade", "True", message="controllerrevision: h2", last_transition_time=1.0
    )
    cluster.set_pod_condition("edge", "web-01", uid, mark)
    cluster.set_pod_condition(
        "edge", "web-01", uid, Condition("PodNeedUpgrade", "False", last_transition_time=2.0)
    )
    conditions = api.store["pods"][("edge", "web-01")]["status"]["conditions"]
    assert [(c["type"], c["status"]) for c in conditions] == [
        ("Ready", "True"),
        ("PodNeedUpgrade", "False"),
    ]
    with pytest.raises(NotFoundError):
        cluster.set_pod_condition("edge", "web-01", "stale-uid", mark)


def test_standin_refuses_a_stale_uid_as_the_api_server_does(
    api: StandIn, cluster: KubeCluster
) -> None:
    """DESIGN §8: a pods/status patch carrying another uid is 422 Invalid (the patched object
    would change an immutable field); a DELETE with a uid precondition that fails is 409."""
    from kubernetes.client import V1DeleteOptions, V1Preconditions
    from kubernetes.client.exceptions import ApiException

    seed(api)
    with pytest.raises(ApiException) as patched:
        cluster.core.patch_namespaced_pod_status(
            "web-01",
            "edge",
            body={"metadata": {"uid": "stale-uid"}, "status": {"conditions": []}},
            _content_type="application/strategic-merge-patch+json",
        )
    status = json.loads(patched.value.body)
    assert (patched.value.status, status["reason"], status["code"]) == (422, "Invalid", 422)
    assert status["message"] == (
        'Pod "web-01" is invalid: metadata.uid: Invalid value: "stale-uid": field is immutable'
    )
    assert status["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "stale-uid": field is immutable',
            "field": "metadata.uid",
        }
    ]
    options = V1DeleteOptions(preconditions=V1Preconditions(uid="stale-uid"))
    with pytest.raises(ApiException) as deleted:
        cluster.core.delete_namespaced_pod("web-01", "edge", body=options)
    assert deleted.value.status == 409
    assert "Precondition failed: UID in precondition: stale-uid" in deleted.value.body


def test_a_status_patch_of_a_replaced_pod_is_not_found_for_the_planner_and_the_agent(
    api: StandIn, cluster: KubeCluster
) -> None:
    seed(api)
    before = json.dumps(api.store["pods"][("edge", "web-02")])
    mark = Condition("PodNeedUpgrade", "True", message="controllerrevision: h2")
    with pytest.raises(NotFoundError, match=r"pod edge/web-02 \(uid stale-uid\) was replaced"):
        cluster.set_pod_condition("edge", "web-02", "stale-uid", mark)
    with pytest.raises(NotFoundError, match="was replaced"):
        KubeNodeClient(cluster, "n02").set_pod_condition("edge", "web-02", "stale-uid", mark)
    assert api.count("PATCH", "/api/v1/namespaces/edge/pods/web-02/status") == 2  # no retries
    assert json.dumps(api.store["pods"][("edge", "web-02")]) == before


def test_any_other_invalid_status_patch_stays_an_error(api: StandIn, cluster: KubeCluster) -> None:
    seed(api)
    uid = api.store["pods"][("edge", "web-03")]["metadata"]["uid"]
    api.fail_next("PATCH", "/api/v1/namespaces/edge/pods/web-03/status", 422)
    with pytest.raises(ClusterError, match="422 injected failure") as failed:
        cluster.set_pod_condition("edge", "web-03", uid, Condition("PodNeedUpgrade", "True"))
    assert not isinstance(failed.value, NotFoundError)


def test_conflicts_and_throttling_are_retried_honouring_retry_after(
    api: StandIn, cluster: KubeCluster, sleeps: list[float]
) -> None:
    api.fail_next("PATCH", "/apis/apps/v1/namespaces/edge/daemonsets/app", 409)
    api.fail_next("PATCH", "/apis/apps/v1/namespaces/edge/daemonsets/app", 429, retry_after="7")
    api.fail_next("PATCH", "/apis/apps/v1/namespaces/edge/daemonsets/app", 503)
    cluster.apply_daemonset({"metadata": {"name": "app", "namespace": "edge"}, "spec": {}})
    assert ("edge", "app") in api.store["daemonsets"]
    assert api.count("PATCH", "/apis/apps/v1/namespaces/edge/daemonsets/app") == 4
    assert sleeps[1] == 7.0  # Retry-After honoured
    assert len(sleeps) == 3


def test_persistent_5xx_gives_up_as_transient(api: StandIn, cluster: KubeCluster) -> None:
    for _ in range(kube.MAX_ATTEMPTS):
        api.fail_next("GET", "/api/v1/nodes", 500)
    with pytest.raises(TransientClusterError, match="after 5 attempts"):
        cluster.observe()


def test_other_errors_fail_that_object_only(api: StandIn, cluster: KubeCluster) -> None:
    api.fail_next("PATCH", "/apis/apps/v1/namespaces/edge/daemonsets/app", 403)
    with pytest.raises(ClusterError, match="403 injected failure"):
        cluster.apply_daemonset({"metadata": {"name": "app", "namespace": "edge"}, "spec": {}})
    assert api.count("PATCH", "/apis/apps/v1/namespaces/edge/daemonsets/app") == 1
    with pytest.raises(NotFoundError):
        cluster.delete_daemonset("edge", "nope")


def test_delete_daemonset_cascades_in_the_standin(api: StandIn, cluster: KubeCluster) -> None:
    seed(api)
    cluster.delete_daemonset("edge", "web")
    observed = cluster.observe()
    assert observed.daemonsets == () and observed.pods == ()


def test_node_client_lists_only_its_node(api: StandIn, cluster: KubeCluster) -> None:
    seed(api)
    agent_view = KubeNodeClient(cluster, "n05")
    pods = agent_view.list_pods()
    assert [p["metadata"]["name"] for p in pods] == ["web-05"]
    assert api.requests[-1][2]["fieldSelector"] == "spec.nodeName=n05"
    assert agent_view.get_pod("edge", "web-05")["spec"]["nodeName"] == "n05"
    with pytest.raises(NotFoundError):
        agent_view.get_pod("edge", "nope")


def test_plan_and_reconcile_against_kube(
    api: StandIn,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api.job_versions = ["v1alpha1", "v1alpha2"]  # the example repository holds node jobs
    for group, count in (("hangzhou", 3), ("shanghai", 2)):
        for i in range(count):
            api.put("nodes", node(f"{group}-{i}", pool=group))
    monkeypatch.setenv("KUBECONFIG", str(api.kubeconfig(tmp_path / "kubeconfig")))
    assert main(["plan", str(EXAMPLE), "--cluster", "kube", "--format", "json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert planned["summary"]["applies"] == 11
    assert planned["summary"]["jobCreations"] == 4
    assert api.store["daemonsets"] == {} and api.jobs == {}  # plan changed nothing
    assert main(["reconcile", str(EXAMPLE), "--cluster", "kube:standin", "--once"]) == 0
    out = capsys.readouterr().out
    assert "ok   create DaemonSet edge-system/log-agent-hangzhou" in out
    assert "ok   create NodeUpgradeJob upgrade-example (operations.kubeedge.io/v1alpha1)" in out
    upgrade = api.jobs[("nodeupgradejobs", "upgrade-hangzhou-v1.17.0")]
    assert upgrade["apiVersion"] == "operations.kubeedge.io/v1alpha2"  # the file's version
    stored = api.store["daemonsets"][("edge-system", "log-agent-hangzhou")]
    assert stored["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "gitops-edge"
    assert stored["spec"]["template"]["spec"]["nodeSelector"] == {
        "apps.openyurt.io/nodepool": "hangzhou"
    }


def test_discovery_tells_whether_openyurt_is_installed(api: StandIn, cluster: KubeCluster) -> None:
    assert not cluster.observe().openyurt_installed
    api.groups.append("apps.openyurt.io")
    assert cluster.observe().openyurt_installed


def test_node_watch_reports_ready_transitions_resumes_and_relists_on_410(
    api: StandIn, cluster: KubeCluster
) -> None:
    import time

    seed(api)
    turned: list[tuple[str, bool]] = []

    def changed(before: Node | None, after: Node | None) -> None:
        if after is not None and (before is None or before.ready != after.ready):
            turned.append((after.name, after.ready))

    def wait_for(count: int) -> list[tuple[str, bool]]:
        deadline = time.monotonic() + 5
        while len(turned) < count:
            assert time.monotonic() < deadline, turned
            time.sleep(0.01)
        return turned

    api.set_node_ready("n05", False)  # before the watch starts: part of its initial list
    watch = cluster.watch_nodes(changed, idle_delay=0.01)
    try:
        version = watch.stores["nodes"].version  # the list's (no event has come since)
        assert not next(n for n in watch.stores["nodes"].values.values() if n.name == "n05").ready
        api.set_node_ready("n03", True)
        api.set_node_ready("n07", False)
        assert wait_for(2) == [("n03", True), ("n07", False)]
        watches = [p for m, path, p in api.requests if p.get("watch") == "true"]
        assert watches[0]["resourceVersion"] == version
        assert watches[0]["allowWatchBookmarks"] == "true"
        # The watch ended; the next one resumes from the last version it saw.
        api.set_node_ready("n07", True)
        assert wait_for(3)[2] == ("n07", True)
        watches = [p for m, path, p in api.requests if p.get("watch") == "true"]
        assert int(watches[-1]["resourceVersion"]) > int(version)
        # Compaction: the next watch gets 410 Gone, lists again and reports what changed.
        api.compacted = 10**9
        node = api.store["nodes"][("", "n01")]
        node["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
        assert wait_for(4)[3] == ("n01", False)
    finally:
        watch.stop()


def test_kubeedge_jobs_in_the_served_version(api: StandIn, cluster: KubeCluster) -> None:
    with pytest.raises(ClusterError, match=r"CRDs .* are not installed"):
        cluster.job_api_version()
    api.job_versions = ["v1alpha1", "v1alpha2"]
    assert cluster.job_api_version() == "v1alpha2"
    assert cluster.job_api_version("v1alpha1") == "v1alpha1"
    api.job_versions = ["v1alpha1"]
    with pytest.raises(ClusterError, match=r"not served by this cluster .*v1alpha1"):
        cluster.job_api_version("v1alpha2")
    job = {
        "apiVersion": "operations.kubeedge.io/v1alpha1",
        "kind": "NodeUpgradeJob",
        "metadata": {"name": "upgrade-example"},
        "spec": {"version": "v1.16.0", "nodeNames": ["edge-1"]},
    }
    assert (
        cluster.get_node_job("operations.kubeedge.io/v1alpha1", "NodeUpgradeJob", "upgrade-example")
        is None
    )
    cluster.create_node_job(job)
    got = cluster.get_node_job(
        "operations.kubeedge.io/v1alpha1", "NodeUpgradeJob", "upgrade-example"
    )
    assert got is not None and got["spec"]["version"] == "v1.16.0"
    with pytest.raises(ClusterError, match="409"):
        cluster.create_node_job(job)  # a job's spec is immutable: never silently re-created


def test_unreachable_api_server_is_cloud_unreachable_for_the_agent(tmp_path: Path) -> None:
    import socket

    from gitops_edge.agent.cache import PodCache
    from gitops_edge.agent.handlers import Agent, handle
    from gitops_edge.agent.routes import Op, Route
    from gitops_edge.cluster.base import CloudUnreachableError

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}")
    offline = KubeCluster(
        kube.api_client_for(str(config), None), retrier=Retrier(sleep=lambda _: None)
    )
    node = KubeNodeClient(offline, "n1")
    with pytest.raises(CloudUnreachableError):
        node.list_pods()
    cache = PodCache(tmp_path / "cache.json")
    cache.save([{"metadata": {"name": "cached"}}])
    agent = Agent(node="n1", cloud=node, cache=cache)
    assert handle(agent, Route(Op.LIST)).status == 200  # from the cache
    assert handle(agent, Route(Op.UPGRADE, "default", "p")).status == 503


def test_annotate_and_roll_back_a_daemonset(api: StandIn, cluster: KubeCluster) -> None:
    cluster.apply_daemonset(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "web", "namespace": "edge", "annotations": {"keep": "me"}},
            "spec": {"template": {"spec": {"containers": [{"name": "w", "image": "web:2"}]}}},
        }
    )
    ds = api.store["daemonsets"][("edge", "web")]
    uid = ds["metadata"]["uid"]
    cluster.annotate_daemonset("edge", "web", {"gitops-edge.io/halted": "h1 r2 why", "keep": None})
    assert ds["metadata"]["annotations"] == {"gitops-edge.io/halted": "h1 r2 why"}
    old = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "w", "image": "web:1"}]},
    }
    for rev_uid, digest in ((uid, "r1"), ("someone-else", "r1")):
        api.put(
            "controllerrevisions",
            {
                "metadata": {
                    "name": f"web-{digest}-{rev_uid}",
                    "namespace": "edge",
                    "labels": {"controller-revision-hash": digest},
                    "ownerReferences": [{"kind": "DaemonSet", "uid": rev_uid, "controller": True}],
                },
                "data": {"spec": {"template": old if rev_uid == uid else {}}},
                "revision": 1,
            },
        )
    cluster.rollback_daemonset("edge", "web", uid, "r1")
    assert api.store["daemonsets"][("edge", "web")]["spec"]["template"] == old
    with pytest.raises(NotFoundError, match="no revision r9"):
        cluster.rollback_daemonset("edge", "web", uid, "r9")


@pytest.mark.parametrize("cached", [False, True], ids=["listing", "cached"])
def test_observe_places_unbound_pods_and_reads_taints_and_template_constraints(
    api: StandIn, cluster: KubeCluster, cached: bool
) -> None:
    """Issue 14 items 1-2 on the API server's data: a pod the DaemonSet controller created
    Pending, unbound and pinned by `matchFields metadata.name In [NODE]` belongs to that node;
    node taints and the template's nodeSelector, affinity and tolerations are observed; a pod
    is owned by the DaemonSet whose uid its controller ownerReference names."""
    seed(api)
    api.put(
        "nodes",
        {
            **node("n12"),
            "spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]},
        },
    )
    api.put(
        "daemonsets",
        {
            "metadata": {"name": "web", "namespace": "edge", "uid": "ds-uid", "generation": 2},
            "spec": {
                "updateStrategy": {"type": "OnDelete"},
                "template": {
                    "spec": {
                        "nodeSelector": {"apps.openyurt.io/nodepool": "a"},
                        "tolerations": [{"key": "dedicated", "operator": "Exists"}],
                    }
                },
            },
        },
    )
    waiting = pod("web-waiting", "")
    del waiting["spec"]["nodeName"]
    waiting["spec"]["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n12"]}]}
                ]
            }
        }
    }
    waiting["status"] = {"phase": "Pending", "conditions": []}
    api.put("pods", waiting)
    api.put("pods", pod("web-stray", "n11", owner_uid="uid-of-an-older-web"))
    if cached:
        cluster.start_cache(idle_delay=0.02, settle_timeout=5.0)
    observed = cluster.observe()
    seen = {p.name: p for p in observed.pods}
    assert (seen["web-waiting"].node, seen["web-waiting"].bound) == ("n12", False)
    assert (seen["web-00"].node, seen["web-00"].bound) == ("n00", True)
    assert seen["web-00"].owner_uid == "ds-uid"
    assert seen["web-stray"].owner_uid == "uid-of-an-older-web"
    (n12,) = [n for n in observed.nodes if n.name == "n12"]
    assert [(t.key, t.value, t.effect) for t in n12.taints] == [("dedicated", "gpu", "NoSchedule")]
    (ds,) = observed.daemonsets
    assert ds.placement.node_selector == (("apps.openyurt.io/nodepool", "a"),)
    assert ds.placement.tolerates(n12.taints)
