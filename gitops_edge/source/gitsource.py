"""Git sources: the desired state from a git repository, kept in a reusable clone under a
cache directory (`GitSource`), assembled from its parts: the clone, its lock and sync
(`gitsource_clone`), writing the status (`gitsource_status`) and reading revisions
(`gitsource_revisions`). Those three are the only modules that import `git` (GitPython).
Side effects: those of its parts (runs git, writes the clone under the cache directory).
"""

from __future__ import annotations

import re

from gitops_edge.reports.redaction import (
    redact as redact,  # re-exported: its callers import it here
)
from gitops_edge.source.gitsource_clone import (
    GitSourceError as GitSourceError,  # re-exported: used widely
)
from gitops_edge.source.gitsource_revisions import GitRevisions
from gitops_edge.source.gitsource_status import GitStatusWriter

_SCHEMES = ("file", "http", "https", "ssh", "git", "git+ssh", "ssh+git")  # git has transports
_URL = re.compile("^(" + "|".join(map(re.escape, _SCHEMES)) + r")://|^[\w.-]+@[\w.-]+:")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SCP_WITH_PASSWORD = re.compile(r"^([^@/:\s]+):[^@/\s]*@([\w.-]+):")


class SourceAddressError(ValueError):
    """A SOURCE that names a git repository in a form git cannot use; the message says what to
    write instead and never shows a password."""


def source_address(source: str) -> str:
    """SOURCE as git reads it: a URL's scheme in lower case and the spaces around a URL or an
    scp-like address dropped (a local folder is taken as given). Raises `SourceAddressError` for
    pip's `git+https://`, a scheme git has no transport for, and `user:password@host:path`."""
    stripped = source.strip()
    scheme = _SCHEME.match(stripped)
    if scheme is None:
        if scp := _SCP_WITH_PASSWORD.match(stripped):
            user, host = scp.group(1, 2)
            raise SourceAddressError(
                f"{redact(stripped)}: git's scp-like address (user@host:path) cannot carry a "
                f"password; use an ssh key ({user}@{host}:…) or "
                f"https://{user}:TOKEN@{host}/… with the token"
            )
        return stripped if _URL.match(stripped) else source
    name = scheme.group(1).lower()
    rest = stripped[scheme.end() :]
    if name in ("git+http", "git+https"):
        plain = f"{name[4:]}://{rest}"
        raise SourceAddressError(
            f"{redact(stripped)}: git+{name[4:]}:// is pip's syntax, not git's; "
            f"write {redact(plain)}"
        )
    if name not in _SCHEMES:
        raise SourceAddressError(
            f"{redact(stripped)}: git cannot fetch from {name}://; "
            "use https://, ssh://, git:// or file:// (or a local folder)"
        )
    return f"{name}://{rest}"


def is_git_url(source: str) -> bool:
    """Whether SOURCE (as `source_address` returns it) names a git repository, not a folder."""
    return bool(_URL.match(source))


class GitSource(GitStatusWriter, GitRevisions):
    """A branch of a git repository, cloned under a cache directory: synced, its status
    written and its revisions read (see `GitClone` for the arguments)."""
