"""`gitops-edge validate [PATH...] [--format text|json|github]`: check desired-state folders
and files (several at once, as pre-commit passes them).

Side effects: reads files; prints diagnostics to stdout, files not read and a summary to stderr.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from gitops_edge.cli.common import EXIT_INVALID, EXIT_OK, add_format, fail
from gitops_edge.model.kinds import KINDS
from gitops_edge.repository import diagnostics as diag
from gitops_edge.repository.selection import PathReport, validate_paths


def _kinds_epilog() -> str:
    """The one full list of supported kinds (diagnostics point here instead of repeating it)."""
    rows = "\n".join(f"  {k.kind} ({k.api_version})" for k in KINDS.values())
    return (
        f"supported kinds (apiVersion):\n{rows}\n\n"
        "A file holding anything else is an error: list files of other tools in spec.ignore "
        "of gitops-edge.yaml.\nA file inside a repository (the nearest folder upwards with "
        "gitops-edge.yaml, not past\nthe git root) is checked with the whole repository, "
        "and only its own problems are shown."
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "validate",
        help="check every YAML file of a desired-state repository",
        description="Check every YAML file under each PATH against the schemas and the rules. "
        "Exit 0 when valid, 1 when invalid, 2 on usage or I/O errors.",
        epilog=_kinds_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="folders (repositories) or files (checked within their repository); default: .",
    )
    add_format(parser, ("text", "json", "github"))
    parser.add_argument("--warnings-as-errors", action="store_true", help="exit 1 on warnings too")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in dict.fromkeys(args.paths or ["."])]  # each once, in order
    missing = [p for p in paths if not (p.exists() or p.is_symlink())]
    if missing:
        return fail("; ".join(f"{p.as_posix()}: no such file or folder" for p in missing))
    reports = validate_paths(paths)
    shown = list(dict.fromkeys(d for r in reports for d in _displayed(r)))
    if args.format == "json":
        one_folder = len(reports) == 1 and not reports[0].is_file
        print(diag.render_json(list(reports[0].diagnostics) if one_folder else shown))
    elif args.format == "github":
        if shown:
            print(diag.render_github(shown))
    elif shown:
        print(diag.render_text(shown))
    for r in reports:
        if r.not_read:
            print(
                f"{diag.display_name(r.path.as_posix())}: not read by the repository at "
                f"{diag.display_name(r.base.as_posix())} (a hidden file or folder, the status "
                "folder, spec.ignore or not *.yaml/*.yml); not checked",
                file=sys.stderr,
            )
    errors = sum(1 for d in shown if d.severity == diag.ERROR)
    warnings = len(shown) - errors
    skipped = sum(r.not_read for r in reports)
    print(
        f"{_count(sum(r.files for r in reports), 'file')}, "
        f"{_count(sum(r.objects for r in reports), 'object')}: "
        f"{_count(errors, 'error')}, {_count(warnings, 'warning')}"
        + (f" ({_count(skipped, 'file')} not read)" if skipped else ""),
        file=sys.stderr,
    )
    if errors or (warnings and args.warnings_as_errors):
        return EXIT_INVALID
    return EXIT_OK


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def _displayed(report: PathReport) -> list[diag.Diagnostic]:
    """Files as the user named them: a named file as given, the files of a named folder under
    it (relative to the current folder when the folder was)."""
    if report.is_file:
        named = diag.display_name(report.path.as_posix())
        return [replace(d, file=named) for d in report.diagnostics]
    base = report.base.as_posix()
    if base == ".":
        return list(report.diagnostics)
    return [replace(d, file=f"{base.rstrip('/')}/{d.file}") for d in report.diagnostics]
