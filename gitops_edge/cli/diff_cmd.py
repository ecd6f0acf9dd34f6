"""`gitops-edge diff --base REV [--head REV] [PATH] [-o markdown|json|text] [--exit-code]`: what
a change between two revisions of the desired state will roll out where, and its expected impact
(from the status last written to the repository). No cluster access.

Exit codes: 0 success, 2 an error (a revision that cannot be read, an invalid desired state at
--head, a PATH outside a git repository); with `--exit-code`, as `kubectl diff`, `flux diff` and
`git diff --exit-code`: 0 nothing changes, 1 something changes, 2 an error.

Side effects: reads the git repository holding PATH (revisions are exported into a temporary
folder; the working tree is not touched); prints the report. Everything printed that comes from
the repository is escaped (`workflow_text`): the GitHub Action runs this command, and the runner
would read a file named `::error::x.yaml` at the start of a line as a workflow command.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from gitops_edge.cli.common import EXIT_OK, add_format, fail
from gitops_edge.model.desired import DesiredState
from gitops_edge.reports import diff, workflow_text
from gitops_edge.reports.markdown_budget import PREVIEW_BUDGET, fit_markdown
from gitops_edge.repository import diagnostics as diag
from gitops_edge.repository.render import render
from gitops_edge.repository.validation import ValidatedRepo, validate_repository
from gitops_edge.source.gitsource import GitSourceError
from gitops_edge.source.gitsource_revisions import export_revision, repository_root
from gitops_edge.source.status import rows_from_status_file

EXIT_CHANGED = 1  # with --exit-code: something changes
_MORE_PROBLEMS = (
    "… {lines} more lines of problems: see the annotations on the files and the step log "
    "(`gitops-edge validate`)"
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "diff",
        help="preview what a change between two revisions rolls out where",
        description="Compare the desired state at --base and --head (git revisions of the "
        "repository holding PATH) per workload and node group, with the expected impact from "
        "the last status written to the repository.",
    )
    parser.add_argument("path", nargs="?", default=".", help="desired-state folder (default .)")
    parser.add_argument("--base", required=True, metavar="REV", help="the revision before")
    parser.add_argument("--head", default="HEAD", metavar="REV", help="the revision after")
    add_format(parser, ("markdown", "json", "text"))
    parser.add_argument(
        "--exit-code",
        action="store_true",
        help="exit 1 when something changes and 0 when nothing does, as kubectl diff and flux "
        "diff (errors: 2 either way)",
    )
    parser.set_defaults(func=run)


def _status_rows(root: Path, validated: ValidatedRepo) -> dict[tuple[str, str | None], Any]:
    rows: dict[tuple[str, str | None], Any] = {}
    folder = root / validated.config.status_path
    for file in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        try:
            for row in rows_from_status_file(file.read_text(encoding="utf-8")):
                rows[(row["workload"], row.get("group"))] = row
        except (ValueError, KeyError, TypeError):
            continue  # not a status file of ours: no impact figures from it
    return rows


def _shown(found: list[diag.Diagnostic]) -> list[diag.Diagnostic]:
    """Diagnostics as printed: each on one line, no file name read as a workflow command."""
    inline = workflow_text.inline
    return [
        replace(
            d,
            file=workflow_text.display_path(d.file),
            path=inline(d.path),
            message=inline(d.message),
            hint=inline(d.hint),
        )
        for d in found
    ]


def _print(text: str, *, end: str = "\n", stderr: bool = False) -> None:
    print(workflow_text.guard_lines(text), end=end, file=sys.stderr if stderr else sys.stdout)


def _state(validated: ValidatedRepo, revision: str) -> DesiredState:
    return render(validated.documents, config=validated.config, revision=revision)


def run(args: argparse.Namespace) -> int:
    path = Path(args.path).resolve()
    try:
        top = repository_root(path)
        relative = path.relative_to(top)
    except (GitSourceError, ValueError) as exc:
        return fail(workflow_text.guard_lines(str(exc)))
    with tempfile.TemporaryDirectory(prefix="gitops-edge-diff-") as tmp:
        try:
            base_sha = export_revision(top, args.base, Path(tmp) / "base")
            head_sha = export_revision(top, args.head, Path(tmp) / "head")
        except GitSourceError as exc:
            return fail(workflow_text.guard_lines(str(exc)))
        base_root, head_root = Path(tmp) / "base" / relative, Path(tmp) / "head" / relative
        head = validate_repository(head_root)
        if not head.valid:
            text = diag.render_text(_shown(list(head.diagnostics)))
            _print(text, stderr=True)
            if args.format == "markdown":
                markdown = (
                    f"### gitops-edge diff `{base_sha[:12]}` → `{head_sha[:12]}`\n\n"
                    f"The desired state at `{head_sha[:12]}` is invalid and would not be "
                    f"applied:\n\n{workflow_text.markdown_code_block(text)}"
                )
                _print(
                    fit_markdown(markdown, limit=PREVIEW_BUDGET, note=_MORE_PROBLEMS).rstrip("\n")
                )
            return fail(f"the desired state at {head_sha[:12]} is invalid")
        base = validate_repository(base_root) if base_root.is_dir() else None
        before = _state(base, base_sha) if base is not None and base.valid else None
        report = diff.compare(before, _state(head, head_sha), _status_rows(head_root, head))
    if args.format == "json":
        _print(diff.render_json(report))
    elif args.format == "text":
        _print(diff.render_text(report))
    else:
        _print(diff.render_markdown(report), end="")
    changed = bool(report.changes or report.jobs)
    return EXIT_CHANGED if args.exit_code and changed else EXIT_OK
