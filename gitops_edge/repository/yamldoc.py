"""Safe YAML loading that keeps positions: YAML text → `Document`s of plain data plus node marks.

Uses ruamel.yaml's composer only (no Python object construction, so no tag can run code;
`yamlparse` owns the parsers and their guards against hostile text), then builds plain
dicts/lists/scalars itself, rejecting tags outside the YAML core schema, duplicate keys,
recursive aliases, alias bombs and nesting deeper than `MAX_DEPTH` (checked before recursing)
as diagnostics. Positions are looked up lazily from the kept node tree, so valid files pay
nothing for them. No side effects beyond reading the text given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gitops_edge.repository.diagnostics import Diagnostic, format_path
from gitops_edge.repository.yamlparse import (
    DEPTH_HINT,
    DEPTH_MESSAGE,
    MAX_DEPTH,
    ParseProblem,
    compose_all,
)

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

    def build(self, node: Node, depth: int = 0) -> Any:
        """Plain data of `node`, a child of `depth` nested collections."""
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
        if depth >= MAX_DEPTH:  # checked before recursing: Python's stack is never at risk
            raise _BuildError(node, DEPTH_MESSAGE, DEPTH_HINT)
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.build(item, depth + 1) for item in node.value]
            if isinstance(node, MappingNode):
                return self._mapping(node, depth + 1)
            raise _BuildError(node, "unsupported YAML node", "use plain maps, lists and scalars")
        finally:
            self.active.discard(id(node))

    def _mapping(self, node: MappingNode, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _CORE + "merge":
                for source in _merge_sources(self.build(value_node, depth), value_node):
                    for k, v in source.items():
                        merged.setdefault(k, v)
                continue
            key = self.build(key_node, depth)
            if not isinstance(key, str):
                key = str(key).lower() if isinstance(key, bool) else str(key)
            if key in out:
                raise _BuildError(
                    key_node, f"duplicate key {key!r}", "remove one of the two entries"
                )
            out[key] = self.build(value_node, depth)
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


def load_documents(file: str, text: str) -> tuple[list[Document], list[Diagnostic]]:
    """Parse every document of one file. A parse error ends that file with one diagnostic;
    a bad node (tag, duplicate key) drops only its document."""
    documents: list[Document] = []
    diagnostics: list[Diagnostic] = []
    nodes = compose_all(text)
    if isinstance(nodes, ParseProblem):
        diagnostic = Diagnostic(
            file=file,
            line=nodes.line,
            col=nodes.col,
            path="",
            message=nodes.message,
            hint=nodes.hint,
            rule="yaml",
        )
        return documents, [diagnostic]
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
