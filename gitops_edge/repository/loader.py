"""Reading a desired-state folder: which YAML files exist, reading them safely, parsing them.

Owns file discovery (hidden folders, the status folder and `ignore` globs skipped; symbolic
links out of the repository, into a hidden folder such as `.git` or in a loop, files over
1 MiB, anything but a regular file (a FIFO would block the reader) and undecodable files
reported, never followed or read). Files are named by `display_name` of their relative path
from here on, so a name that is not UTF-8 or not printable is safe in every output.
Side effects: reads files under the given root; writes nothing.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from gitops_edge.repository.diagnostics import Diagnostic, display_name
from gitops_edge.repository.yamldoc import Document, load_documents

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
    names: tuple[str, ...] = ()  # their display names, relative to root


def _file_diagnostic(rel: str, message: str, hint: str, rule: str) -> Diagnostic:
    return Diagnostic(file=rel, line=1, col=1, path="", message=message, hint=hint, rule=rule)


def _ignored(rel: str, *, skip_dirs: tuple[str, ...], ignore: tuple[str, ...]) -> bool:
    if any(rel == d or rel.startswith(d + "/") for d in skip_dirs):
        return True
    return any(fnmatch.fnmatchcase(rel, pattern) for pattern in ignore)


def _link_problem(path: Path, real_root: Path) -> tuple[str, str] | None:
    """Why the symbolic link `path` is not followed (message, hint); None to follow it."""
    try:
        target = path.resolve(strict=True)
    except RuntimeError:  # Python 3.11 reports a loop so
        return _LOOP
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return _LOOP
        if isinstance(exc, FileNotFoundError):
            return "symbolic link points to nothing", "fix the link or remove it"
        return f"cannot follow symbolic link: {exc.strerror}", "replace the link by the file"
    if not target.is_relative_to(real_root):
        return (
            "symbolic link points outside the repository; not followed",
            "replace the link by the file itself",
        )
    if any(part.startswith(".") for part in target.relative_to(real_root).parts):
        return _HIDDEN
    return None


_LOOP = (
    "symbolic link loop (the link leads back to itself); not followed",
    "remove the link, or point it at a file",
)
_HIDDEN = (
    "symbolic link points into a hidden folder or file (such as .git, which holds the "
    "remote's URL); not followed: nothing hidden is read",
    "replace the link by the file itself, outside hidden folders",
)


def discover(
    root: Path, *, skip_dirs: tuple[str, ...] = (), ignore: tuple[str, ...] = ()
) -> tuple[list[tuple[str, Path]], list[Diagnostic]]:
    """YAML files under root as (display name of the relative path, absolute path), sorted;
    plus link diagnostics."""
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
                problem = _link_problem(base / d, real_root)
                if problem is not None and problem is not _HIDDEN:  # a folder link to .github
                    diagnostics.append(_file_diagnostic(display_name(rel), *problem, "symlink"))
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
            problem = _link_problem(path, real_root) if path.is_symlink() else None
            if problem is not None:
                diagnostics.append(_file_diagnostic(display_name(rel), *problem, "symlink"))
                continue
            found.append((display_name(rel), path))
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


def read_in_root(root: Path, rel: str) -> tuple[list[Document], list[Diagnostic]]:
    """Read `root/rel` as discovery would: a symbolic link only to a file inside the root, out
    of hidden folders."""
    path = root / rel
    if path.is_symlink():
        problem = _link_problem(path, root.resolve())
        if problem is not None:
            return [], [_file_diagnostic(display_name(rel), *problem, "symlink")]
    return read_yaml_file(display_name(rel), path)


def _file_type(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a special file"


def _read_regular(rel: str, path: Path) -> bytes | Diagnostic:
    """The bytes of a regular file of at most MAX_FILE_BYTES, or why it is not read. Checked
    before opening (opening a FIFO blocks, a device may act) and again on the open file."""
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            return _not_regular(rel, mode)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return _file_diagnostic(rel, *_LOOP, "symlink")
        return _file_diagnostic(rel, f"cannot read file: {exc.strerror}", "check permissions", "io")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return _not_regular(rel, info.st_mode)
        chunks: list[bytes] = []
        size = 0
        while size <= min(info.st_size, MAX_FILE_BYTES) and (
            chunk := os.read(fd, MAX_FILE_BYTES + 1 - size)
        ):
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        return _file_diagnostic(rel, f"cannot read file: {exc.strerror}", "check permissions", "io")
    finally:
        os.close(fd)
    if max(size, info.st_size) > MAX_FILE_BYTES:  # the size read counts too: it may grow
        return _file_diagnostic(
            rel,
            f"file is {max(size, info.st_size)} bytes, over the 1 MiB limit; not read",
            "split it into smaller files",
            "size",
        )
    return b"".join(chunks)


def _not_regular(rel: str, mode: int) -> Diagnostic:
    return _file_diagnostic(
        rel,
        f"{_file_type(mode)}, not a regular file; not read",
        "only regular files are read: replace it by a file",
        "file-type",
    )


def read_yaml_file(rel: str, path: Path) -> tuple[list[Document], list[Diagnostic]]:
    """Read and parse one file (`rel`: its display name); size, type, encoding and I/O
    problems become diagnostics."""
    raw = _read_regular(rel, path)
    if isinstance(raw, Diagnostic):
        return [], [raw]
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
        docs, diags = read_yaml_file(display_name(root.name), root)
        return LoadedTree(
            root=root.parent,
            documents=tuple(docs),
            diagnostics=tuple(diags),
            files=1,
            names=(display_name(root.name),),
        )
    files, diagnostics = discover(root, skip_dirs=skip_dirs, ignore=ignore)
    documents: list[Document] = []
    for rel, path in files:
        docs, diags = read_yaml_file(rel, path)
        documents.extend(docs)
        diagnostics.extend(diags)
    return LoadedTree(
        root=root,
        documents=tuple(documents),
        diagnostics=tuple(diagnostics),
        files=len(files),
        names=tuple(rel for rel, _ in files),
    )


def repository_root_of(file: Path) -> Path | None:
    """The folder of the repository that holds `file`: the nearest folder, from the file's own
    upwards, holding gitops-edge.yaml; None when none does up to the git root (a folder holding
    `.git`) or the filesystem root. The path is made absolute, not resolved: links are not
    followed, so the file is named inside the repository as discovery names it."""
    current = Path(os.path.abspath(file)).parent
    while True:
        config = current / CONFIG_FILE
        if config.exists() or config.is_symlink():
            return current
        if (current / ".git").exists() or current.parent == current:
            return None
        current = current.parent
