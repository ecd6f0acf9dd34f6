"""Drift: the fields the repository sets on a DaemonSet that differ in the live object.

A DaemonSet changed by hand (`kubectl set image`, `kubectl edit`) keeps gitops-edge's spec-hash
annotation, so only comparing the fields themselves notices it. What counts, as server-side
apply merges (so that re-applying the rendered manifest restores exactly what is reported, and
nothing is reported that re-applying would not change):

- maps by key; keys the manifest does not set (server defaults, other writers' fields, the
  controller's bookkeeping) are not drift;
- lists Kubernetes merges by key (containers, env, ports, volumes, volume mounts …) by that key:
  an item of the manifest missing or different in the cluster is drift, an item only the
  cluster has is not (server-side apply would keep it too);
- other lists (args, command, tolerations, node selector terms …) by position and length;
- scalars by canonical value: resource quantities as numbers (`0.5` = `500m`, `1Gi` =
  `1073741824`), int-or-string `8080` = `"8080"`; an empty value in the manifest (`{}`, `[]`,
  `""`, `false`, `0`, null) matches an absent field (the API server omits them);
- labels and annotations of the DaemonSet, except gitops-edge's own bookkeeping annotations
  (git revision, source, spec hash), which change with every commit without changing the spec.

Values of environment variables may be secrets: they are never shown, only their path.
Pure: no I/O. `drift_between` memoizes on the two JSON texts (a pass over an unchanged fleet
compares nothing).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

from gitops_edge.desired import REVISION_ANNOTATION, SOURCE_ANNOTATION, SPEC_HASH_ANNOTATION

# Lists merged by key (the patchMergeKey / listMapKey of k8s.io/api), by field name.
MERGE_KEYS: Mapping[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "volumes": ("name",),
    "imagePullSecrets": ("name",),
    "env": ("name",),
    "ports": ("containerPort", "protocol"),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "hostAliases": ("ip",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"),
    "resourceClaims": ("name",),
    "schedulingGates": ("name",),
    "claims": ("name",),
}
KEY_DEFAULTS: Mapping[str, str] = {"protocol": "TCP"}  # a merge key the API server defaults
QUANTITY_PARENTS = frozenset({"limits", "requests", "overhead"})  # their values are quantities
QUANTITY_KEYS = frozenset({"sizeLimit"})
SECRET_LISTS = frozenset({"env"})  # values below are never shown
BOOKKEEPING_ANNOTATIONS = frozenset({REVISION_ANNOTATION, SOURCE_ANNOTATION, SPEC_HASH_ANNOTATION})
NANO = 10**9
SHOWN_CHARS = 60
SHOWN_FIELDS = 3
ABSENT = "absent"

_QUANTITY = re.compile(
    r"([+-]?(?:\d+\.?\d*|\.\d+))(?:[eE]([+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?"
)
_SUFFIX = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    **{s: Fraction(1024**i) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"), 1)},
}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class DriftedField:
    """One field the repository sets that the cluster has otherwise; values as shown to people
    ("" for a secret's, `absent` when the cluster lacks the field)."""

    path: str  # e.g. spec.template.spec.containers[name=agent].image
    live: str
    desired: str
    secret: bool = False

    def describe(self) -> str:
        if self.secret:
            return f"{self.path} (value not shown)"
        return f"{self.path} ({self.live} in the cluster, {self.desired} in git)"


def parse_quantity(value: Any) -> Fraction | None:
    """A Kubernetes resource quantity (`500m`, `1.5Gi`, `1e3`, 2) as an exact number; None if
    it is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    text = str(value).strip()
    match = _QUANTITY.fullmatch(text)
    if match is None:
        return None
    number = Fraction(match[1])
    if match[2] is not None:
        number *= Fraction(10) ** int(match[2])
    elif match[3]:
        number *= _SUFFIX[match[3]]
    return Fraction(math.ceil(number * NANO), NANO)  # the API server keeps nano precision


def drifted_fields(desired: Mapping[str, Any], live: Mapping[str, Any]) -> tuple[DriftedField, ...]:
    """The fields of the `desired` manifest (labels, annotations, spec) that differ in the `live`
    DaemonSet, in manifest order; () when there is no drift."""
    out: list[DriftedField] = []
    want_meta = desired.get("metadata") or {}
    have_meta = live.get("metadata") or {}
    for section in ("labels", "annotations"):
        wanted = {
            k: v
            for k, v in (want_meta.get(section) or {}).items()
            if section == "labels" or k not in BOOKKEEPING_ANNOTATIONS
        }
        _compare(
            wanted,
            have_meta.get(section),
            _Where(path=f"metadata.{section}", key=section, parent="metadata", secret=False),
            out,
        )
    _compare(desired.get("spec"), live.get("spec"), _Where("spec", "spec", "", False), out)
    return tuple(out)


@lru_cache(maxsize=8192)
def drift_between(manifest_json: str, live_json: str) -> tuple[DriftedField, ...]:
    """`drifted_fields` of the rendered manifest and the observed DaemonSet's compact JSON
    (`DaemonSetObs.live_json`); () when the live object is unknown ("")."""
    if not live_json:
        return ()
    return drifted_fields(json.loads(manifest_json), json.loads(live_json))


def drift_summary(fields: Sequence[DriftedField]) -> str:
    """`PATH (LIVE in the cluster, DESIRED in git)` for the first few fields, then a count."""
    shown = "; ".join(f.describe() for f in fields[:SHOWN_FIELDS])
    more = len(fields) - SHOWN_FIELDS
    return shown + (f"; and {more} more field{'s' if more > 1 else ''}" if more > 0 else "")


@dataclass(frozen=True, slots=True)
class _Where:
    path: str
    key: str  # the field's own name ("" for a list item)
    parent: str  # the name of the map holding it
    secret: bool


def _child(where: _Where, key: str) -> _Where:
    step = f".{key}" if _IDENTIFIER.fullmatch(key) else f'["{key}"]'
    return _Where(path=where.path + step, key=key, parent=where.key, secret=where.secret)


def _empty(value: Any) -> bool:
    return value is None or value in ("", False, 0) or value == {} or value == []


def _compare(desired: Any, live: Any, where: _Where, out: list[DriftedField]) -> None:
    if live is None:
        if not _empty(desired):
            out.append(_drifted(where, live, desired))
        return
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            out.append(_drifted(where, live, desired))
            return
        for key, value in desired.items():
            _compare(value, live.get(key), _child(where, str(key)), out)
    elif isinstance(desired, list):
        if not isinstance(live, list):
            out.append(_drifted(where, live, desired))
        elif where.key in MERGE_KEYS and _keyed(desired, MERGE_KEYS[where.key]):
            _compare_keyed(desired, live, where, out)
        elif len(desired) != len(live):
            out.append(_drifted(where, live, desired))
        else:
            for i, (want, have) in enumerate(zip(desired, live, strict=True)):
                item = _Where(f"{where.path}[{i}]", "", where.key, where.secret)
                _compare(want, have, item, out)
    elif not _same_scalar(desired, live, where):
        out.append(_drifted(where, live, desired))


def _keyed(items: Sequence[Any], keys: tuple[str, ...]) -> bool:
    return all(isinstance(i, dict) and keys[0] in i for i in items)


def _key_of(item: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(str(item.get(k, KEY_DEFAULTS.get(k, ""))) for k in keys)


def _compare_keyed(
    desired: Sequence[Mapping[str, Any]],
    live: Sequence[Any],
    where: _Where,
    out: list[DriftedField],
) -> None:
    keys = MERGE_KEYS[where.key]
    by_key = {_key_of(i, keys): i for i in live if isinstance(i, dict)}
    secret = where.secret or where.key in SECRET_LISTS
    for want in desired:
        key = _key_of(want, keys)
        label = ",".join(f"{k}={v}" for k, v in zip(keys, key, strict=True) if v)
        item = _Where(f"{where.path}[{label}]", "", where.key, secret)
        _compare(want, by_key.get(key), item, out)


def _same_scalar(desired: Any, live: Any, where: _Where) -> bool:
    if isinstance(desired, bool) or isinstance(live, bool):
        return desired is live
    if where.parent in QUANTITY_PARENTS or where.key in QUANTITY_KEYS:
        want, have = parse_quantity(desired), parse_quantity(live)
        if want is not None and have is not None:
            return want == have
    if isinstance(desired, int | float) and isinstance(live, int | float):
        return bool(desired == live)
    if isinstance(desired, int) != isinstance(live, int):  # int-or-string: 8080 and "8080"
        return str(desired) == str(live)
    return bool(desired == live)


def _drifted(where: _Where, live: Any, desired: Any) -> DriftedField:
    if where.secret:
        return DriftedField(path=where.path, live="", desired="", secret=True)
    return DriftedField(path=where.path, live=_shown(live), desired=_shown(desired))


def _shown(value: Any) -> str:
    if value is None:
        return ABSENT
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"
