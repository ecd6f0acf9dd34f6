"""`gitops-edge` entry point: builds the argument parser from the subcommand modules and runs one.

Exit codes (DESIGN §7): 0 success/valid, 1 invalid input or failed work, 2 usage or I/O error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gitops_edge import __version__
from gitops_edge.cli import agent_cmd, diff_cmd, plan_cmd, sim_cmd, status_cmd, validate_cmd

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gitops-edge",
        description="GitOps reconciler for edge Kubernetes fleets.",
    )
    parser.add_argument("--version", action="version", version=f"gitops-edge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (validate_cmd, diff_cmd, plan_cmd, status_cmd, sim_cmd, agent_cmd):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK
    return code
