"""Options and error printing shared by every subcommand (DESIGN §7: same option, same meaning).

Side effects: writes to stderr in `fail` and `warn` (credentials masked: `redaction.redact`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gitops_edge.reports.redaction import redact

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


def add_format(parser: argparse.ArgumentParser, choices: tuple[str, ...]) -> None:
    """`-o/--output FORMAT` (kubectl's and flux's spelling), also `--format FORMAT`."""
    parser.add_argument(
        "-o",
        "--output",
        "--format",
        dest="format",
        choices=choices,
        default=choices[0],
        metavar="FORMAT",
        help=f"output format: {', '.join(choices)} (default {choices[0]})",
    )


def add_cluster(
    parser: argparse.ArgumentParser,
    *,
    required: bool = True,
    kubeconfig_help: str = "with a Kubernetes cluster: the kubeconfig file to use instead of "
    "KUBECONFIG (or ~/.kube/config); implies --cluster kube",
) -> None:
    """`--cluster`, and kubectl's `--kubeconfig PATH` and `--context NAME` beside it: checked
    and folded into `--cluster kube:CONTEXT` by `resolve_cluster` (`required`: one of them
    must be given)."""
    parser.add_argument(
        "--cluster",
        metavar="sim:FILE|kube[:CONTEXT]",
        help="the cluster: a simulated cluster state file, or Kubernetes from KUBECONFIG",
    )
    parser.add_argument("--kubeconfig", metavar="PATH", help=kubeconfig_help)
    parser.add_argument(
        "--context",
        metavar="NAME",
        help="with a Kubernetes cluster: the kubeconfig context to use (default its current "
        "context); the same as --cluster kube:NAME",
    )
    parser.set_defaults(cluster_required=required)


def resolve_cluster(args: argparse.Namespace) -> str | None:
    """Fold `--kubeconfig`/`--context` into `args.cluster` (`kube` or `kube:CONTEXT`), or say
    why the combination given is refused (a usage error)."""
    spec, context, kubeconfig = args.cluster, args.context, args.kubeconfig
    if context == "":
        return "--context: name a context of the kubeconfig"
    if not (context or kubeconfig):
        if spec is None and args.cluster_required:
            return "the following arguments are required: --cluster (or --context/--kubeconfig)"
        return None  # --cluster alone (or nothing, where it is optional): as given
    kind, _, named = (spec or "kube").partition(":")
    if kind != "kube":
        flag = "--context" if context else "--kubeconfig"
        return f"{flag} applies to --cluster kube only, not --cluster {spec}: drop one of them"
    if context and named and named != context:
        return (
            f"--context {context} and --cluster {spec} name different contexts: give one, "
            f"e.g. --cluster kube --context {context}"
        )
    args.cluster = f"kube:{context or named}" if context or named else "kube"
    return None


def add_verbose(parser: argparse.ArgumentParser, help_text: str = "more detail") -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help=help_text)


def cache_dir(kind: str) -> Path:
    """`$XDG_CACHE_HOME/gitops-edge/<kind>` (default `~/.cache/gitops-edge/<kind>`)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gitops-edge" / kind


def fail(message: str, code: int = EXIT_USAGE) -> int:
    """Print one clear error line and return the exit code."""
    print(redact(f"gitops-edge: error: {message}"), file=sys.stderr)
    return code


def warn(message: str) -> None:
    """Print one warning line."""
    print(redact(f"gitops-edge: warning: {message}"), file=sys.stderr, flush=True)


MAX_SECONDS = 7 * 24 * 3600.0


def passes(value: str) -> int:
    """argparse type of a count of passes: a whole number, at least 1."""
    if not value.strip().isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: write a whole number of passes, at least 1")
    return int(value)


def seconds(value: str) -> float:
    """argparse type of a duration option: a finite number of seconds, more than 0 and at most
    a week (nan, inf, 0 and negative numbers are refused at start, not met at run time)."""
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not 0 < number <= MAX_SECONDS:  # False for nan
        raise argparse.ArgumentTypeError(
            f"{value!r}: write a number of seconds, more than 0 and at most {MAX_SECONDS:.0f} "
            "(a week)"
        )
    return number
