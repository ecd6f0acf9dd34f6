"""`gitops-edge agent`: serve one edge node's OTA upgrade API (DESIGN §2).

With `--cluster kube` it first checks that its credentials are the node's own identity (the
API server then confines them to the node's pods: `gitops_edge.agent.identity`) and refuses to
start otherwise. Side effects: lists the node's pods once at start (refusing to start, exit 2,
when the API refuses the credentials, or cannot be reached — or read: a damaged simulated state
file — and nothing is cached yet); listens on a socket until SIGTERM/SIGINT; reads and writes
the cluster (through a NodeClient) and the local pod cache; logs (`--log-format`,
`--log-level`: the loop's lines) its warnings, start, stop and each request to stderr.
"""

from __future__ import annotations

import argparse
import re
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import cast

from gitops_edge.agent.cache import PodCache
from gitops_edge.agent.handlers import Agent
from gitops_edge.agent.identity import NODE_KUBECONFIG, Check, CredentialSource, verify
from gitops_edge.agent.server import (
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_TIMEOUT,
    is_loopback,
    make_server,
)
from gitops_edge.cli.common import EXIT_OK, add_cluster, cache_dir, fail, seconds
from gitops_edge.cli.logs import add_log_options, logger
from gitops_edge.cluster.base import CloudUnreachableError, ClusterError, NodeClient
from gitops_edge.cluster.sim_node import SimNodeClient
from gitops_edge.reconciler.addresses import parse_address
from gitops_edge.reports.logline import Log

DEFAULT_LISTEN = "127.0.0.1:10267"
_NODE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    agent = sub.add_parser(
        "agent",
        help="serve the node-local OTA upgrade API for one edge node",
        description="Serve GET /pods and POST /openyurt.io/v1/namespaces/{ns}/pods/{pod}/"
        "upgrade|imagepull for the pods of one node, on loopback by default.",
    )
    agent.add_argument("--node", required=True, help="this node's name")
    add_cluster(
        agent,
        kubeconfig_help="with --cluster kube: the kubeconfig to use instead of KUBECONFIG, "
        f"normally the kubelet's ({NODE_KUBECONFIG}): the agent must act as its node",
    )
    agent.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"address to serve on (default {DEFAULT_LISTEN}; :PORT is every interface; port 0 "
        "picks a free one)",
    )
    agent.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --listen address: anyone who can reach it can trigger "
        "upgrades of this node's pods (the API has no authentication, as upstream)",
    )
    agent.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where the node's pods are cached for offline answers "
        "(default $XDG_CACHE_HOME/gitops-edge/agent or ~/.cache/gitops-edge/agent)",
    )
    agent.add_argument(
        "--timeout",
        type=seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="drop a connection silent this long, and give up an answer the client does not "
        f"read for this long (default {DEFAULT_TIMEOUT:g})",
    )
    agent.add_argument(
        "--request-timeout",
        type=seconds,
        default=DEFAULT_REQUEST_TIMEOUT,
        metavar="SECONDS",
        help="a request's line, headers and body must all arrive within this long of the "
        "agent starting to wait for it, else 408 and the connection is closed (default "
        f"{DEFAULT_REQUEST_TIMEOUT:g})",
    )
    add_log_options(agent, what="the agent's")
    agent.set_defaults(func=run)


def parse_listen(value: str) -> tuple[str, int]:
    """--listen: HOST:PORT, [IPv6]:PORT, or :PORT for every (IPv4) interface."""
    try:
        return parse_address(value, example=DEFAULT_LISTEN)
    except ValueError as exc:
        raise ValueError(f"--listen {exc}") from None


def node_client(spec: str, node: str, kubeconfig: Path | None = None) -> NodeClient:
    """The agent's client of the cloud (ValueError when it cannot be made). On Kubernetes its
    credentials are checked to be `node`'s by `identity.verify` before the agent serves."""
    kind, _, rest = spec.partition(":")
    if kind == "sim" and rest:
        if kubeconfig is not None:
            raise ValueError(f"--kubeconfig applies to --cluster kube only, not {spec}")
        return SimNodeClient(Path(rest), node)
    if kind == "kube":
        from gitops_edge.cluster.kube_cluster import KubeCluster  # imports kubernetes
        from gitops_edge.cluster.kube_node import KubeNodeClient

        cluster = KubeCluster.connect(
            rest or None, kubeconfig=str(kubeconfig) if kubeconfig else None
        )
        return KubeNodeClient(cluster, node)
    raise ValueError(f"--cluster {spec!r}: use sim:FILE or kube[:CONTEXT]")


def first_contact(cloud: NodeClient, cache: PodCache, *, node: str, source: str, log: Log) -> str:
    """List this node's pods once before serving (it fills the cache). What keeps the agent from
    serving is returned: credentials the API server refuses, or an API that cannot be reached
    (or read: a damaged simulated state file) while nothing is cached (a wrong kubeconfig, most
    likely). Offline with a cache, it serves from the cache (DESIGN §2), with a warning; a
    cache that cannot be written is a warning too."""
    try:
        pods = cloud.list_pods()
    except ClusterError as exc:
        if not isinstance(exc, CloudUnreachableError):
            return str(exc)
        problem = str(exc)
    except Exception as exc:  # the client itself failed: as good as unreachable
        problem = f"cannot read the pods of node {node} from {source}: {exc}."
    else:
        try:
            cache.save(pods)
        except OSError as exc:
            log("warning", f"cannot write the pod cache {cache.path}: {exc}; serving without it")
        return ""
    if cache.load() is None:
        return problem
    log("warning", f"{problem} Serving the pods cached for {node} until it can be reached")
    return ""


def report_identity(check: Check, node: str, log: Log) -> str:
    """Why the agent must not start with these credentials; empty when they are `node`'s, or
    cannot be checked while offline (then a warning)."""
    if check.warning:
        log("warning", check.warning, node=node)
    if check.identity is not None and not check.error:
        print(f"agent for node {node} acts as {check.identity.user}", flush=True)
    return check.error


def run(args: argparse.Namespace) -> int:
    if not _NODE_NAME.fullmatch(args.node) or len(args.node) > 253:
        return fail(f"--node {args.node!r}: not a valid node name (DNS-1123 subdomain)")
    try:
        host, port = parse_listen(args.listen)
    except ValueError as exc:
        return fail(str(exc))
    if not is_loopback(host) and not args.allow_remote:
        return fail(
            f"--listen {args.listen}: not a loopback address. Anyone who can reach it could "
            "upgrade this node's pods; add --allow-remote if that is really intended"
        )
    try:
        cloud = node_client(args.cluster, args.node, args.kubeconfig)
    except ValueError as exc:
        return fail(str(exc))
    cache = PodCache((args.cache_dir or cache_dir("agent")) / f"{args.node}.pods.json")
    # On Kubernetes, whose identity it is, before anything is cached; a refused credential or
    # an API that cannot be reached is then told by the first list, in kubectl's words.
    kube = args.cluster.partition(":")[0] == "kube"
    check = verify(cast(CredentialSource, cloud), args.node) if kube else None
    if check is not None and check.error and not check.api_failed:
        return fail(check.error)
    log = logger(args)
    refused = first_contact(cloud, cache, node=args.node, source=args.cluster, log=log)
    if not refused and check is not None:
        refused = report_identity(check, args.node, log)
    if refused:
        return fail(refused)
    try:
        server = make_server(
            host,
            port,
            Agent(node=args.node, cloud=cloud, cache=cache),
            timeout=args.timeout,
            request_timeout=args.request_timeout,
            log=log,
        )
    except OSError as exc:
        return fail(f"cannot listen on {args.listen}: {exc.strerror or exc}")
    bound_port = server.server_address[1]
    address = f"http://{host}:{bound_port}"
    print(f"agent for node {args.node} listening on {address}", flush=True)
    log("info", "agent listening", node=args.node, address=address)

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with server:
        server.serve_forever(poll_interval=0.2)
    print(f"agent for node {args.node} stopped", flush=True)
    log("info", "agent stopped", node=args.node)
    return EXIT_OK
