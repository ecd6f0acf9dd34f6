"""Where status may be written: `spec.status.path` of gitops-edge.yaml names a folder inside the
repository, outside `.git`, that neither holds nor lies in a folder holding desired state (a
status pass replaces that folder's files: over `workloads/` it deleted the workloads);
`spec.status.branch` names a branch git accepts (`git check-ref-format --branch`), or is `""`
for the spec branch itself.

Pure functions over paths and documents. No side effects.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePosixPath

from gitops_edge.repository.diagnostics import Diagnostic
from gitops_edge.repository.docpath import dig
from gitops_edge.repository.yamldoc import Document

_PATH: list[str | int] = ["spec", "status", "path"]
_HINT = "choose a folder that holds no desired state, such as status (the default)"
_BRANCH: list[str | int] = ["spec", "status", "branch"]
_BRANCH_HINT = (
    "name a branch git accepts, such as gitops-edge/status (the default), or write "
    'branch: "" to commit status to the spec branch itself'
)
# What the schema's pattern for status.branch refuses already (reported by the schema check).
_BRANCH_SCHEMA = re.compile(r"(?!.*\.\.)([A-Za-z0-9_][A-Za-z0-9._/-]*)?")
_BRANCH_BAD_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def status_branch_problem(branch: str) -> str | None:
    """Why git refuses `branch` as a branch name (the rules of `git check-ref-format
    --branch`), or None; `""` (the spec branch) is fine."""
    if not branch:
        return None
    if _BRANCH_BAD_CHARS.search(branch):
        return f"{branch!r} holds a space, a control character or one of ~ ^ : ? * [ \\"
    if branch.startswith("-") or branch == "HEAD" or branch == "@":
        return f"{branch!r} is not a branch name git accepts (it starts with '-', or is HEAD or @)"
    if ".." in branch or "@{" in branch:
        return f"{branch!r} holds '..' or '@{{'"
    if branch.startswith("/") or branch.endswith("/") or "//" in branch:
        return f"{branch!r} starts or ends with '/', or holds '//' (an empty name component)"
    if branch.endswith("."):
        return f"{branch!r} ends with '.'"
    for part in branch.split("/"):
        if part.startswith(".") or part.endswith(".lock"):
            return f"{branch!r} has a component {part!r} that starts with '.' or ends with '.lock'"
    return None


def check_status_branch(config_doc: Document | None) -> list[Diagnostic]:
    """An error at spec.status.branch for a name git refuses that the schema lets through."""
    raw = dig(config_doc.data, *_BRANCH) if config_doc is not None else None
    if config_doc is None or not isinstance(raw, str) or not _BRANCH_SCHEMA.fullmatch(raw):
        return []
    problem = status_branch_problem(raw)
    if problem is None:
        return []
    message = f"status.branch {problem}: git refuses it as a branch name"
    return [config_doc.diagnostic(_BRANCH, message, hint=_BRANCH_HINT, rule="status-branch")]


def status_path_problem(path: str) -> str | None:
    """Why `path` cannot be a status folder (relative to the repository root), or None:
    empty or the root itself, absolute, a `.` or `..` segment (could leave the repository), a
    backslash or a line break, or inside `.git` (any case)."""
    syntax = _syntax_problem(path)
    if syntax is None and _in_git(path):
        return f"{path!r} is inside .git, which is git's own data, not the repository's files"
    return syntax


def _syntax_problem(path: str) -> str | None:
    """What the schema's pattern for status.path refuses too."""
    if path.startswith("/") or "\\" in path or "\n" in path:
        return f"{path!r} is not a relative folder"
    parts = [p for p in path.split("/") if p]
    if not parts:
        return "the status folder cannot be the repository root"
    if any(p in (".", "..") for p in parts):
        return f"{path!r} has a '.' or '..' segment"
    return None


def normalise_status_path(path: str) -> str:
    """`status/`, `a//b` → `status`, `a/b` (for a path without problems)."""
    return "/".join(p for p in path.split("/") if p)


def _in_git(path: str) -> bool:
    return any(p.lower() == ".git" for p in path.split("/"))


def check_status_path(
    config_doc: Document | None, *, status_path: str, desired_files: Sequence[str]
) -> list[Diagnostic]:
    """Errors for a status folder over desired state. `desired_files`: every YAML file (relative,
    `/`-separated) read as desired state were the status folder not skipped, i.e. not ignored.
    A folder holds desired state when it directly contains one; the root does not count."""
    raw = dig(config_doc.data, *_PATH) if config_doc is not None else None
    if config_doc is None or not isinstance(raw, str):
        return _yaml_in_default_folder(status_path, desired_files)
    if _syntax_problem(raw) is not None:
        return []  # empty, absolute, '.', '..': the schema's pattern reports those
    problem = status_path_problem(raw)
    if problem is not None:
        return [
            config_doc.diagnostic(_PATH, f"status.path {problem}", hint=_HINT, rule="status-path")
        ]
    folder = normalise_status_path(raw)
    status = PurePosixPath(folder)
    for file in sorted(desired_files):
        holder = PurePosixPath(file).parent
        if holder == PurePosixPath("."):
            continue
        if holder == status or status in holder.parents:
            message = (
                f"status.path {folder!r} holds desired state ({file}): a status pass replaces "
                "every file in that folder, and the folder is never read as desired state"
            )
        elif holder in status.parents:
            message = (
                f"status.path {folder!r} is inside {holder}/, which holds desired state "
                f"({file}): keep status apart from the desired state"
            )
        else:
            continue
        return [config_doc.diagnostic(_PATH, message, hint=_HINT, rule="status-path")]
    return []


def _yaml_in_default_folder(status_path: str, desired_files: Sequence[str]) -> list[Diagnostic]:
    """YAML files in the status folder when spec.status.path is not written: at each file."""
    prefix = normalise_status_path(status_path) + "/"
    return [
        Diagnostic(
            file=file,
            line=1,
            col=1,
            path="",
            message=f"this file is in the status folder {prefix} (spec.status.path): it is never "
            "read as desired state, and a status pass would delete it",
            hint=f"move it out of {prefix}, or set spec.status.path in gitops-edge.yaml to a "
            "folder that holds no desired state",
            rule="status-path",
        )
        for file in sorted(desired_files)
        if file.startswith(prefix)
    ]
