"""The log options of long-running commands (`reconcile`, `agent`): `--log-format text|json` and
`--log-level debug|info|warning|error`, and the logger they select (`gitops_edge.reports.logline`:
formats, typed values, credential masking).
Side effects: the logger writes to stderr.
"""

from __future__ import annotations

import argparse

from gitops_edge.reports.logline import FORMATS, LEVELS, Log, make_logger

__all__ = ["add_log_options", "logger", "make_logger"]


def add_log_options(parser: argparse.ArgumentParser, *, what: str) -> None:
    parser.add_argument(
        "--log-format",
        choices=FORMATS,
        default="text",
        help=f"{what} log lines: logfmt (text) or one JSON object per line (default text)",
    )
    parser.add_argument(
        "--log-level",
        choices=LEVELS,
        default="info",
        help="write log records of this level and above (default info)",
    )


def logger(args: argparse.Namespace) -> Log:
    """The logger `--log-format` and `--log-level` ask for."""
    return make_logger(args.log_format, level=args.log_level)
