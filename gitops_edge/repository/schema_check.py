"""Checking documents against the JSON Schemas in `schemas/`, with messages people can act on.

Owns: loading the packaged schemas (once), choosing a schema by apiVersion/kind, turning
jsonschema errors into `Diagnostic`s at the right line ("did you mean" for unknown fields, the
schema's `x-hint` as the fix). Side effects: reads the packaged schema files on first use.
"""

from __future__ import annotations

import difflib
import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from gitops_edge.model.kinds import KINDS, Kind
from gitops_edge.repository.diagnostics import Diagnostic
from gitops_edge.repository.yamldoc import Document

# One short line, the same for every file: the full list of kinds is in `validate --help` and
# docs/repository-format.md, not repeated in each diagnostic.
_OTHER_KINDS_HINT = (
    "gitops-edge reads only its own kinds (see `gitops-edge validate --help`); "
    "list files of other tools in spec.ignore of gitops-edge.yaml"
)
_END_ANCHOR = "(?!\\n)"  # schemas end patterns with `$(?!\n)` so a trailing newline is refused
_TYPE_NAMES = {
    dict: "a mapping",
    list: "a list",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    type(None): "empty (null)",
}


@cache
def load_schema(schema_file: str) -> dict[str, Any]:
    text = resources.files("gitops_edge.schemas").joinpath(schema_file).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


# JSON Schema counts 3.0 as an integer; Kubernetes (Go's JSON decoder) refuses it for an int
# field, and the tool would carry the float on into rendering and planning.
_StrictIntegerValidator = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
    ),
)


@cache
def validator_for(schema_file: str) -> Draft202012Validator:
    validator: Draft202012Validator = _StrictIntegerValidator(load_schema(schema_file))
    return validator


def kind_of(doc: Document) -> tuple[Kind | None, list[Diagnostic]]:
    """The document's kind, or a diagnostic saying why it has none we know."""
    data = doc.data
    if not isinstance(data, dict):
        return None, [
            doc.diagnostic(
                [],
                f"a document must be a mapping, not {_type_name(data)}",
                hint="each YAML document is one Kubernetes-style object",
                rule="kind",
            )
        ]
    api_version, kind = data.get("apiVersion"), data.get("kind")
    missing = [k for k, v in (("apiVersion", api_version), ("kind", kind)) if not v]
    if missing:
        return None, [
            doc.diagnostic(
                [],
                f"missing {' and '.join(missing)}",
                hint="add apiVersion and kind (supported: see `gitops-edge validate --help`); "
                "list files of other tools in spec.ignore of gitops-edge.yaml",
                rule="kind",
            )
        ]
    found = KINDS.get((str(api_version), str(kind)))
    if found is not None:
        return found, []
    same_kind = [k.api_version for k in KINDS.values() if k.kind == kind]
    if same_kind:
        hint = f"{kind} is supported in apiVersion {' or '.join(same_kind)}"
        path, message = ["apiVersion"], f"unsupported apiVersion {api_version!r} for kind {kind}"
    else:
        close = difflib.get_close_matches(str(kind), [k.kind for k in KINDS.values()], n=1)
        hint = f"did you mean {close[0]}?" if close else _OTHER_KINDS_HINT
        path, message = ["kind"], f"unsupported kind {kind!r}"
    return None, [doc.diagnostic(path, message, hint=hint, rule="kind")]


def check_schema(doc: Document, kind: Kind) -> list[Diagnostic]:
    validator = validator_for(kind.schema_file)
    out: list[Diagnostic] = []
    for error in validator.iter_errors(doc.data):
        out.extend(_diagnostics_for(doc, error))
    return out


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _deepest(error: ValidationError) -> ValidationError:
    """For anyOf/oneOf, the sub-error that went furthest into the document, if any went deeper."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        best = max(error.context, key=lambda e: (len(e.absolute_path), -len(e.context or ())))
        if len(best.absolute_path) > len(error.absolute_path):
            return _deepest(best)
    return error


def _diagnostics_for(doc: Document, raw: ValidationError) -> list[Diagnostic]:
    error = _deepest(raw)
    path: list[str | int] = list(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    hint = str(schema.get("x-hint", ""))
    validator = error.validator
    if validator == "additionalProperties" and isinstance(error.instance, dict):
        return _unknown_fields(doc, path, error.instance, schema)
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [
            doc.diagnostic(
                path,
                f"missing required field {missing!r}",
                hint=hint or _describe(schema, missing),
                rule="schema",
                key=True,
            )
        ]
    if validator == "type":
        expected = error.validator_value
        expected_text = " or ".join(expected) if isinstance(expected, list) else str(expected)
        message = f"is {_type_name(error.instance)}, expected {expected_text}"
        if (
            isinstance(error.instance, str)
            and ":" in error.instance
            and "object" in expected_text
            and ": " not in error.instance
        ):
            hint = hint or "add a space after ':' (YAML reads 'key:value' as one string)"
        return [doc.diagnostic(path, message, hint=hint, rule="schema")]
    if validator == "enum":
        allowed = ", ".join(str(v) for v in _as_list(error.validator_value))
        return [
            doc.diagnostic(
                path, f"{error.instance!r} is not one of: {allowed}", hint=hint, rule="schema"
            )
        ]
    if validator == "const":
        return [
            doc.diagnostic(
                path,
                f"must be {error.validator_value!r}, not {error.instance!r}",
                hint=hint,
                rule="schema",
            )
        ]
    if validator == "pattern":
        # The schema's hint says what to write; the raw regex is shown only when there is none.
        pattern = str(error.validator_value).removesuffix(_END_ANCHOR)
        message = f"{error.instance!r} is not in the required form"
        return [
            doc.diagnostic(
                path,
                message if hint else f"{message} (pattern {pattern})",
                hint=hint,
                rule="schema",
            )
        ]
    alternatives = _as_list(error.validator_value)
    if validator in ("anyOf", "oneOf") and _all_required(alternatives):
        needed = " or ".join(sorted({f for s in alternatives for f in s["required"]}))
        return [doc.diagnostic(path, f"needs {needed} (at least one)", hint=hint, rule="schema")]
    if validator in ("anyOf", "oneOf") and not hint:
        hint = "; ".join(
            sorted(
                {
                    str(e.schema.get("x-hint", ""))
                    for e in error.context or ()
                    if isinstance(e.schema, dict)
                }
                - {""}
            )
        )
    return [doc.diagnostic(path, error.message, hint=hint, rule="schema")]


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _all_required(alternatives: Any) -> bool:
    """True for `anyOf: [{required: [a]}, {required: [b]}]`: "at least one of these fields"."""
    return (
        isinstance(alternatives, list)
        and bool(alternatives)
        and all(isinstance(s, dict) and set(s) == {"required"} for s in alternatives)
    )


def _describe(schema: dict[str, Any], field: str) -> str:
    prop = schema.get("properties", {}).get(field, {})
    desc = prop.get("description", "") if isinstance(prop, dict) else ""
    return f"add '{field}' ({desc.rstrip('.')})" if desc else f"add '{field}'"


def _unknown_fields(
    doc: Document, path: list[str | int], instance: dict[str, Any], schema: dict[str, Any]
) -> list[Diagnostic]:
    known = list(schema.get("properties", {}))
    out = []
    for field in instance:
        if field in known:
            continue
        close = difflib.get_close_matches(field, known, n=1, cutoff=0.5)
        if not close:
            close = [k for k in known if k.lower().startswith(field.lower()[:4])][:1]
        hint = f"did you mean {close[0]!r}?" if close else f"known fields: {', '.join(known)}"
        out.append(
            doc.diagnostic(
                [*path, field],
                f"unknown field {field!r} (Kubernetes would silently drop it)",
                hint=hint,
                rule="unknown-field",
                key=True,
            )
        )
    return out
