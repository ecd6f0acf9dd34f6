"""`gitops-edge validate [PATH] [--format text|json|github]`: check a desired-state folder.

Side effects: reads files; prints diagnostics to stdout and a summary to stderr.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from gitops_edge.cli.common import EXIT_INVALID, EXIT_OK, add_format, fail
from gitops_edge.repository import diagnostics as diag
from gitops_edge.repository.validation import validate_repository


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "validate",
        help="check every YAML file of a desired-state repository",
        description="Check every YAML file under PATH against the schemas and the rules. "
        "Exit 0 when valid, 1 when invalid, 2 on usage or I/O errors.",
    )
    parser.add_argument("path", nargs="?", default=".", help="folder or file (default: .)")
    add_format(parser, ("text", "json", "github"))
    parser.add_argument("--warnings-as-errors", action="store_true", help="exit 1 on warnings too")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    root = Path(args.path)
    if not root.exists():
        return fail(f"{root}: no such file or folder")
    result = validate_repository(root)
    found = list(result.diagnostics)
    if args.format == "json":
        print(diag.render_json(found))
    elif args.format == "github":
        prefix = _github_prefix(root)
        if found:
            print(diag.render_github(found, root_prefix=prefix))
    elif found:
        print(diag.render_text(_display_paths(found, root)))
    errors = sum(1 for d in found if d.severity == diag.ERROR)
    warnings = len(found) - errors
    print(
        f"{result.files} files, {len(result.documents)} objects: "
        f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}",
        file=sys.stderr,
    )
    if errors or (warnings and args.warnings_as_errors):
        return EXIT_INVALID
    return EXIT_OK


def _root_dir(root: Path) -> Path:
    return root.parent if root.is_file() else root


def _display_paths(found: list[diag.Diagnostic], root: Path) -> list[diag.Diagnostic]:
    """Show files as the user named them: relative to the current folder when possible."""
    base = _root_dir(root)
    return [
        replace(d, file=(base / d.file).as_posix() if str(base) != "." else d.file) for d in found
    ]


def _github_prefix(root: Path) -> str:
    base = _root_dir(root)
    text = base.as_posix()
    return "" if text == "." else text.rstrip("/") + "/"
