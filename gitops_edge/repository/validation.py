"""Validating a desired-state folder: load → kind → schema → semantic rules → cross-document rules.

Owns the order of the checks and the `ValidatedRepo` result that rendering consumes. One bad
file never stops the others being checked. Side effects: reads files under the root.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gitops_edge.model.desired import RepoConfig
from gitops_edge.repository.config import owner_of, repo_config_from
from gitops_edge.repository.diagnostics import Diagnostic, has_errors
from gitops_edge.repository.loader import CONFIG_FILE, load_tree, read_in_root, yaml_files_in
from gitops_edge.repository.rules_config_update import check_config_update_job
from gitops_edge.repository.rules_jobs import (
    check_image_prepull_job,
    check_job_api_version,
    check_node_upgrade_job,
)
from gitops_edge.repository.rules_repo import TypedDocument, check_repository
from gitops_edge.repository.rules_rollout import check_node_group, check_rollout
from gitops_edge.repository.rules_status import check_status_branch, check_status_path
from gitops_edge.repository.rules_workloads import check_daemonset, check_edge_daemonset
from gitops_edge.repository.schema_check import check_schema, kind_of
from gitops_edge.repository.yamldoc import Document


@dataclass(frozen=True, slots=True)
class ValidatedRepo:
    """The outcome of validating one folder."""

    root: Path
    config: RepoConfig
    documents: tuple[TypedDocument, ...]
    diagnostics: tuple[Diagnostic, ...]  # sorted by file, line, column
    files: int
    file_names: frozenset[str] = frozenset()  # the files read, as diagnostics name them

    @property
    def valid(self) -> bool:
        return not has_errors(self.diagnostics)


def _read_config(root: Path) -> tuple[RepoConfig, list[Document], list[Diagnostic]]:
    path = root / CONFIG_FILE
    if not root.is_dir() or not (path.exists() or path.is_symlink()):
        return RepoConfig(), [], []
    docs, diags = read_in_root(root, CONFIG_FILE)  # a link, a FIFO... is reported, not read
    configs = [d for d in docs if _is_config(d)]
    config = repo_config_from(configs[0].data) if configs else RepoConfig()
    return config, docs, diags


MAX_OWNER = 63  # a label value


def _check_config_present(
    config_docs: list[Document], typed: list[TypedDocument]
) -> list[Diagnostic]:
    """A folder must hold gitops-edge.yaml with a RepositoryConfig at its root: without it, a
    commit that deleted or moved every file would be valid and prune every workload. Its owner
    identity (spec.owner, else metadata.name) must fit in a label value."""
    configs = [t for t in typed if t.kind.kind == "RepositoryConfig" and t.doc.file == CONFIG_FILE]
    if not configs:
        found = "holds no RepositoryConfig" if config_docs else "is missing"
        return [
            Diagnostic(
                file=CONFIG_FILE,
                line=1,
                col=1,
                path="",
                message=f"{CONFIG_FILE} at the root of the repository {found}: without it "
                "the revision is not applied (a commit that deleted it would otherwise prune "
                "every workload)",
                hint="add gitops-edge.yaml with apiVersion: gitops-edge.io/v1alpha1, kind: "
                "RepositoryConfig, metadata.name and spec (see example-repo/gitops-edge.yaml); "
                "to validate one file on its own, pass the file instead of the folder",
                rule="config",
            )
        ]
    doc = configs[0].doc
    spec = doc.data.get("spec") if isinstance(doc.data, dict) else None
    if isinstance(spec, dict) and "owner" in spec:
        return []  # checked by the schema
    name = owner_of(doc.data)
    if len(name) <= MAX_OWNER:
        return []
    return [
        doc.diagnostic(
            ["metadata", "name"],
            f"metadata.name is the owner identity when spec.owner is not set, and an "
            f"identity is a label value of at most {MAX_OWNER} characters ({len(name)} here)",
            hint="set spec.owner to a shorter name, unique in the cluster",
            rule="config",
        )
    ]


def _is_config(doc: Document) -> bool:
    return isinstance(doc.data, dict) and doc.data.get("kind") == "RepositoryConfig"


def _rules_for(kind: str, config: RepoConfig) -> Callable[[Document], list[Diagnostic]] | None:
    if kind == "DaemonSet":
        return check_daemonset
    if kind == "EdgeDaemonSet":
        return lambda doc: [*check_edge_daemonset(doc), *check_rollout(doc)]
    if kind == "NodeGroup":
        return check_node_group
    pinned = config.jobs_api_version
    if kind == "NodeUpgradeJob":
        return lambda doc: [
            *check_job_api_version(doc, pinned=pinned),
            *check_node_upgrade_job(doc, cloud_version=config.cloud_version),
        ]
    if kind == "ImagePrePullJob":
        return lambda doc: [
            *check_job_api_version(doc, pinned=pinned),
            *check_image_prepull_job(doc),
        ]
    if kind == "ConfigUpdateJob":
        return lambda doc: check_config_update_job(doc, pinned=pinned)
    return None


def validate_repository(root: Path) -> ValidatedRepo:
    """Validate every YAML file under root (or the single file root)."""
    config, config_docs, diagnostics = _read_config(root)
    config_unreadable = bool(diagnostics)  # already reported (YAML error, too large, ...)
    skip = (config.status_path,) if config.status_path else ()
    ignore = (*config.ignore, CONFIG_FILE)
    tree = load_tree(root, skip_dirs=skip, ignore=ignore)
    diagnostics.extend(tree.diagnostics)
    if root.is_dir():
        desired_files = {d.file for d in tree.documents}
        desired_files.update(yaml_files_in(root, config.status_path, ignore=ignore))
        config_doc = next((d for d in config_docs if _is_config(d)), None)
        diagnostics.extend(
            check_status_path(
                config_doc, status_path=config.status_path, desired_files=sorted(desired_files)
            )
        )
        diagnostics.extend(check_status_branch(config_doc))
    typed: list[TypedDocument] = []
    for doc in (*config_docs, *tree.documents):
        kind, problems = kind_of(doc)
        diagnostics.extend(problems)
        if kind is None:
            continue
        diagnostics.extend(check_schema(doc, kind))
        rules = _rules_for(kind.kind, config)
        if rules is not None:
            diagnostics.extend(rules(doc))
        typed.append(TypedDocument(doc=doc, kind=kind))
    diagnostics.extend(check_repository(typed, default_namespace=config.default_namespace))
    if root.is_dir() and not config_unreadable:
        diagnostics.extend(_check_config_present(config_docs, typed))
    read_config = bool(config_docs) or (root / CONFIG_FILE).is_file()
    return ValidatedRepo(
        root=tree.root,
        config=config,
        documents=tuple(typed),
        diagnostics=tuple(sorted(set(diagnostics), key=Diagnostic.sort_key)),
        files=tree.files + int(read_config),
        file_names=frozenset((*tree.names, *((CONFIG_FILE,) if read_config else ()))),
    )
