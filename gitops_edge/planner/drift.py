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
Pure: no I/O. `drift_between` memoizes on the two JSON texts (the last 4,096 pairs, at most a
few MiB): a pass over an unchanged fleet compares nothing, which is what the loop's passes are.
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

from gitops_edge.model.desired import REVISION_ANNOTATION, SOURCE_ANNOTATION, SPEC_HASH_ANNOTATION

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
    walk = _Walk()
    want_meta = desired.get("metadata") or {}
    have_meta = live.get("metadata") or {}
    for section in ("labels", "annotations"):
        wanted = {
            k: v
            for k, v in (want_meta.get(section) or {}).items()
            if section == "labels" or k not in BOOKKEEPING_ANNOTATIONS
        }
        walk.steps[:] = ["metadata", f".{section}"]
        walk.compare(wanted, have_meta.get(section), key=section, parent="metadata")
    walk.steps[:] = ["spec"]
    walk.compare(desired.get("spec"), live.get("spec"), key="spec", parent="")
    return tuple(walk.out)


@lru_cache(maxsize=4096)
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


class _Walk:
    """One comparison: the drifted fields found so far, and the path being walked (its steps,
    joined only when a field is reported). `key` is the name of the field being compared ("" for
    a list item), `parent` the name of the map holding it; `secret`: its values are not shown."""

    __slots__ = ("out", "steps")

    def __init__(self) -> None:
        self.out: list[DriftedField] = []
        self.steps: list[str] = []

    def compare(
        self, desired: Any, live: Any, *, key: str, parent: str, secret: bool = False
    ) -> None:
        if desired == live:  # the common case, whole subtrees at once
            return
        if live is None:
            if not _empty(desired):
                self.report(live, desired, secret=secret)
        elif isinstance(desired, dict):
            if not isinstance(live, dict):
                self.report(live, desired, secret=secret)
                return
            steps = self.steps
            for name, value in desired.items():
                steps.append(f".{name}" if str(name).isidentifier() else f'["{name}"]')
                self.compare(value, live.get(name), key=str(name), parent=key, secret=secret)
                steps.pop()
        elif isinstance(desired, list):
            if not isinstance(live, list):
                self.report(live, desired, secret=secret)
            elif key in MERGE_KEYS and _keyed(desired, MERGE_KEYS[key]):
                self.compare_keyed(desired, live, key=key, secret=secret or key in SECRET_LISTS)
            elif len(desired) != len(live):
                self.report(live, desired, secret=secret)
            else:
                for i, (want, have) in enumerate(zip(desired, live, strict=True)):
                    self.steps.append(f"[{i}]")
                    self.compare(want, have, key="", parent=key, secret=secret)
                    self.steps.pop()
        elif not _same_scalar(
            desired, live, quantity=parent in QUANTITY_PARENTS or key in QUANTITY_KEYS
        ):
            self.report(live, desired, secret=secret)

    def compare_keyed(
        self, desired: Sequence[Mapping[str, Any]], live: Sequence[Any], *, key: str, secret: bool
    ) -> None:
        """A list merged by key: each item of `desired` against the live item with its key."""
        keys = MERGE_KEYS[key]
        by_key = {_key_of(i, keys): i for i in live if isinstance(i, dict)}
        for want in desired:
            values = _key_of(want, keys)
            label = ",".join(f"{k}={v}" for k, v in zip(keys, values, strict=True) if v)
            self.steps.append(f"[{label}]")
            self.compare(want, by_key.get(values), key="", parent=key, secret=secret)
            self.steps.pop()

    def report(self, live: Any, desired: Any, *, secret: bool) -> None:
        path = "".join(self.steps)
        if secret:
            self.out.append(DriftedField(path=path, live="", desired="", secret=True))
        else:
            self.out.append(DriftedField(path=path, live=_shown(live), desired=_shown(desired)))


def _empty(value: Any) -> bool:
    return value is None or value in ("", False, 0) or value == {} or value == []


def _keyed(items: Sequence[Any], keys: tuple[str, ...]) -> bool:
    return all(isinstance(i, dict) and keys[0] in i for i in items)


def _key_of(item: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(str(item.get(k, KEY_DEFAULTS.get(k, ""))) for k in keys)


def _same_scalar(desired: Any, live: Any, *, quantity: bool) -> bool:
    if isinstance(desired, bool) or isinstance(live, bool):
        return desired is live
    if quantity:
        want, have = parse_quantity(desired), parse_quantity(live)
        if want is not None and have is not None:
            return want == have
    if isinstance(desired, int | float) and isinstance(live, int | float):
        return bool(desired == live)
    if isinstance(desired, int) != isinstance(live, int):  # int-or-string: 8080 and "8080"
        return str(desired) == str(live)
    return bool(desired == live)


def _shown(value: Any) -> str:
    if value is None:
        return ABSENT
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"
