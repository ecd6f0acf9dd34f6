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

_URL = re.compile(r"^(file|https?|ssh|git)://|^[\w.-]+@[\w.-]+:")


def is_git_url(source: str) -> bool:
    return bool(_URL.match(source))


class GitSource(GitStatusWriter, GitRevisions):
    """A branch of a git repository, cloned under a cache directory: synced, its status
    written and its revisions read (see `GitClone` for the arguments)."""
