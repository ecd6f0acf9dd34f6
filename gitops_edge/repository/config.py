"""The repository configuration (`gitops-edge.yaml`): plain data → `RepoConfig` with defaults.

Pure. The schema has already checked types; a value of the wrong type falls back to the default,
and so does a status path that could leave the repository or enter `.git`, or a status branch
name git refuses (that revision is invalid anyway, but its config still names the folder a git
source's history excludes). `spec.status.branch` absent is `gitops-edge/status`; written as `""`
it is the spec branch.
"""

from __future__ import annotations

from typing import Any

from gitops_edge.model.desired import RepoConfig
from gitops_edge.repository.docpath import dict_at
from gitops_edge.repository.rules_status import (
    normalise_status_path,
    status_branch_problem,
    status_path_problem,
)

_DEFAULT = RepoConfig()


def _str(source: dict[str, Any], key: str, default: str) -> str:
    value = source.get(key)
    return value if isinstance(value, str) else default


def _bool(source: dict[str, Any], key: str, default: bool) -> bool:
    value = source.get(key)
    return value if isinstance(value, bool) else default


def owner_of(data: Any) -> str:
    """The source's owner identity: spec.owner, else metadata.name ("" when neither is a
    string)."""
    return _str(dict_at(data, "spec"), "owner", _str(dict_at(data, "metadata"), "name", ""))


def _status_path(value: str) -> str:
    if status_path_problem(value) is not None:
        return _DEFAULT.status_path
    return normalise_status_path(value)


def _status_branch(value: str) -> str:
    """A bad branch name (refused by validation) falls back to the default."""
    return _DEFAULT.status_branch if status_branch_problem(value) is not None else value


def repo_config_from(data: Any) -> RepoConfig:
    spec = dict_at(data, "spec")
    status, prune, jobs = dict_at(spec, "status"), dict_at(spec, "prune"), dict_at(spec, "jobs")
    max_unavailable = dict_at(spec, "defaults").get("maxUnavailable")
    cloud = spec.get("cloudVersion")
    ignore = spec.get("ignore")
    return RepoConfig(
        cloud_version=cloud if isinstance(cloud, str) else None,
        default_namespace=_str(spec, "defaultNamespace", _DEFAULT.default_namespace),
        owner=owner_of(data),
        default_max_unavailable=max_unavailable
        if isinstance(max_unavailable, int | str) and not isinstance(max_unavailable, bool)
        else _DEFAULT.default_max_unavailable,
        status_path=_status_path(_str(status, "path", _DEFAULT.status_path)),
        status_branch=_status_branch(_str(status, "branch", _DEFAULT.status_branch)),
        prune_workloads=_bool(prune, "workloads", _DEFAULT.prune_workloads),
        prune_jobs=_bool(prune, "jobs", _DEFAULT.prune_jobs),
        prune_allow_empty=_bool(prune, "allowEmpty", _DEFAULT.prune_allow_empty),
        prune_namespaces=_bool(prune, "namespaces", _DEFAULT.prune_namespaces),
        jobs_api_version=_str(jobs, "apiVersion", _DEFAULT.jobs_api_version),
        drive_openyurt_annotated=_str(dict_at(spec, "openyurt"), "annotatedDaemonSets", "")
        == "drive",
        ignore=tuple(p for p in ignore if isinstance(p, str)) if isinstance(ignore, list) else (),
    )
