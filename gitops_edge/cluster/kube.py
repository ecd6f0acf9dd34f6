"""The Kubernetes client: the connection, retried requests and paged LISTs (`KubeApi`).

The only module that imports `kubernetes`: it makes the client's API objects (`KubeApi`) and
the request bodies that need its model classes (`job_body`, `delete_options`,
`self_subject_review`), and the other modules call those. `KubeCluster` (`kube_cluster`)
builds on `KubeApi`: the observe side is `kube_read`, the writes `kube_write`, KubeEdge node
jobs `kube_jobs`, the edge agent's client `kube_node`, the cache `kube_cache`, Events
`kube_events`, the Lease `kube_lease`.
Reads are paginated LISTs (`limit`/`continue`) whose bodies are parsed straight from JSON
(`_preload_content=False`), never through the client's model classes, the next page fetched
while the caller works on the current one; a continue token that expired (410 Gone) is a
`ListExpiredError`, and the list is made again from its first page (`kube_cache.read_pages`).
429, 5xx and (where safe) 409 are retried with exponential backoff and jitter, honouring
Retry-After; anything else fails that object only.
A 404 whose Status names `details.kind: namespaces` (a create or apply in a namespace that does
not exist) is a `NamespaceMissingError`, not "gone". Errors read as one line (`kube_errors`):
an unreachable server and why, refused credentials (401) naming the context, a kubeconfig or
context that does not exist; a 403 is the server's message (it names the missing permission)
with a hint.
Side effects: HTTP requests to the API server; `connect_to` reads the kubeconfig.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import urllib3
from kubernetes import client, config
from kubernetes.client import rest
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from gitops_edge.cluster.base import (
    CloudUnreachableError,
    ClusterError,
    NamespaceMissingError,
    NotFoundError,
    TransientClusterError,
    UnauthorizedError,
)
from gitops_edge.cluster.kube_errors import (
    ConflictError,
    Endpoint,
    InvalidError,
    ListExpiredError,
    config_problem,
    context_names,
)
from gitops_edge.cluster.kube_pages import continue_in, continue_of
from gitops_edge.model.observed import POD_IMAGE_READY, POD_NEED_UPGRADE

if TYPE_CHECKING:
    from gitops_edge.cluster.kube_cache import KubeCache

PAGE_SIZE = 5000
# DaemonSet pods always carry this label (StatefulSet pods too; Deployment and Job pods never):
# the server filters the rest out of the biggest list.
DAEMON_POD_SELECTOR = "controller-revision-hash"
# Pod conditions the planner and the agent read; the kubelet's others are not kept.
PLANNER_CONDITIONS = frozenset({"Ready", POD_NEED_UPGRADE, POD_IMAGE_READY})
MAX_ATTEMPTS = 5
# Connections the client keeps open to the API server: the apply's workers (at most 64) and
# the watch-fed cache's watches, the list prefetch, the Lease and Events besides. The client
# library's default is 5 per CPU: more requests at once than that each open a connection and
# drop it afterwards ("Connection pool is full, discarding connection").
CONNECTION_POOL_SIZE = 64 + 16
RETRYABLE = frozenset({429, 500, 502, 503, 504})
FORBIDDEN_HINT = (
    "grant that permission to the account gitops-edge runs as (deploy/ has the roles it needs)"
)
Obj = dict[str, Any]


class KubeConfigError(ValueError):
    """No usable kubeconfig / in-cluster configuration."""


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
            named = Path(explicit).expanduser()
            if context and named.is_file() and context not in context_names([named]):
                raise KubeConfigError(
                    config_problem(
                        flag=f"--context {context}", path=explicit, context=context, detail=""
                    )
                ) from None
            raise KubeConfigError(
                f"--kubeconfig {explicit}: not a usable kubeconfig ({exc})"
            ) from None
        if context is None:
            try:
                config.load_incluster_config()  # type: ignore[no-untyped-call]
                made = _pooled(client.ApiClient())
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
    return _pooled(made), Endpoint.of(made.configuration.host, context=context)


def _pooled(made: client.ApiClient) -> client.ApiClient:
    """`made` with a connection pool of at least `CONNECTION_POOL_SIZE` (one client is shared
    by the apply's workers: the official client is safe to call from several threads, its
    urllib3 pool handing each request its own connection)."""
    configuration = made.configuration
    if (configuration.connection_pool_maxsize or 0) < CONNECTION_POOL_SIZE:
        configuration.connection_pool_maxsize = CONNECTION_POOL_SIZE
        made.rest_client.pool_manager.clear()
        made.rest_client = rest.RESTClientObject(configuration)
    return made


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
                if status == 410:  # a continue token compacted away: list again (read_pages)
                    raise ListExpiredError(f"{what}: 410 {_reason(exc)}") from None
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


def bind_list(lister: Callable[..., Any], params: dict[str, Any]) -> Callable[[], Any]:
    """A call of `lister` with `params` whose response body is left unread (JSON, parsed by
    the caller)."""
    return lambda: lister(**params, _preload_content=False)


def parse_json(data: bytes | str, *, what: str) -> Any:
    """`data` parsed with orjson (several times faster than the stdlib on LIST pages; the same
    types; what the API server writes parses the same: int64 exact, no NaN, no duplicate keys).
    Not JSON (a proxy's page, a cut-off body): a ClusterError naming the request."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ClusterError(
            f"{what}: the API server's answer is not JSON ({exc}); check that the kubeconfig's "
            "server is the API server itself and no proxy in between rewrites or cuts off its "
            "answers, then retry"
        ) from None


def json_body(response: Any, *, what: str = "the API server's response") -> Obj:
    """The JSON body of a response read with `_preload_content=False`."""
    data: Obj = parse_json(response.data, what=what)
    return data


class KubeApi:
    """The API objects of one client, its retriers and paged LISTs: what `KubeCluster` and the
    edge agent's `KubeNodeClient` make their requests with."""

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
        self.custom = client.CustomObjectsApi(api)  # custom resources, plain JSON bodies
        self.apis = client.ApisApi(api)  # discovery
        self.auth = client.AuthenticationV1Api(api)
        self.retry = retrier or Retrier()
        # Watches are counted apart: they run beside the passes, in the cache's threads.
        self.watch_retry = Retrier(sleep=self.retry.sleep, base_delay=self.retry.base_delay)
        self.retry.endpoint = self.watch_retry.endpoint = endpoint or Endpoint.of(
            api.configuration.host, context=None
        )
        self.cache: KubeCache | None = None
        self._streams: set[Any] = set()  # watch responses being read
        self._streams_lock = threading.Lock()

    def server_version(self) -> Obj:
        """The API server's `/version` (gitVersion, major, minor, platform…), as `kubectl
        version` reads it."""
        version = client.VersionApi(self.api)
        return json_body(
            self.retry("read the server version", lambda: version.get_code(_preload_content=False)),
            what="read the server version",
        )

    # ── paged LISTs ────────────────────────────────────────────────────────────────────────

    def pages(self, what: str, lister: Callable[..., Any], **selectors: str) -> Iterator[list[Obj]]:
        """The items of every page of a LIST (see `bodies`)."""
        for body in self.bodies(what, lister, **selectors):
            yield body.get("items") or []

    def bodies(self, what: str, lister: Callable[..., Any], **selectors: str) -> Iterator[Obj]:
        """Every page of a LIST, `PAGE_SIZE` objects at a time, as the API returns it. The next
        page is asked for in the background as soon as this one's body has arrived (its
        continue token read from the body's head, `continue_of`), before this one is parsed:
        the API server makes the next page while the caller parses this one and works on it
        (the wait for the server releases the GIL)."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="list-prefetch") as pool:
            pending: Future[bytes] = pool.submit(self._page, what, lister, selectors, None)
            while True:
                data = pending.result()
                early = continue_of(data)  # None: the head does not tell
                if early:
                    pending = pool.submit(self._page, what, lister, selectors, early)
                body: Obj = parse_json(data, what=what)
                token = continue_in(body)
                if early is None:  # told only by the whole body, parsed first
                    if token:
                        pending = pool.submit(self._page, what, lister, selectors, token)
                elif token != early:
                    raise ClusterError(
                        f"{what}: the page's continue token is not the one its head names (a "
                        "metadata member written twice?); check that nothing between us and "
                        "the API server rewrites its answers, then retry"
                    )
                yield body
                if not token:
                    return

    def _page(
        self, what: str, lister: Callable[..., Any], selectors: dict[str, str], token: str | None
    ) -> bytes:
        """The raw body of one page (read here, in the prefetch thread)."""
        params: dict[str, Any] = {"limit": PAGE_SIZE, **selectors}
        if token:
            params["_continue"] = token
        data: bytes = self.retry(what, bind_list(lister, params)).data
        return data

    def list_all(self, what: str, lister: Callable[..., Any], **selectors: str) -> list[Obj]:
        return [item for page in self.pages(what, lister, **selectors) for item in page]


# ── request bodies built with the client's model classes (the client stays in this module) ──


def job_body(manifest: dict[str, Any]) -> Any:
    """A batch/v1 Job manifest as the client's V1Job (None when it is not one)."""
    return client.V1Job.from_dict(manifest)


def delete_options(*, uid: str) -> Any:
    """DeleteOptions with a uid precondition."""
    return client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid))


def self_subject_review() -> Any:
    """An empty SelfSubjectReview (authentication.k8s.io/v1) to create."""
    return client.V1SelfSubjectReview(
        api_version="authentication.k8s.io/v1", kind="SelfSubjectReview"
    )
