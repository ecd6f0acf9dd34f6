"""Replacing the files of the status folder inside a clone without ever following a symbolic
link: each folder on the way is opened relative to its parent's file descriptor with
`O_NOFOLLOW | O_DIRECTORY`, files are opened with `O_NOFOLLOW`, and stale files are unlinked
relative to their folder's descriptor, so a link committed to the repository (the status folder,
a folder on its path, a status file) can neither redirect a write nor a deletion out of the
clone, even if it appears between a check and the use. A link is an error naming it; the
folder is scanned before anything changes, so such a pass changes nothing.

Side effects: creates, writes and deletes files and folders under the given work tree only.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator, Mapping

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC


class StatusFolderError(Exception):
    """The status folder, a folder on its path or a file in it cannot be written safely (a
    symbolic link, or not a folder); the message names it and says what to do."""


def replace_status_files(work_tree: str, folder: str, files: Mapping[str, str]) -> None:
    """Make `work_tree/folder` (created as needed) hold exactly `files`: name relative to the
    folder (`/` for sub-folders) → UTF-8 text. Other files there are deleted, and sub-folders
    left empty removed. Raises StatusFolderError, before changing anything, for a link."""
    parts = _segments(folder, what="status folder")
    for name in files:
        _segments(name, what="status file name")
    root = os.open(work_tree, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with _descend(root, parts, shown="", create=True) as top:
            stale_files, stale_dirs = _scan(top, folder)
            keep = set(files)
            for rel in stale_files:
                if rel not in keep:
                    parent, _, name = rel.rpartition("/")
                    with _descend(top, _segments(parent), shown=folder, create=False) as fd:
                        os.unlink(name, dir_fd=fd)
            for rel in sorted(stale_dirs, key=lambda r: -r.count("/")):  # deepest first
                parent, _, name = rel.rpartition("/")
                with (
                    _descend(top, _segments(parent), shown=folder, create=False) as fd,
                    contextlib.suppress(OSError),  # not empty: it holds status files
                ):
                    os.rmdir(name, dir_fd=fd)
            for rel, content in sorted(files.items()):
                _write(top, rel, content, shown=folder)
    finally:
        os.close(root)


def _segments(path: str, *, what: str = "path") -> list[str]:
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts or path.startswith("/"):
        raise StatusFolderError(f"{what} {path!r} would leave the repository")
    return parts


@contextlib.contextmanager
def _descend(fd: int, parts: list[str], *, shown: str, create: bool) -> Iterator[int]:
    """The descriptor of folder `parts` under `fd` (each created when `create`), no links."""
    current = os.dup(fd)
    try:
        for part in parts:
            shown = f"{shown}/{part}" if shown else part
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, dir_fd=current)
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=current)
            except OSError as exc:
                raise _refusal(current, part, shown, exc) from None
            os.close(current)
            current = child
        yield current
    finally:
        os.close(current)


def _scan(fd: int, shown: str) -> tuple[list[str], list[str]]:
    """Every file and sub-folder under the folder `fd` (relative paths); a link is an error."""
    files: list[str] = []
    folders: list[str] = []
    with os.scandir(fd) as entries:
        names = sorted((e.name, e.is_symlink(), e.is_dir(follow_symlinks=False)) for e in entries)
    for name, is_link, is_dir in names:
        if is_link:
            raise _link_error(fd, name, f"{shown}/{name}")
        if not is_dir:
            files.append(name)
            continue
        folders.append(name)
        try:
            child = os.open(name, _DIR_FLAGS, dir_fd=fd)
        except OSError as exc:
            raise _refusal(fd, name, f"{shown}/{name}", exc) from None
        try:
            inner_files, inner_folders = _scan(child, f"{shown}/{name}")
        finally:
            os.close(child)
        files += [f"{name}/{rel}" for rel in inner_files]
        folders += [f"{name}/{rel}" for rel in inner_folders]
    return files, folders


def _write(top: int, rel: str, content: str, *, shown: str) -> None:
    parent, _, name = rel.rpartition("/")
    with _descend(top, _segments(parent), shown=shown, create=True) as fd:
        path = f"{shown}/{rel}"
        try:
            out = os.open(name, _FILE_FLAGS, 0o666, dir_fd=fd)
        except OSError as exc:
            raise _refusal(fd, name, path, exc) from None
        with os.fdopen(out, "w", encoding="utf-8") as handle:
            handle.write(content)


def _refusal(fd: int, name: str, shown: str, exc: OSError) -> Exception:
    """The error for an entry that could not be opened: a link, not a folder, or `exc`."""
    try:
        mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
    except OSError:
        return exc
    if stat.S_ISLNK(mode):
        return _link_error(fd, name, shown)
    if exc.errno in (errno.ENOTDIR, errno.EISDIR):
        return StatusFolderError(
            f"{shown} is {'a folder' if stat.S_ISDIR(mode) else 'not a folder'} where status "
            "is written; remove it from the repository or choose another spec.status.path"
        )
    return exc


def _link_error(fd: int, name: str, shown: str) -> StatusFolderError:
    try:
        target = f" (to {os.readlink(name, dir_fd=fd)})"
    except OSError:
        target = ""
    return StatusFolderError(
        f"{shown} is a symbolic link{target}: status is never written through a link, so this "
        f"pass wrote no status; remove the link from the repository (git rm {shown}) and push"
    )
