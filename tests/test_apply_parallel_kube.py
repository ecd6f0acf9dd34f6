"""The parallel apply against the stand-in API server through the official client: the
client's connection pool holds every apply worker (beside the cache's watches), and pod
deletions of several DaemonSets sent by a pool of workers all arrive, each once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from kube_standin import StandIn, running

from gitops_edge.cluster import kube
from gitops_edge.cluster.kube_cluster import KubeCluster
from gitops_edge.model.plan import DeletePod
from gitops_edge.reconciler.apply import DONE, apply_actions
from gitops_edge.reconciler.apply_order import WORK, Slot

WORKERS = 16  # more than the client library's default pool on a 2-core machine (2 x 5)


@pytest.fixture
def api() -> Iterator[StandIn]:
    with running() as standin:
        standin.add_namespace("edge")
        yield standin


def pod(name: str, owner: str) -> dict[str, object]:
    return {
        "metadata": {
            "name": name,
            "namespace": "edge",
            "uid": f"uid-{name}",
            "ownerReferences": [{"kind": "DaemonSet", "name": owner, "controller": True}],
        },
        "spec": {"nodeName": f"node-{name}"},
    }


def test_the_client_pool_holds_the_apply_workers_and_the_watches(
    api: StandIn, tmp_path: Path
) -> None:
    client = kube.api_client_for(str(api.kubeconfig(tmp_path / "kubeconfig")), None)
    try:
        pool = client.rest_client.pool_manager.connection_pool_kw["maxsize"]
        assert pool >= 64 + 8  # the most apply workers, and the cache's watches besides
        assert pool == kube.CONNECTION_POOL_SIZE
    finally:
        client.close()


def test_concurrent_deletions_all_arrive_once(
    api: StandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    deletions = []
    for ds in range(4):
        for i in range(10):
            name = f"web{ds}-{i}"
            api.put("pods", pod(name, f"web{ds}"))
            deletions.append(
                DeletePod(
                    namespace="edge",
                    name=name,
                    uid=f"uid-{name}",
                    node=f"node-{name}",
                    outside_budget=False,
                    reason="",
                )
            )
    client = kube.api_client_for(str(api.kubeconfig(tmp_path / "kubeconfig")), None)
    caplog.set_level(logging.WARNING, logger="urllib3")
    with KubeCluster(client) as cluster:
        results = apply_actions(
            deletions, cluster, order=[Slot(WORK)] * len(deletions), workers=WORKERS
        )
    assert [r.action for r in results] == deletions
    assert {r.outcome for r in results} == {DONE}
    sent = [p for m, p, _ in api.requests if m == "DELETE"]
    assert sorted(sent) == sorted(f"/api/v1/namespaces/edge/pods/{d.name}" for d in deletions)
    assert not api.store["pods"]
    assert "pool is full" not in caplog.text
