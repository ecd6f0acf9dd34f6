"""The observe side of the Kubernetes backend (`KubeReads`): the fleet as an `Observed`.

Nodes, DaemonSets with their ControllerRevisions and DaemonSet pods are listed (paged LISTs
parsed page by page, `k8s_objects`), or read from the watch-fed cache (`kube_cache`) once the
loop started it; the watches that feed it are made here. One discovery request per observation
tells whether OpenYurt is installed and which versions of KubeEdge's node job CRDs are served;
namespaces and pre-pull Jobs are listed every pass (they are few; the cache does not hold
them), KubeEdge node jobs each in the version it was created in.
Imports no `kubernetes` (it calls the client objects `KubeApi` holds).
Side effects: HTTP requests to the API server.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import suppress
from typing import Any

from gitops_edge.cluster.base import NotFoundError
from gitops_edge.cluster.k8s_objects import (
    daemonset_from,
    newest_revision_hash,
    node_job_from,
    pull_job_from,
    revisions_by_owner,
)
from gitops_edge.cluster.kube import (
    DAEMON_POD_SELECTOR,
    PLANNER_CONDITIONS,
    KubeApi,
    Obj,
    Retrier,
    bind_list,
    json_body,
    parse_json,
)
from gitops_edge.cluster.kube_cache import (
    DAEMONSETS,
    NODES,
    PODS,
    REVISIONS,
    parsers,
)
from gitops_edge.cluster.kube_pages import read_pages
from gitops_edge.model import nodejobs as nj
from gitops_edge.model.observed import DaemonSetObs, JobObs, NamespaceObs, Observed
from gitops_edge.model.prepull import PULL_POD_LABEL

OPENYURT_GROUP = "apps.openyurt.io"  # served where OpenYurt (and its yurt-manager) is installed
WATCH_SECONDS = 300  # the server ends a watch after this long; it is then resumed


def _watch_events(response: Any, *, what: str) -> Iterator[Obj]:
    """The JSON lines of a watch response, as they arrive (a line that is not JSON: a
    ClusterError naming the watch, `what`)."""
    buffer = b""
    try:
        for chunk in response.stream(65536):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.strip():
                    yield parse_json(line, what=what)
        if buffer.strip():
            yield parse_json(buffer, what=what)
    finally:
        response.release_conn()


class KubeReads(KubeApi):
    """Observing the fleet: `Cluster.observe` and the LISTs and watches behind it."""

    def __init__(self, api: Any, *, retrier: Retrier | None = None, **kwargs: Any) -> None:
        super().__init__(api, retrier=retrier, **kwargs)
        # DaemonSets parsed by earlier observations (`_daemonset`), and those this one used.
        self._parsed: dict[tuple[str, ...], DaemonSetObs] = {}
        self._used: set[tuple[str, ...]] = set()

    def _lister(self, resource: str) -> tuple[Callable[..., Any], dict[str, str]]:
        """The LIST call of a cached resource, with its selectors."""
        listers: dict[str, tuple[Callable[..., Any], dict[str, str]]] = {
            NODES: (self.core.list_node, {}),
            REVISIONS: (self.apps.list_controller_revision_for_all_namespaces, {}),
            DAEMONSETS: (self.apps.list_daemon_set_for_all_namespaces, {}),
            PODS: (
                self.core.list_pod_for_all_namespaces,
                {"label_selector": DAEMON_POD_SELECTOR},
            ),
        }
        return listers[resource]

    def list_bodies(self, resource: str) -> Iterator[Obj]:
        """Every page of the LIST of a cached resource (for `KubeCache` and the uncached
        observe)."""
        lister, selectors = self._lister(resource)
        return self.bodies(f"list {resource}", lister, **selectors)

    def watch(self, resource: str, version: str) -> Iterator[Obj]:
        """One watch of a cached resource from `version` (bookmarks asked for), its events as
        they arrive, until the server ends it after WATCH_SECONDS. A connection silent for
        longer than that is broken off (the read timeout), so a dead link is noticed."""
        lister, selectors = self._lister(resource)
        params: dict[str, Any] = {
            **selectors,
            "watch": True,
            "resource_version": version,
            "allow_watch_bookmarks": True,
            "timeout_seconds": WATCH_SECONDS,
            "_request_timeout": (10, WATCH_SECONDS + 30),
        }
        response = self.watch_retry(f"watch {resource}", bind_list(lister, params))
        with self._streams_lock:
            self._streams.add(response)
        try:
            yield from _watch_events(response, what=f"watch {resource}")
        finally:
            with self._streams_lock:
                self._streams.discard(response)

    def interrupt(self) -> None:
        """End the watches being read: their sockets are shut down, so a read blocked on a
        quiet watch returns at once (urllib3 >= 2.3; older ones wait for the server's end)."""
        with self._streams_lock:
            streams = list(self._streams)
        for response in streams:
            with suppress(AttributeError, ValueError, RuntimeError, OSError):
                response.shutdown()

    def _fleet(self) -> dict[str, list[Any]]:
        if self.cache is not None:
            return self.cache.snapshot()
        return {
            resource: list(
                read_pages(parse, functools.partial(self.list_bodies, resource))[0].values()
            )
            for resource, parse in parsers(PLANNER_CONDITIONS).items()
        }

    def observe(self) -> Observed:
        now = time.time()
        fleet = self._fleet()
        owners = revisions_by_owner(fleet[REVISIONS])
        daemonsets = sorted(
            (
                self._daemonset(d, owners.get(str(d["metadata"].get("uid", "")), []))
                for d in fleet[DAEMONSETS]
            ),
            key=lambda d: (d.namespace, d.name),
        )
        self._parsed = {k: v for k, v in self._parsed.items() if k in self._used}
        self._used = set()
        nodes = sorted(fleet[NODES], key=lambda n: n.name)
        pods = fleet[PODS]
        groups = self.discover()
        job_versions = tuple(v for v in nj.VERSIONS if v in groups.get(nj.GROUP, ()))
        return Observed(
            namespaces=self.namespaces(),
            now=now,
            nodes=tuple(nodes),
            daemonsets=tuple(daemonsets),
            pods=tuple(pods),
            openyurt_installed=OPENYURT_GROUP in groups,
            pull_jobs=tuple(
                pull_job_from(j)
                for page in self.pages(
                    "list pre-pull jobs",
                    self.batch.list_job_for_all_namespaces,
                    label_selector=PULL_POD_LABEL,
                )
                for j in page
            ),
            jobs=self.node_jobs(job_versions),
            job_versions=job_versions,
        )

    def _daemonset(self, obj: Obj, revisions: Sequence[Mapping[str, Any]]) -> DaemonSetObs:
        """`daemonset_from`, reusing the value parsed at an earlier observation while the
        object (its resourceVersion) and its newest revision are the same: building its live
        JSON and placement for every DaemonSet at every pass was a good part of a pass. Only the
        DaemonSets of the last observation are remembered."""
        meta = obj.get("metadata") or {}
        version = str(meta.get("resourceVersion") or "")
        if not version:
            return daemonset_from(obj, revisions)
        key = (
            str(meta.get("namespace") or ""),
            str(meta.get("name") or ""),
            str(meta.get("uid") or ""),
            version,
            newest_revision_hash(revisions),
        )
        self._used.add(key)
        parsed = self._parsed.get(key)
        if parsed is None:
            parsed = self._parsed[key] = daemonset_from(obj, revisions)
        return parsed

    def namespaces(self) -> tuple[NamespaceObs, ...]:
        """Every namespace (one paged LIST each pass, also with the cache: they are few)."""
        return tuple(
            sorted(
                (
                    NamespaceObs(
                        name=str(meta.get("name", "")),
                        labels=dict(meta.get("labels") or {}),
                        annotations=dict(meta.get("annotations") or {}),
                    )
                    for page in self.pages("list namespaces", self.core.list_namespace)
                    for meta in (n.get("metadata") or {} for n in page)
                ),
                key=lambda n: n.name,
            )
        )

    def discover(self) -> dict[str, tuple[str, ...]]:
        """Discovery (one GET /apis): each served API group → its served versions."""
        response = self.retry(
            "discover API groups",
            lambda: self.apis.get_api_versions(_preload_content=False),
        )
        return {
            str(g.get("name")): tuple(
                str(v.get("version") or str(v.get("groupVersion", "")).rpartition("/")[2])
                for v in g.get("versions") or ()
            )
            for g in json_body(response).get("groups") or ()
        }

    def node_jobs(self, versions: tuple[str, ...]) -> tuple[JobObs, ...]:
        """Every KubeEdge node job, in (kind, name) order, each read in the version it was
        created in: the API server serves every object at every served version (`versions`,
        oldest first), and a status must never be read in another version's shape. The version
        is the one the annotation gitops-edge.io/job-api-version names; for jobs without it
        (not created by gitops-edge), or naming a version no longer served, the newest served
        version. One paged LIST per (version, kind); none when `versions` is empty."""
        chosen: dict[tuple[str, str], Obj] = {}
        for version in versions:
            for kind, plural in sorted(nj.PLURALS.items()):
                kind_versions = [v for v in versions if v in nj.KIND_VERSIONS[kind]]
                if version not in kind_versions:
                    continue  # ConfigUpdateJob: v1alpha2 only
                for obj in self._node_job_items(kind, version, plural):
                    meta = obj.get("metadata") or {}
                    own = (meta.get("annotations") or {}).get(nj.API_VERSION_ANNOTATION)
                    wanted = own if own in kind_versions else kind_versions[-1]
                    if version == wanted:
                        chosen[(kind, str(meta.get("name")))] = obj
        return tuple(node_job_from(chosen[key]) for key in sorted(chosen))

    def _node_job_items(self, kind: str, version: str, plural: str) -> list[Obj]:
        """Every object of one node-job kind in one version. A ConfigUpdateJob CRD may be
        absent where the other two are served (KubeEdge before it): its LIST answering 404 is
        no job, not an error."""
        lister = functools.partial(
            self.custom.list_cluster_custom_object, nj.GROUP, version, plural
        )
        items: list[Obj] = []
        try:
            for page in self.pages(f"list {plural}.{nj.GROUP}/{version}", lister):
                items.extend(page)
        except NotFoundError:
            if kind != nj.CONFIG_UPDATE:
                raise
        return items

    def custom_objects(self) -> Any:
        """The client's generic object API (bodies sent and read as plain JSON): `kube_lease`
        reads and writes the leader election's Lease through it, so its MicroTimes go to the
        API server exactly as written."""
        return self.custom

    def serves_group(self, group: str) -> bool:
        """Discovery: whether the API server serves `group` (one GET /apis)."""
        return group in self.discover()
