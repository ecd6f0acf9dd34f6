"""`gitops-edge version [--cluster …|--context NAME|--kubeconfig PATH] [-o text|json|yaml]`:
the client's version (from the installed package's metadata) and, when a cluster is named,
what serves it (a Kubernetes API server's `/version`, or the simulated cluster), as `kubectl
version` and `flux version` show them.

Side effects: with a cluster, one request to its API server (or a read of the state file);
prints the versions.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from importlib import metadata
from typing import Any

from ruamel.yaml import YAML

from gitops_edge import __version__
from gitops_edge.cli.common import EXIT_OK, add_cluster, add_format, fail
from gitops_edge.cluster.base import ClusterError
from gitops_edge.cluster.open import ClusterSpecError, server_version


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    version = sub.add_parser(
        "version",
        help="print the client's version, and the cluster's with --cluster",
        description="Print the version of gitops-edge and, when a cluster is named (--cluster, "
        "--context or --kubeconfig), the version of its Kubernetes API server (or say that it "
        "is the simulated cluster).",
    )
    add_cluster(version, required=False)
    add_format(version, ("text", "json", "yaml"))
    version.set_defaults(func=run)


def client_version() -> str:
    """The installed distribution's version (`__version__` when run from a source tree)."""
    try:
        return metadata.version("gitops-edge")
    except metadata.PackageNotFoundError:
        return __version__


def client_versions() -> dict[str, Any]:
    return {"clientVersion": {"version": client_version(), "python": platform.python_version()}}


def render_text(found: dict[str, Any]) -> str:
    lines = [f"Client Version: {found['clientVersion']['version']}"]
    server = found.get("serverVersion")
    if server is not None and server["kind"] == "simulated":
        lines.append(
            f"Server: the simulated cluster in {server['stateFile']} (gitops-edge's own model of "
            "nodes, a DaemonSet controller and pods; no Kubernetes version)"
        )
    elif server is not None:
        lines.append(f"Server Version: {server.get('gitVersion', '?')} ({server['server']})")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    found = client_versions()
    if args.cluster:
        try:
            found["serverVersion"] = server_version(args.cluster, kubeconfig=args.kubeconfig)
        except (ClusterSpecError, ClusterError, OSError, ValueError) as exc:
            if args.format == "text":  # as kubectl: the client's version, then the error
                print(render_text(found))
            return fail(str(exc))
    if args.format == "json":
        print(json.dumps(found, indent=2))
    elif args.format == "yaml":
        yaml = YAML(typ="safe", pure=True)
        yaml.default_flow_style = False  # block style, as kubectl -o yaml
        yaml.dump(found, sys.stdout)
    else:
        print(render_text(found))
    return EXIT_OK
