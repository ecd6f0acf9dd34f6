"""Reading a desired-state folder: which YAML files exist, reading them safely, parsing them.

Owns file discovery (hidden folders, the status folder and `ignore` globs skipped; symlinks out
of the repository, files over 1 MiB and undecodable files reported, never followed or read).
Side effects: reads files under the given root; writes nothing.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path

from gitops_edge.diagnostics import Diagnostic
from gitops_edge.yamldoc import Document, load_documents

MAX_FILE_BYTES = 1024 * 1024
CONFIG_FILE = "gitops-edge.yaml"
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class LoadedTree:
    """Every document read under a root, and every problem met while reading."""

    root: Path
    documents: tuple[Document, ...]
    diagnostics: tuple[Diagnostic, ...]
    files: int  # YAML files read (parsed or not)


def _file_diagnostic(rel: str, message: str, hint: str, rule: str) -> Diagnostic:
    return Diagnostic(file=rel, line=1, col=1, path="", message=message, hint=hint, rule=rule)


def _ignored(rel: str, *, skip_dirs: tuple[str, ...], ignore: tuple[str, ...]) -> bool:
    if any(rel == d or rel.startswith(d + "/") for d in skip_dirs):
        return True
    return any(fnmatch.fnmatchcase(rel, pattern) for pattern in ignore)


def discover(
    root: Path, *, skip_dirs: tuple[str, ...] = (), ignore: tuple[str, ...] = ()
) -> tuple[list[tuple[str, Path]], list[Diagnostic]]:
    """YAML files under root as (relative path, absolute path), sorted; plus link diagnostics."""
    found: list[tuple[str, Path]] = []
    diagnostics: list[Diagnostic] = []
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        kept = []
        for d in sorted(dirnames):
            rel = (base / d).relative_to(root).as_posix()
            if d.startswith(".") or _ignored(rel, skip_dirs=skip_dirs, ignore=ignore):
                continue
            if (base / d).is_symlink():
                target = (base / d).resolve()
                if not target.is_relative_to(real_root):
                    diagnostics.append(
                        _file_diagnostic(
                            rel,
                            "symbolic link points outside the repository; not followed",
                            "replace the link by the files themselves",
                            "symlink",
                        )
                    )
                continue  # links inside the repository are read at their target
            kept.append(d)
        dirnames[:] = kept
        for name in sorted(filenames):
            if not name.endswith(YAML_SUFFIXES) or name.startswith("."):
                continue
            path = base / name
            rel = path.relative_to(root).as_posix()
            if _ignored(rel, skip_dirs=skip_dirs, ignore=ignore):
                continue
            if path.is_symlink() and not path.resolve().is_relative_to(real_root):
                diagnostics.append(
                    _file_diagnostic(
                        rel,
                        "symbolic link points outside the repository; not followed",
                        "replace the link by the file itself",
                        "symlink",
                    )
                )
                continue
            found.append((rel, path))
    found.sort()
    return found, diagnostics


def yaml_files_in(root: Path, folder: str, *, ignore: tuple[str, ...] = ()) -> list[str]:
    """The YAML files discovery would read under `root/folder` were that folder not skipped
    (relative to root). A hidden folder, or one reached through a symbolic link, holds none:
    nothing outside the repository is looked at."""
    current = root
    for part in folder.split("/"):
        current = current / part
        if part.startswith(".") or current.is_symlink() or not current.is_dir():
            return []
    found, _ = discover(current)
    inside = [f"{folder}/{rel}" for rel, _ in found]
    return [rel for rel in inside if not _ignored(rel, skip_dirs=(), ignore=ignore)]


def read_yaml_file(rel: str, path: Path) -> tuple[list[Document], list[Diagnostic]]:
    """Read and parse one file; size, encoding and I/O problems become diagnostics."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return [], [
                _file_diagnostic(
                    rel,
                    f"file is {size} bytes, over the 1 MiB limit; not read",
                    "split it into smaller files",
                    "size",
                )
            ]
        raw = path.read_bytes()
    except OSError as exc:
        return [], [
            _file_diagnostic(rel, f"cannot read file: {exc.strerror}", "check permissions", "io")
        ]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [
            _file_diagnostic(
                rel,
                f"file is not UTF-8 (byte {exc.start})",
                "save the file as UTF-8",
                "encoding",
            )
        ]
    return load_documents(rel, text)


def load_tree(
    root: Path, *, skip_dirs: tuple[str, ...] = (), ignore: tuple[str, ...] = ()
) -> LoadedTree:
    """Load every YAML document under root (or the single file root)."""
    if root.is_file():
        docs, diags = read_yaml_file(root.name, root)
        return LoadedTree(
            root=root.parent, documents=tuple(docs), diagnostics=tuple(diags), files=1
        )
    files, diagnostics = discover(root, skip_dirs=skip_dirs, ignore=ignore)
    documents: list[Document] = []
    for rel, path in files:
        docs, diags = read_yaml_file(rel, path)
        documents.extend(docs)
        diagnostics.extend(diags)
    return LoadedTree(
        root=root, documents=tuple(documents), diagnostics=tuple(diagnostics), files=len(files)
    )
