"""Rules across documents: one RepositoryConfig at the root, unique object identities (rendered
DaemonSet names included), group references that resolve, and (a warning) namespaced objects in
a namespace the repository does not declare when it declares some.

Pure functions over typed documents. No side effects.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from gitops_edge.model.kinds import Kind
from gitops_edge.repository.diagnostics import WARNING, Diagnostic
from gitops_edge.repository.docpath import dig, list_at
from gitops_edge.repository.loader import CONFIG_FILE
from gitops_edge.repository.yamldoc import Document


@dataclass(frozen=True, slots=True)
class TypedDocument:
    doc: Document
    kind: Kind


def _namespace(td: TypedDocument, default_namespace: str) -> str:
    ns = dig(td.doc.data, "metadata", "namespace")
    return ns if isinstance(ns, str) and ns else default_namespace


def check_repository(typed: Sequence[TypedDocument], *, default_namespace: str) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    out.extend(_check_config_placement(typed))
    out.extend(_check_identities(typed, default_namespace=default_namespace))
    out.extend(_check_group_refs(typed))
    out.extend(_check_namespaces(typed, default_namespace=default_namespace))
    return out


def _check_namespaces(
    typed: Sequence[TypedDocument], *, default_namespace: str
) -> list[Diagnostic]:
    """Once a repository declares Namespaces, a namespaced object in one it does not declare
    (other than `default`) gets a warning: the namespace must then already exist in the
    cluster. A repository that declares none relies on namespaces made elsewhere: no warning."""
    declared = {
        n
        for t in typed
        if t.kind.kind == "Namespace" and isinstance(n := dig(t.doc.data, "metadata", "name"), str)
    }
    if not declared:
        return []
    out: list[Diagnostic] = []
    for td in typed:
        if not td.kind.namespaced or not isinstance(dig(td.doc.data, "metadata", "name"), str):
            continue
        ns = _namespace(td, default_namespace)
        if ns in declared or ns == "default":
            continue
        explicit = isinstance(dig(td.doc.data, "metadata", "namespace"), str)
        out.append(
            td.doc.diagnostic(
                ["metadata", "namespace" if explicit else "name"],
                f"namespace {ns!r} is not declared in this repository"
                + ("" if explicit else " (it is spec.defaultNamespace)")
                + "; it must already exist in the cluster (declared: "
                + ", ".join(sorted(declared))
                + ")",
                hint=f"add a v1 Namespace named {ns} to the repository, or create it "
                f"(kubectl create namespace {ns})",
                rule="namespace-undeclared",
                severity=WARNING,
            )
        )
    return out


def _check_config_placement(typed: Sequence[TypedDocument]) -> list[Diagnostic]:
    out = []
    configs = [t for t in typed if t.kind.kind == "RepositoryConfig"]
    for t in configs:
        if t.doc.file != CONFIG_FILE:
            out.append(
                t.doc.diagnostic(
                    ["kind"],
                    f"RepositoryConfig must be in {CONFIG_FILE} at the repository root",
                    hint=f"move it to {CONFIG_FILE}",
                    rule="config",
                )
            )
    for t in [c for c in configs if c.doc.file == CONFIG_FILE][1:]:
        out.append(
            t.doc.diagnostic(
                [], "more than one RepositoryConfig", hint="keep one document", rule="config"
            )
        )
    return out


def _check_identities(
    typed: Sequence[TypedDocument], *, default_namespace: str
) -> list[Diagnostic]:
    """Objects that would be the same cluster object: same kind (any version) and name, same
    namespace when namespaced. EdgeDaemonSet groups render DaemonSets `<workload>-<group>`."""
    out: list[Diagnostic] = []
    seen: dict[tuple[str, ...], TypedDocument] = {}

    def claim(key: tuple[str, ...], td: TypedDocument, path: list[str | int], what: str) -> None:
        first = seen.get(key)
        if first is None:
            seen[key] = td
            return
        first_line = first.doc.locate(["metadata", "name"])[0]
        out.append(
            td.doc.diagnostic(
                path,
                f"{what} is also defined at {first.doc.file}:{first_line}",
                hint="rename one of them or remove the duplicate",
                rule="duplicate",
            )
        )

    for td in typed:
        name = dig(td.doc.data, "metadata", "name")
        if not isinstance(name, str) or td.kind.kind == "RepositoryConfig":
            continue
        ns = _namespace(td, default_namespace) if td.kind.namespaced else ""
        if td.kind.kind == "DaemonSet":
            claim(("DaemonSet", ns, name), td, ["metadata", "name"], f"DaemonSet {ns}/{name}")
            continue
        claim(
            (td.kind.group, td.kind.kind, ns, name),
            td,
            ["metadata", "name"],
            f"{td.kind.kind} {ns + '/' if ns else ''}{name}",
        )
        if td.kind.kind == "EdgeDaemonSet":
            listed: set[str] = set()  # a group listed twice is its own rule (group-duplicate)
            for i, group in enumerate(list_at(td.doc.data, "spec", "groups")):
                gname = dig(group, "name")
                if isinstance(gname, str) and gname not in listed:
                    listed.add(gname)
                    rendered = f"{name}-{gname}"
                    claim(
                        ("DaemonSet", ns, rendered),
                        td,
                        ["spec", "groups", i, "name"],
                        f"DaemonSet {ns}/{rendered} (rendered for group {gname})",
                    )
    return out


def _check_group_refs(typed: Sequence[TypedDocument]) -> list[Diagnostic]:
    groups = sorted(
        n
        for t in typed
        if t.kind.kind == "NodeGroup" and isinstance(n := dig(t.doc.data, "metadata", "name"), str)
    )
    out: list[Diagnostic] = []
    for td in typed:
        if td.kind.kind != "EdgeDaemonSet":
            continue
        for i, group in enumerate(list_at(td.doc.data, "spec", "groups")):
            gname = dig(group, "name")
            if isinstance(gname, str) and gname not in groups:
                close = difflib.get_close_matches(gname, groups, n=1)
                hint = (
                    f"did you mean {close[0]!r}?"
                    if close
                    else f"add a NodeGroup named {gname!r}"
                    + (f" (defined: {', '.join(groups)})" if groups else "")
                )
                out.append(
                    td.doc.diagnostic(
                        ["spec", "groups", i, "name"],
                        f"no NodeGroup named {gname!r}",
                        hint=hint,
                        rule="group-ref",
                    )
                )
    return out
