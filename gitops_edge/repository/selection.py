"""Validating the paths a user (or pre-commit) names: folders whole, files within their repository.

Owns which repository a file belongs to for validation and which diagnostics are its own: a
folder is validated as a repository; a file inside a repository (the nearest folder upwards
holding gitops-edge.yaml, not past the git root) is validated with the whole repository, so
its references (groups, the repository config) resolve, and only that file's diagnostics are
kept; a file in no repository is checked on its own. A repository is validated once however
many of its files are named. Side effects: reads files under the roots found.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gitops_edge.repository.diagnostics import Diagnostic, display_name
from gitops_edge.repository.loader import repository_root_of
from gitops_edge.repository.validation import ValidatedRepo, validate_repository


@dataclass(frozen=True, slots=True)
class PathReport:
    """What validating one named path found. Diagnostics name files relative to `base`
    (a folder: the folder; a file in a repository: its root; a lone file: its folder)."""

    path: Path  # as named
    is_file: bool
    base: Path
    diagnostics: tuple[Diagnostic, ...]
    files: int  # files read
    objects: int
    not_read: bool = False  # a file its repository does not read (hidden, ignored, status)


def validate_paths(paths: Sequence[Path]) -> tuple[PathReport, ...]:
    """Validate each path (which must exist), each repository once."""
    repos: dict[Path, ValidatedRepo] = {}

    def repo_at(root: Path) -> ValidatedRepo:
        key = Path(os.path.abspath(root))
        if key not in repos:
            repos[key] = validate_repository(root)
        return repos[key]

    reports = []
    for path in paths:
        # Anything but a folder is a file here: a FIFO or a dangling link inside a repository
        # is then reported by the repository's reading rules, never opened.
        root = None if path.is_dir() else repository_root_of(path)
        if root is None:
            result = repo_at(path)  # a folder, or a file on its own
            reports.append(
                PathReport(
                    path=path,
                    is_file=path.is_file(),
                    base=path.parent if path.is_file() else path,
                    diagnostics=result.diagnostics,
                    files=result.files,
                    objects=len(result.documents),
                )
            )
            continue
        reports.append(_file_in_repository(path, root=root, result=repo_at(root)))
    return tuple(reports)


def _file_in_repository(path: Path, *, root: Path, result: ValidatedRepo) -> PathReport:
    name = display_name(Path(os.path.abspath(path)).relative_to(root).as_posix())
    own = tuple(d for d in result.diagnostics if d.file == name)
    read = name in result.file_names
    return PathReport(
        path=path,
        is_file=True,
        base=root,
        diagnostics=own,
        files=int(read),
        objects=sum(1 for t in result.documents if t.doc.file == name),
        not_read=not read and not own,
    )
