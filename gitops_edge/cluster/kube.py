"""The Kubernetes backend: `Cluster` and `NodeClient` over the official `kubernetes` client.

The only module that imports `kubernetes`. Reads are paginated LISTs (`limit`/`continue`) whose
bodies are parsed straight from JSON (`_preload_content=False`) into the observed model page by
page (`k8s_objects`), never through the client's model classes; one discovery request per
observation tells whether OpenYurt is installed and which versions of KubeEdge's node job CRDs
are served; namespaces are listed every pass (they are few; the loop's cache does not hold
them). Writes: server-side apply of Namespaces and DaemonSets (field manager `gitops-edge`),
Namespace DELETE, pod DELETE
with a uid precondition, a strategic-merge patch of pods/status that replaces one condition by
type, create and delete of pre-pull Jobs and of KubeEdge node jobs (custom objects). 429, 5xx
and (where safe) 409 are retried with exponential backoff and jitter, honouring Retry-After;
anything else fails that object only. A 404 whose Status names `details.kind: namespaces` (a
create or apply in a namespace that does not exist) is a `NamespaceMissingError`, not "gone".
Errors read as one line (`kube_errors`): an unreachable
server and why, refused credentials (401) naming the context, a kubeconfig or context that does
not exist; a 403 is the server's message (it names the missing permission) with a hint.
Side effects: HTTP requests to the API server.
"""

from __future__ import annotations

import functools
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from gitops_edge import nodejobs as nj
from gitops_edge.cluster.base import (
    CloudUnreachableError,
    ClusterError,
    NamespaceMissingError,
    NotFoundError,
    TransientClusterError,
    UnauthorizedError,
)
from gitops_edge.cluster.k8s_objects import (
    condition_to,
    controller_ref,
    daemonset_from,
    node_job_from,
    pull_job_from,
    revisions_by_owner,
)
from gitops_edge.cluster.kube_cache import (
    DAEMONSETS,
    NODES,
    PODS,
    REVISIONS,
    KubeCache,
    NodeChange,
    parsers,
    read_pages,
    version_of,
)
from gitops_edge.cluster.kube_errors import Endpoint, config_problem
from gitops_edge.cluster.kube_events import EventWriter
from gitops_edge.observed import (
    POD_IMAGE_READY,
    POD_NEED_UPGRADE,
    Condition,
    JobObs,
    NamespaceObs,
    Observed,
    PodObs,
)
from gitops_edge.pass_events import Event
from gitops_edge.prepull import PULL_POD_LABEL

FIELD_MANAGER = "gitops-edge"
PAGE_SIZE = 5000
# DaemonSet pods always carry this label (StatefulSet pods too; Deployment and Job pods never):
# the server filters the rest out of the biggest list.
DAEMON_POD_SELECTOR = "controller-revision-hash"
OPENYURT_GROUP = "apps.openyurt.io"  # served where OpenYurt (and its yurt-manager) is installed
# Pod conditions the planner and the agent read; the kubelet's others are not kept.
PLANNER_CONDITIONS = frozenset({"Ready", POD_NEED_UPGRADE, POD_IMAGE_READY})
MAX_ATTEMPTS = 5
WATCH_SECONDS = 300  # the server ends a watch after this long; it is then resumed
RETRYABLE = frozenset({429, 500, 502, 503, 504})
FORBIDDEN_HINT = (
    "grant that permission to the account gitops-edge runs as (deploy/ has the roles it needs)"
)
Obj = dict[str, Any]


class KubeConfigError(ValueError):
    """No usable kubeconfig / in-cluster configuration."""


class ConflictError(ClusterError):
    """409: a precondition (uid) no longer holds, or a write lost a race."""


class InvalidError(ClusterError):
    """422 Invalid: the API server refused the object; `fields` are the fields it names."""

    def __init__(self, message: str, *, fields: frozenset[str]) -> None:
        super().__init__(message)
        self.fields = fields


def api_client_for(kubeconfig: str | None, context: str | None) -> client.ApiClient:
    """A client from the kubeconfig file `kubeconfig` (None: KUBECONFIG or ~/.kube/config, read
    now: the client library reads KUBECONFIG only once, when it is imported; only then is the
    in-cluster service account the fallback)."""
    return connect_to(kubeconfig, context)[0]


def connect_to(kubeconfig: str | None, context: str | None) -> tuple[client.ApiClient, Endpoint]:
    """A client as `api_client_for`, and how messages name its server and credentials (the
    context used). KubeConfigError, in one line, when there is no usable configuration (an
    explicit `kubeconfig` never falls back to the in-cluster service account)."""
    explicit = kubeconfig
    kubeconfig = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    try:
        made: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context
        )
    except (ConfigException, FileNotFoundError, TypeError) as exc:
        if explicit is not None:
            raise KubeConfigError(
                f"--kubeconfig {explicit}: not a usable kubeconfig ({exc})"
            ) from None
        if context is None:
            try:
                config.load_incluster_config()  # type: ignore[no-untyped-call]
                made = client.ApiClient()
                return made, Endpoint.of(made.configuration.host, context=None, in_cluster=True)
            except ConfigException:
                pass
        flag = f"--cluster kube{':' + context if context else ''}"
        raise KubeConfigError(
            config_problem(flag=flag, path=kubeconfig, context=context, detail=str(exc))
        ) from None
    if context is None:
        with suppress(ConfigException, OSError, KeyError, TypeError):
            _, active = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
            context = str(active["name"])
    return made, Endpoint.of(made.configuration.host, context=context)


class Retrier:
    """Calls the API, retrying what is worth retrying; maps failures to cluster errors."""

    def __init__(
        self,
        *,
        sleep: Callable[[float], None] = time.sleep,
        base_delay: float = 0.2,
        attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.sleep = sleep
        self.base_delay = base_delay
        self.attempts = attempts  # 1 for the Lease: its own loop retries every retry period
        self.requests = 0  # every HTTP request made, retries included
        self.endpoint = Endpoint()  # how errors name the server and the credentials
        self._count = threading.Lock()  # the cache's watch threads share this retrier

    def __call__(self, what: str, fn: Callable[[], Any], *, retry_conflicts: bool = True) -> Any:
        for attempt in range(1, self.attempts + 1):
            with self._count:
                self.requests += 1
            try:
                return fn()
            except ApiException as exc:
                status = int(exc.status or 0)
                if status == 404:
                    missing = _missing_namespace(exc)
                    if missing is not None:  # not "the object is gone" (DESIGN §8)
                        raise NamespaceMissingError(missing, what=what) from None
                    raise NotFoundError(f"{what}: not found") from None
                if status == 409 and not retry_conflicts:
                    raise ConflictError(f"{what}: 409 {_reason(exc)}") from None
                if status == 401:  # the whole API refuses these credentials
                    raise UnauthorizedError(self.endpoint.unauthorized()) from None
                if status == 422:
                    raise InvalidError(
                        f"{what}: 422 {_reason(exc)}", fields=_invalid_fields(exc)
                    ) from None
                if status == 403:  # the server's message names the verb and resource
                    raise ClusterError(f"{what}: 403 {_reason(exc)} — {FORBIDDEN_HINT}") from None
                if status not in RETRYABLE and status != 409:
                    raise ClusterError(f"{what}: {status} {_reason(exc)}") from None
                if attempt == self.attempts:
                    raise TransientClusterError(
                        f"{what}: {status} {_reason(exc)} after {attempt} attempts"
                    ) from None
                self.sleep(self._delay(attempt, exc))
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if attempt == self.attempts:
                    raise CloudUnreachableError(self.endpoint.unreachable(exc)) from None
                self.sleep(self._delay(attempt, None))
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, exc: ApiException | None) -> float:
        headers = getattr(exc, "headers", None) or {}
        retry_after = str(headers.get("Retry-After", ""))
        if retry_after.isdigit():
            return float(retry_after)
        return float(self.base_delay * 2 ** (attempt - 1) * (0.5 + random.random()))


def _reason(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "").get("message") or exc.reason)
    except (TypeError, ValueError, AttributeError):
        return str(exc.reason)


def _missing_namespace(exc: ApiException) -> str | None:
    """The namespace a 404 says does not exist (`details.kind: namespaces`, the answer to a
    create or apply in a missing namespace), else None."""
    try:
        details = json.loads(exc.body or "").get("details") or {}
    except (TypeError, ValueError, AttributeError):
        return None
    if details.get("kind") == "namespaces" and details.get("name"):
        return str(details["name"])
    return None


def _invalid_fields(exc: ApiException) -> frozenset[str]:
    """The fields a 422 Status names (`details.causes[].field`)."""
    try:
        causes = json.loads(exc.body or "").get("details", {}).get("causes") or ()
        return frozenset(str(c["field"]) for c in causes if c.get("field"))
    except (TypeError, ValueError, AttributeError, KeyError):
        return frozenset()


def _bind(lister: Callable[..., Any], params: dict[str, Any]) -> Callable[[], Any]:
    return lambda: lister(**params, _preload_content=False)


def _watch_events(response: Any) -> Iterator[Obj]:
    """The JSON lines of a watch response, as they arrive."""
    buffer = b""
    try:
        for chunk in response.stream(65536):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.strip():
                    yield json.loads(line)
        if buffer.strip():
            yield json.loads(buffer)
    finally:
        response.release_conn()


def _json(response: Any) -> Obj:
    data: Obj = json.loads(response.data)
    return data


class KubeCluster:
    """`Cluster` over a real API server."""

    def __init__(
        self,
        api: client.ApiClient,
        *,
        retrier: Retrier | None = None,
        endpoint: Endpoint | None = None,
    ) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.batch = client.BatchV1Api(api)
        self.retry = retrier or Retrier()
        # Watches are counted apart: they run beside the passes, in the cache's threads.
        self.watch_retry = Retrier(sleep=self.retry.sleep, base_delay=self.retry.base_delay)
        self.retry.endpoint = self.watch_retry.endpoint = endpoint or Endpoint.of(
            api.configuration.host, context=None
        )
        self.cache: KubeCache | None = None
        self.event_writer = EventWriter(self)  # aggregates identical Events across passes
        self._streams: set[Any] = set()  # watch responses being read
        self._streams_lock = threading.Lock()

    @classmethod
    def connect(cls, context: str | None, *, kubeconfig: str | None = None) -> KubeCluster:
        api, endpoint = connect_to(kubeconfig, context)
        return cls(api, endpoint=endpoint)

    def __enter__(self) -> KubeCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.cache is not None:
            self.cache.stop()
        self.api.close()  # type: ignore[no-untyped-call]

    def start_cache(
        self, *, on_node_change: NodeChange | None = None, **settings: float
    ) -> KubeCache:
        """From now on, `observe()` reads nodes, DaemonSets, ControllerRevisions and DaemonSet
        pods from a watch-fed cache (`kube_cache`) instead of listing them: for a loop that
        observes again and again. Lists each once now (raises when the API cannot be reached).
        `settings`: the cache's timings (settle_timeout, silence_limit, idle_delay)."""
        cache = KubeCache(
            self, pod_conditions=PLANNER_CONDITIONS, on_node_change=on_node_change, **settings
        )
        self.cache = cache.start()
        return cache

    # ── reads ──────────────────────────────────────────────────────────────────────────────

    def pages(self, what: str, lister: Callable[..., Any], **selectors: str) -> Iterator[list[Obj]]:
        """The items of every page of a LIST (see `bodies`)."""
        for body in self.bodies(what, lister, **selectors):
            yield body.get("items") or []

    def bodies(self, what: str, lister: Callable[..., Any], **selectors: str) -> Iterator[Obj]:
        """Every page of a LIST, `PAGE_SIZE` objects at a time, as the API returns it. The next
        page is fetched in the background while the caller works on the current one (the wait
        for the API server releases the GIL), so parsing overlaps the download."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="list-prefetch") as pool:
            pending: Future[Obj] = pool.submit(self._page, what, lister, selectors, None)
            while True:
                body = pending.result()
                token = (body.get("metadata") or {}).get("continue")
                if token:
                    pending = pool.submit(self._page, what, lister, selectors, token)
                yield body
                if not token:
                    return

    def _page(
        self, what: str, lister: Callable[..., Any], selectors: dict[str, str], token: str | None
    ) -> Obj:
        params: dict[str, Any] = {"limit": PAGE_SIZE, **selectors}
        if token:
            params["_continue"] = token
        return _json(self.retry(what, _bind(lister, params)))

    def list_all(self, what: str, lister: Callable[..., Any], **selectors: str) -> list[Obj]:
        return [item for page in self.pages(what, lister, **selectors) for item in page]

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
        response = self.watch_retry(f"watch {resource}", _bind(lister, params))
        with self._streams_lock:
            self._streams.add(response)
        try:
            yield from _watch_events(response)
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
            resource: list(read_pages(parse, self.list_bodies(resource))[0].values())
            for resource, parse in parsers(PLANNER_CONDITIONS).items()
        }

    def observe(self) -> Observed:
        now = time.time()
        fleet = self._fleet()
        owners = revisions_by_owner(fleet[REVISIONS])
        daemonsets = sorted(
            (
                daemonset_from(d, owners.get(str(d["metadata"].get("uid", "")), []))
                for d in fleet[DAEMONSETS]
            ),
            key=lambda d: (d.namespace, d.name),
        )
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
            lambda: client.ApisApi(self.api).get_api_versions(_preload_content=False),
        )
        return {
            str(g.get("name")): tuple(
                str(v.get("version") or str(v.get("groupVersion", "")).rpartition("/")[2])
                for v in g.get("versions") or ()
            )
            for g in _json(response).get("groups") or ()
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
                lister = functools.partial(
                    client.CustomObjectsApi(self.api).list_cluster_custom_object,
                    nj.GROUP,
                    version,
                    plural,
                )
                for page in self.pages(f"list {plural}.{nj.GROUP}/{version}", lister):
                    for obj in page:
                        meta = obj.get("metadata") or {}
                        own = (meta.get("annotations") or {}).get(nj.API_VERSION_ANNOTATION)
                        wanted = own if own in versions else versions[-1]
                        if version == wanted:
                            chosen[(kind, str(meta.get("name")))] = obj
        return tuple(node_job_from(chosen[key]) for key in sorted(chosen))

    def custom_objects(self) -> Any:
        """The client's generic object API (bodies sent and read as plain JSON): `kube_lease`
        reads and writes the leader election's Lease through it, so its MicroTimes go to the
        API server exactly as written."""
        return client.CustomObjectsApi(self.api)

    def serves_group(self, group: str) -> bool:
        """Discovery: whether the API server serves `group` (one GET /apis)."""
        return group in self.discover()

    def watch_nodes(self, on_node_change: NodeChange, **settings: float) -> KubeCache:
        """A watch of the nodes alone, `on_node_change` told of each change (the loop's wake-up
        when it runs without the cache); `observe()` keeps listing. Lists the nodes now."""
        return KubeCache(
            self,
            (NODES,),
            pod_conditions=PLANNER_CONDITIONS,
            on_node_change=on_node_change,
            **settings,
        ).start()

    # ── KubeEdge node jobs (custom resources) ──────────────────────────────────────────────

    def job_api_version(self, wanted: str = "auto") -> str:
        """The operations.kubeedge.io version to use: the cluster's preferred one for "auto",
        else `wanted` if served. Clear errors when the CRDs are missing or the version is not
        served."""
        try:
            groups = self.discover()
        except ClusterError as exc:
            raise ClusterError(f"cannot discover {nj.GROUP}: {exc}") from None
        if nj.GROUP not in groups:
            raise ClusterError(
                f"the KubeEdge node job CRDs ({nj.GROUP}) are not installed in this cluster: "
                "install KubeEdge cloudcore >= 1.16 (or its CRDs) before adding NodeUpgradeJob "
                "or ImagePrePullJob files"
            )
        served = [v for v in nj.VERSIONS if v in groups[nj.GROUP]]
        if wanted == "auto":
            return served[-1]
        if wanted not in served:
            raise ClusterError(
                f"{nj.GROUP}/{wanted} is not served by this cluster (it serves "
                f"{', '.join(served)}): set spec.jobs.apiVersion in gitops-edge.yaml to one of "
                "them, or auto"
            )
        return wanted

    def create_node_job(self, manifest: Mapping[str, Any]) -> None:
        """Create a cluster-scoped KubeEdge job in the apiVersion its manifest names (never
        another one). No discovery beforehand: the API answers 404 for a version it does not
        serve, and only then is discovery asked which versions it serves, for the message."""
        kind, api_version = str(manifest.get("kind")), str(manifest.get("apiVersion"))
        name = manifest["metadata"]["name"]
        version = nj.version_of(api_version)
        if kind not in nj.PLURALS or not version:
            raise ClusterError(f"{kind} {name}: {api_version} {kind} is not a KubeEdge node job")
        try:
            self.retry(
                f"create {kind} {name}",
                lambda: client.CustomObjectsApi(self.api).create_cluster_custom_object(
                    nj.GROUP, version, nj.PLURALS[kind], dict(manifest), _preload_content=False
                ),
                retry_conflicts=False,
            )
        except NotFoundError:
            try:
                served = self.discover().get(nj.GROUP)
            except ClusterError:
                served = None
            if served is None:
                detail = f"KubeEdge's node job CRDs ({nj.GROUP}) are not installed"
            else:
                detail = f"it serves {', '.join(served) or 'no version'}"
            raise ClusterError(
                f"create {kind} {name}: {api_version} is not served by this cluster ({detail})"
            ) from None

    def delete_node_job(self, api_version: str, kind: str, name: str) -> None:
        """Delete a KubeEdge job through the version it was observed in (NotFoundError when it
        does not exist)."""
        group, _, version = api_version.partition("/")
        self.retry(
            f"delete {kind} {name}",
            lambda: client.CustomObjectsApi(self.api).delete_cluster_custom_object(
                group, version, nj.PLURALS[kind], name, _preload_content=False
            ),
        )

    def get_node_job(self, api_version: str, kind: str, name: str) -> Obj | None:
        """A KubeEdge job as the API returns it, or None when it does not exist."""
        group, _, version = api_version.partition("/")
        try:
            response = self.retry(
                f"get {kind} {name}",
                lambda: client.CustomObjectsApi(self.api).get_cluster_custom_object(
                    group, version, nj.PLURALS[kind], name, _preload_content=False
                ),
            )
        except NotFoundError:
            return None
        return _json(response)

    # ── writes ─────────────────────────────────────────────────────────────────────────────

    @contextmanager
    def _writing(self, resource: str, namespace: str, name: str) -> Iterator[Settle]:
        """Around a write to a cached resource: the cache is told of it before it is sent, and
        the write must call the `Settle` it is given with what the cache must then show (the
        response's resourceVersion, a condition on the object). A refused write is forgotten;
        one whose outcome is unknown makes the next observation list that resource again."""
        cache = self.cache
        if cache is None:
            yield lambda response, holds=None: None
            return
        expectation = cache.expect(resource, (namespace, name))
        settled = False

        def settle(response: Any, holds: Callable[[Any], bool] | None = None) -> None:
            nonlocal settled
            settled = True
            cache.settle(expectation, version=_response_version(response), holds=holds)

        try:
            yield settle
        except (TransientClusterError, CloudUnreachableError):
            cache.invalidate(resource, expectation)
            raise
        except ClusterError:
            cache.forget(expectation)  # the API refused it: nothing changed
            raise
        except BaseException:
            cache.invalidate(resource, expectation)
            raise
        if not settled:
            cache.invalidate(resource, expectation)

    def _patch_daemonset(
        self, what: str, namespace: str, name: str, body: Mapping[str, Any], **params: Any
    ) -> None:
        """PATCH a DaemonSet (`params`: content type, field manager), the cache told of it;
        `what` names the request in errors."""
        with self._writing(DAEMONSETS, namespace, name) as settle:
            settle(
                self.retry(
                    what,
                    lambda: self.apps.patch_namespaced_daemon_set(
                        name, namespace, body=dict(body), _preload_content=False, **params
                    ),
                )
            )

    def apply_namespace(self, manifest: Mapping[str, Any]) -> None:
        name = manifest["metadata"]["name"]
        self.retry(
            f"apply Namespace {name}",
            lambda: self.core.patch_namespace(
                name,
                body=dict(manifest),
                field_manager=FIELD_MANAGER,
                force=True,
                _content_type="application/apply-patch+yaml",
                _preload_content=False,
            ),
        )

    def delete_namespace(self, name: str) -> None:
        try:
            self.retry(
                f"delete Namespace {name}",
                lambda: self.core.delete_namespace(
                    name, propagation_policy="Background", _preload_content=False
                ),
            )
        except NamespaceMissingError:  # the namespace itself is what is not found
            raise NotFoundError(f"delete Namespace {name}: not found") from None

    def apply_daemonset(self, manifest: Mapping[str, Any]) -> None:
        meta = manifest["metadata"]
        namespace, name = meta.get("namespace", "default"), meta["name"]
        self._patch_daemonset(
            f"apply DaemonSet {namespace}/{name}",
            namespace,
            name,
            manifest,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type="application/apply-patch+yaml",
        )

    def annotate_daemonset(
        self, namespace: str, name: str, annotations: Mapping[str, str | None]
    ) -> None:
        """A JSON merge patch of metadata.annotations (null removes one)."""
        self._patch_daemonset(
            f"annotate DaemonSet {namespace}/{name}",
            namespace,
            name,
            {"metadata": {"annotations": dict(annotations)}},
            _content_type="application/merge-patch+json",
        )

    def rollback_daemonset(self, namespace: str, name: str, uid: str, revision: str) -> None:
        """As `kubectl rollout undo --to-revision`: find the DaemonSet's ControllerRevision with
        that hash (one LIST by label) and replace the pod template with its data (a strategic
        merge patch with `$patch: replace`, so nothing of the failed template survives)."""
        revisions = self.list_all(
            f"list controllerrevisions of {namespace}/{name}",
            self.apps.list_controller_revision_for_all_namespaces,
            label_selector=f"{DAEMON_POD_SELECTOR}={revision}",
        )
        target = next(
            (
                r
                for r in revisions
                if (r.get("metadata") or {}).get("namespace") == namespace
                and controller_ref(r.get("metadata") or {}).get("uid") == uid
            ),
            None,
        )
        if target is None:
            raise NotFoundError(f"DaemonSet {namespace}/{name} has no revision {revision}")
        template = dict((target.get("data") or {}).get("spec", {}).get("template") or {})
        self._patch_daemonset(
            f"roll back DaemonSet {namespace}/{name} to {revision}",
            namespace,
            name,
            {"spec": {"template": {**template, "$patch": "replace"}}},
            _content_type="application/strategic-merge-patch+json",
        )

    def delete_daemonset(self, namespace: str, name: str) -> None:
        with self._writing(DAEMONSETS, namespace, name) as settle:
            settle(
                self.retry(
                    f"delete DaemonSet {namespace}/{name}",
                    lambda: self.apps.delete_namespaced_daemon_set(
                        name, namespace, propagation_policy="Background", _preload_content=False
                    ),
                ),
                lambda ds: ds is None or bool(ds["metadata"].get("deletionTimestamp")),
            )

    def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        with self._writing(PODS, namespace, name) as settle:
            settle(
                delete_pod(self, namespace, name, uid),
                lambda pod: pod is None or pod.uid != uid or pod.deleting,
            )

    def create_pull_job(self, manifest: Mapping[str, Any]) -> None:
        meta = manifest["metadata"]
        job = client.V1Job.from_dict(dict(manifest))
        if job is None:
            raise ClusterError(f"Job {meta['name']}: not a batch/v1 Job manifest")
        self.retry(
            f"create Job {meta['namespace']}/{meta['name']}",
            lambda: self.batch.create_namespaced_job(
                meta["namespace"], job, _preload_content=False
            ),
            retry_conflicts=False,
        )

    def delete_job(self, namespace: str, name: str) -> None:
        self.retry(
            f"delete Job {namespace}/{name}",
            lambda: self.batch.delete_namespaced_job(
                name, namespace, propagation_policy="Background", _preload_content=False
            ),
        )

    def record_events(self, events: Sequence[Event]) -> None:
        self.event_writer.write(events)

    def set_pod_condition(self, namespace: str, name: str, uid: str, condition: Condition) -> None:
        def shown(pod: PodObs | None) -> bool:
            if pod is None or pod.uid != uid or condition.type not in PLANNER_CONDITIONS:
                return True  # gone, replaced, or a condition the cache does not keep
            now = pod.condition(condition.type)
            return now is not None and (now.status, now.reason, now.message) == (
                condition.status,
                condition.reason,
                condition.message,
            )

        with self._writing(PODS, namespace, name) as settle:
            settle(set_pod_condition(self, namespace, name, uid, condition), shown)


Settle = Callable[..., None]  # settle(response, holds=None), see KubeCluster._writing


def _response_version(response: Any) -> str:
    """The resourceVersion of the object a write returned ("" when it returned a Status)."""
    try:
        body = json.loads(response.data)
    except (AttributeError, TypeError, ValueError):
        return ""
    return version_of(body) if isinstance(body, dict) and body.get("kind") != "Status" else ""


def delete_pod(cluster: KubeCluster, namespace: str, name: str, uid: str) -> Any:
    """DELETE with a uid precondition: a 409 means the pod was recreated, so it is gone.
    Returns the API's response."""
    options = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid))
    try:
        return cluster.retry(
            f"delete pod {namespace}/{name}",
            lambda: cluster.core.delete_namespaced_pod(
                name, namespace, body=options, _preload_content=False
            ),
            retry_conflicts=False,
        )
    except ConflictError:
        raise NotFoundError(f"pod {namespace}/{name} (uid {uid}) was replaced") from None


def set_pod_condition(
    cluster: KubeCluster, namespace: str, name: str, uid: str, condition: Condition
) -> Any:
    """Strategic-merge patch of pods/status: conditions merge by `type`, others untouched; the
    uid in the patch makes the API server refuse it for a recreated pod (422 Invalid,
    `metadata.uid: … field is immutable`: NotFoundError, the pod was replaced; any other 422
    stays an error). Returns the API's response."""
    body = {"metadata": {"uid": uid}, "status": {"conditions": [condition_to(condition)]}}
    try:
        return cluster.retry(
            f"patch pod {namespace}/{name} status",
            lambda: cluster.core.patch_namespaced_pod_status(
                name,
                namespace,
                body=body,
                _content_type="application/strategic-merge-patch+json",
                _preload_content=False,
            ),
            retry_conflicts=False,
        )
    except InvalidError as exc:
        if "metadata.uid" not in exc.fields:
            raise
        raise NotFoundError(f"pod {namespace}/{name} (uid {uid}) was replaced") from None
    except ConflictError:
        raise NotFoundError(f"pod {namespace}/{name} (uid {uid}) was replaced") from None


class KubeNodeClient:
    """`NodeClient` for the edge agent of one node, and who its credentials are (the API
    server confines them when they are the node's own: `gitops_edge.agent.identity`)."""

    def __init__(self, cluster: KubeCluster, node: str) -> None:
        self.cluster = cluster
        self.node = node

    def now(self) -> float:
        return time.time()

    def list_pods(self) -> list[dict[str, Any]]:
        return self.cluster.list_all(
            f"list pods on {self.node}",
            self.cluster.core.list_pod_for_all_namespaces,
            field_selector=f"spec.nodeName={self.node}",
        )

    def get_pod(self, namespace: str, name: str) -> dict[str, Any]:
        response = self.cluster.retry(
            f"get pod {namespace}/{name}",
            lambda: self.cluster.core.read_namespaced_pod(name, namespace, _preload_content=False),
        )
        return _json(response)

    def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        delete_pod(self.cluster, namespace, name, uid)

    def set_pod_condition(self, namespace: str, name: str, uid: str, condition: Condition) -> None:
        set_pod_condition(self.cluster, namespace, name, uid, condition)

    def who_am_i(self) -> dict[str, Any]:
        """The user the API server takes these credentials for: the userInfo of a
        SelfSubjectReview (authentication.k8s.io/v1, Kubernetes >= 1.28; every authenticated
        user may create one). NotFoundError where the server does not serve it."""
        review = client.V1SelfSubjectReview(
            api_version="authentication.k8s.io/v1", kind="SelfSubjectReview"
        )
        response = self.cluster.retry(
            "create SelfSubjectReview",
            lambda: client.AuthenticationV1Api(self.cluster.api).create_self_subject_review(
                review, _preload_content=False
            ),
            retry_conflicts=False,
        )
        return dict((_json(response).get("status") or {}).get("userInfo") or {})

    def client_certificate(self) -> str | None:
        """The client certificate file of the kubeconfig (one the client library wrote for
        embedded certificate data too); None when the credentials are not a certificate."""
        cert_file = self.cluster.api.configuration.cert_file
        return str(cert_file) if cert_file else None
