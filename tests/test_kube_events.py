"""The Kubernetes backend records Events (core/v1) on the stand-in API server, held to the
reconciler's ClusterRole from deploy/: created with the right involvedObject and the revision,
identical ones counted on one object (also across processes, and anew once expired), an Event
in a namespace that does not exist dropped, and a refusal raised at once, without retries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kube_standin import StandIn, running
from standin_rbac import Role, cluster_role

from gitops_edge.cluster import kube
from gitops_edge.cluster.base import ClusterError
from gitops_edge.cluster.k8s_objects import parse_time
from gitops_edge.cluster.kube import Retrier
from gitops_edge.cluster.kube_cluster import KubeCluster
from gitops_edge.model.events import Event, ObjectRef

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
DS = ObjectRef("apps/v1", "DaemonSet", "web-a", "edge", "uid-7")


def event(
    message: str = "update DaemonSet edge/web-a (revision abc)", *, at: float = 100.0
) -> Event:
    return Event(DS, "Normal", "Applied", message, revision="abc", time=at)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[StandIn, Path]]:
    with running() as standin:
        standin.add_namespace("edge")
        standin.authorizer = cluster_role(
            DEPLOY / "reconciler-rbac.yaml", "gitops-edge-reconciler"
        ).allows
        yield standin, standin.kubeconfig(tmp_path / "kubeconfig")


def connect(kubeconfig: Path) -> KubeCluster:
    return KubeCluster(
        kube.api_client_for(str(kubeconfig), None), retrier=Retrier(sleep=lambda _: None)
    )


def test_events_are_created_on_their_object_with_the_revision(
    api: tuple[StandIn, Path],
) -> None:
    standin, kubeconfig = api
    namespace = Event(
        ObjectRef("v1", "Namespace", "edge"), "Normal", "Applied", "create", "abc", 5.0
    )
    with connect(kubeconfig) as cluster:
        cluster.record_events([event(), namespace])
    stored = standin.k8s_events[("edge", event().name)]
    assert stored["involvedObject"] == {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "name": "web-a",
        "namespace": "edge",
        "uid": "uid-7",
    }
    assert (stored["type"], stored["reason"], stored["count"]) == ("Normal", "Applied", 1)
    assert stored["message"] == "update DaemonSet edge/web-a (revision abc)"
    assert stored["metadata"]["annotations"] == {"gitops-edge.io/revision": "abc"}
    assert stored["source"] == {"component": "gitops-edge"}
    assert stored["reportingComponent"] == "gitops-edge"
    # the client sends the times as it formats them (`+00:00`); the same instant
    assert parse_time(stored["firstTimestamp"]) == parse_time(stored["lastTimestamp"]) == 100.0
    cluster_scoped = standin.k8s_events[("default", namespace.name)]
    assert "namespace" not in cluster_scoped["involvedObject"]


def test_identical_events_are_counted_on_one_object_even_from_another_process(
    api: tuple[StandIn, Path],
) -> None:
    standin, kubeconfig = api
    with connect(kubeconfig) as cluster:
        cluster.record_events([event(at=100.0)])
        cluster.record_events([event(at=160.0)])  # the next pass: a patch, no create
    with connect(kubeconfig) as later:  # the next CronJob run: 409, read, counted on
        later.record_events([event(at=220.0)])
    (stored,) = standin.k8s_events.values()
    assert stored["count"] == 3
    assert (parse_time(stored["firstTimestamp"]), parse_time(stored["lastTimestamp"])) == (
        100.0,
        220.0,
    )
    verbs = [a.verb for a in standin.authorizations if a.resource == "events"]
    assert verbs == ["create", "patch", "create", "get", "patch"]
    standin.k8s_events.clear()  # expired (the API server keeps Events an hour)
    later_cluster = connect(kubeconfig)
    later_cluster.event_writer.counts[("edge", event().name)] = 3
    later_cluster.record_events([event(at=4000.0)])
    assert standin.k8s_events[("edge", event().name)]["count"] == 1


def test_an_event_in_a_missing_namespace_is_dropped_and_the_rest_written(
    api: tuple[StandIn, Path],
) -> None:
    standin, kubeconfig = api
    elsewhere = Event(
        ObjectRef("apps/v1", "DaemonSet", "x", "gone"), "Warning", "ApplyFailed", "m", "r", 1.0
    )
    with connect(kubeconfig) as cluster:
        cluster.record_events([elsewhere, event()])
    assert list(standin.k8s_events) == [("edge", event().name)]


def test_a_refused_event_raises_at_once_without_retries(api: tuple[StandIn, Path]) -> None:
    standin, kubeconfig = api
    standin.authorizer = Role(()).allows
    with connect(kubeconfig) as cluster, pytest.raises(ClusterError, match="403"):
        cluster.record_events([event(), event("another")])
    assert [a.verb for a in standin.authorizations] == ["create"]  # one attempt, then stop
    standin.authorizer = None
    standin.fail_next("POST", "/api/v1/namespaces/edge/events", 503)
    with connect(kubeconfig) as cluster, pytest.raises(ClusterError, match="503"):
        cluster.record_events([event()])
    assert standin.count("POST", "/api/v1/namespaces/edge/events") == 2
