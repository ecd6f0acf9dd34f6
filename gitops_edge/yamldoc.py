"""Safe YAML loading that keeps positions: YAML text → `Document`s of plain data plus node marks.

Uses ruamel.yaml's composer only (no Python object construction, so no tag can run code), then
builds plain dicts/lists/scalars itself, rejecting tags outside the YAML core schema, duplicate
keys, recursive aliases and alias bombs as diagnostics. Positions are looked up lazily from the
kept node tree, so valid files pay nothing for them. No side effects beyond reading the text given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver

from gitops_edge.diagnostics import Diagnostic, format_path

_CORE = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {
    _CORE + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "merge")
}
MAX_NODES = 200_000  # after alias expansion; guards against "billion laughs"
_INT_RE = re.compile(r"^[-+]?(0|[1-9][0-9_]*)$")


@dataclass(frozen=True, slots=True)
class Document:
    """One YAML document: its plain data and the node tree to locate paths in it."""

    file: str
    index: int  # 0-based position of the document in its file
    data: Any
    node: Any  # ruamel Node (kept for positions)

    def locate(self, path: Sequence[str | int], *, key: bool = False) -> tuple[int, int]:
        """1-based (line, col) of the value at `path` (of its key with key=True).

        Falls back to the deepest existing ancestor when the path does not exist.
        """
        node: Node = self.node
        mark = node.start_mark
        for i, part in enumerate(path):
            last = i == len(path) - 1
            if isinstance(node, MappingNode) and isinstance(part, str):
                found = _find_key(node, part)
                if found is None:
                    break
                key_node, value_node = found
                mark = key_node.start_mark if (last and key) else value_node.start_mark
                node = value_node
            elif isinstance(node, SequenceNode) and isinstance(part, int):
                if not 0 <= part < len(node.value):
                    break
                node = node.value[part]
                mark = node.start_mark
            else:
                break
        return mark.line + 1, mark.column + 1

    def diagnostic(
        self,
        path: Sequence[str | int],
        message: str,
        *,
        hint: str = "",
        rule: str = "",
        severity: str = "error",
        key: bool = False,
    ) -> Diagnostic:
        line, col = self.locate(path, key=key)
        return Diagnostic(
            file=self.file,
            line=line,
            col=col,
            path=format_path(path),
            message=message,
            hint=hint,
            rule=rule,
            severity=severity,
        )


def _find_key(node: MappingNode, key: str) -> tuple[Node, Node] | None:
    for k, v in node.value:
        if isinstance(k, ScalarNode) and k.value == key:
            return k, v
    return None


class _BuildError(Exception):
    def __init__(self, node: Node, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.node = node
        self.message = message
        self.hint = hint


class _Builder:
    """Turns a composed node tree into plain Python data (core-schema tags only)."""

    def __init__(self) -> None:
        self.count = 0
        self.active: set[int] = set()

    def build(self, node: Node) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _BuildError(
                node,
                f"document expands to more than {MAX_NODES} nodes (aliases)",
                "remove the alias chain; repositories hold plain manifests",
            )
        tag = node.tag if isinstance(node.tag, str) else getattr(node.tag, "value", str(node.tag))
        if tag not in _ALLOWED_TAGS:
            raise _BuildError(
                node,
                f"YAML tag {tag.replace(_CORE, '!!')} is not allowed",
                "remove the tag: only plain YAML (maps, lists, strings, numbers, booleans) is read",
            )
        if isinstance(node, ScalarNode):
            return _scalar(tag, node.value)
        if id(node) in self.active:
            raise _BuildError(node, "recursive alias", "remove the self-referencing alias")
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.build(item) for item in node.value]
            if isinstance(node, MappingNode):
                return self._mapping(node)
            raise _BuildError(node, "unsupported YAML node", "use plain maps, lists and scalars")
        finally:
            self.active.discard(id(node))

    def _mapping(self, node: MappingNode) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _CORE + "merge":
                for source in _merge_sources(self.build(value_node), value_node):
                    for k, v in source.items():
                        merged.setdefault(k, v)
                continue
            key = self.build(key_node)
            if not isinstance(key, str):
                key = str(key).lower() if isinstance(key, bool) else str(key)
            if key in out:
                raise _BuildError(
                    key_node, f"duplicate key {key!r}", "remove one of the two entries"
                )
            out[key] = self.build(value_node)
        for k, v in merged.items():
            out.setdefault(k, v)
        return out


def _merge_sources(value: Any, node: Node) -> list[dict[str, Any]]:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(i, dict) for i in items):
        raise _BuildError(node, "merge key '<<' needs a mapping or a list of mappings")
    return items


def _scalar(tag: str, text: str) -> Any:
    kind = tag[len(_CORE) :]
    if kind == "null":
        return None
    if kind == "bool":
        return text.lower() == "true"
    if kind == "int":
        return _int(text)
    if kind == "float":
        return _float(text)
    return text  # str and timestamp (Kubernetes treats timestamps as strings)


def _int(text: str) -> int | str:
    t = text.replace("_", "")
    try:
        if t.lower().startswith(("0x", "-0x", "+0x", "0o", "-0o", "+0o", "0b")):
            return int(t, 0)
        return int(t)
    except ValueError:
        return text


def _float(text: str) -> float | str:
    t = text.lower()
    if t in (".inf", "+.inf"):
        return math.inf
    if t == "-.inf":
        return -math.inf
    if t == ".nan":
        return math.nan
    try:
        return float(text.replace("_", ""))
    except ValueError:
        return text


# The C parser (ruamel.yaml.clib, libyaml) composes ~8x faster than the pure one, with the same
# marks and core-schema tags. It is stricter in places (libyaml refuses `[nginx:1.25]`, valid
# YAML 1.2), so it is only a fast path: a file it rejects is parsed again by the pure parser,
# whose verdict and messages count. Without the C extension ruamel hands back the pure parser.
class _Yaml12Resolver(VersionedResolver):
    """The C parser never reports a `%YAML` directive to the resolver, which therefore always
    falls back to YAML 1.2 — after two caught AttributeErrors per scalar (~20% of validation
    time). Answer 1.2 directly: the same tags, without the exceptions."""

    @property
    def processing_version(self) -> tuple[int, int]:
        return (1, 2)


_fast_yaml = YAML(typ="safe", pure=False)
_fast_yaml.Resolver = _Yaml12Resolver
_yaml = YAML(typ="safe", pure=True)


def _compose_all(text: str) -> list[Any]:
    try:
        return list(_fast_yaml.compose_all(text))
    except YAMLError:
        return list(_yaml.compose_all(text))


def load_documents(file: str, text: str) -> tuple[list[Document], list[Diagnostic]]:
    """Parse every document of one file. A parse error ends that file with one diagnostic;
    a bad node (tag, duplicate key) drops only its document."""
    documents: list[Document] = []
    diagnostics: list[Diagnostic] = []
    try:
        nodes = _compose_all(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        diagnostics.append(
            Diagnostic(
                file=file,
                line=line,
                col=col,
                path="",
                message=f"cannot parse YAML: {problem}",
                hint="fix the YAML syntax at this position (indentation, brackets, quotes)",
                rule="yaml",
            )
        )
        return documents, diagnostics
    except YAMLError as exc:
        diagnostics.append(
            Diagnostic(
                file=file, line=1, col=1, path="", message=f"cannot parse YAML: {exc}", rule="yaml"
            )
        )
        return documents, diagnostics
    for index, node in enumerate(nodes):
        if node is None:
            continue
        try:
            data = _Builder().build(node)
        except _BuildError as exc:
            mark = exc.node.start_mark
            diagnostics.append(
                Diagnostic(
                    file=file,
                    line=mark.line + 1,
                    col=mark.column + 1,
                    path="",
                    message=exc.message,
                    hint=exc.hint,
                    rule="yaml",
                )
            )
            continue
        if data is None:
            continue
        documents.append(Document(file=file, index=index, data=data, node=node))
    return documents, diagnostics
