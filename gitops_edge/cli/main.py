"""`gitops-edge` entry point: builds the argument parser from the subcommand modules and runs one.

Exit codes (DESIGN §7): 0 success/valid, 1 invalid input or failed work, 2 usage or I/O error.
Everything a command prints, argparse's errors included, is masked (`masked_output`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from gitops_edge import __version__
from gitops_edge.cli.common import fail, resolve_cluster
from gitops_edge.cli.examples import add_examples
from gitops_edge.cli.masked_output import masked_streams

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


# Subcommand → the module that registers it. Only the module of the command being run is
# imported (validate in a pre-commit hook should not pay for git, kubernetes or the agent);
# --help and unknown commands import them all.
COMMANDS = {
    "validate": "validate_cmd",
    "diff": "diff_cmd",
    "pr-comment": "pr_comment_cmd",
    "plan": "plan_cmd",
    "reconcile": "reconcile_cmd",
    "status": "status_cmd",
    "sim": "sim_cmd",
    "agent": "agent_cmd",
    "version": "version_cmd",
    "completion": "completion_cmd",
}


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gitops-edge",
        description="GitOps reconciler for edge Kubernetes fleets.",
    )
    parser.add_argument("--version", action="version", version=f"gitops-edge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    command = next((a for a in argv if not a.startswith("-")), None)
    wanted = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in wanted:
        importlib.import_module(f"gitops_edge.cli.{name}").register(sub)
    add_examples(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    with masked_streams():
        return _run(list(sys.argv[1:] if argv is None else argv))


def _run(argv: list[str]) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if hasattr(args, "cluster_required") and (problem := resolve_cluster(args)) is not None:
        return fail(problem)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK
    return code
