"""What a v1.28 API server does to a DaemonSet it stores, for the stand-in (tests/kube_standin.py):
defaults (k8s.io/kubernetes pkg/apis/apps/v1 and core/v1 `SetDefaults_*`) and resource
quantities rewritten in canonical form (apimachinery `resource.Quantity`: `0.5` → `500m`,
`1024Mi` → `1Gi`, `1.5Gi` → `1536Mi`, a number → its string). Only the defaults a rendered
DaemonSet meets are modelled. Pure: returns a new object.
"""

from __future__ import annotations

import copy
import re
from fractions import Fraction
from typing import Any

Obj = dict[str, Any]
_QUANTITY = re.compile(
    r"([+-]?(?:\d+\.?\d*|\.\d+))(?:[eE]([+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?"
)
_BINARY = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
_DECIMAL = {-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}
_DECIMAL_FACTORS = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def canonical_quantity(value: Any) -> str:
    """The string the API server serves for a quantity written as `value`."""
    match = _QUANTITY.fullmatch(str(value))
    if match is None:
        raise ValueError(f"quantities must match the regular expression …: {value!r}")
    number = Fraction(match[1])
    suffix = match[3] or ""
    if match[2] is not None:
        number *= Fraction(10) ** int(match[2])
    elif suffix in _BINARY[1:]:
        number *= 1024 ** _BINARY.index(suffix)
    elif suffix:
        number *= Fraction(10) ** _DECIMAL_FACTORS[suffix]
    if number == 0:
        return "0"
    if suffix in _BINARY[1:] and number.denominator == 1 and number >= 1024:
        power = 0
        while number % 1024 ** (power + 1) == 0 and power < len(_BINARY) - 1:
            power += 1
        return f"{number // 1024**power}{_BINARY[power]}"
    exponent = max(e for e in _DECIMAL if (number / Fraction(10) ** e).denominator == 1)
    return f"{number / Fraction(10) ** exponent}{_DECIMAL[exponent]}"


def default_daemonset(obj: Obj) -> Obj:
    """A copy of the DaemonSet as the API server stores it."""
    out = copy.deepcopy(obj)
    spec = out.setdefault("spec", {})
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    template = spec.setdefault("template", {})
    template.setdefault("metadata", {}).setdefault("creationTimestamp", None)
    pod = template.setdefault("spec", {})
    for key, value in (
        ("dnsPolicy", "ClusterFirst"),
        ("restartPolicy", "Always"),
        ("schedulerName", "default-scheduler"),
        ("securityContext", {}),
        ("terminationGracePeriodSeconds", 30),
    ):
        pod.setdefault(key, value)
    for container in [*(pod.get("initContainers") or ()), *(pod.get("containers") or ())]:
        _default_container(container)
    return out


def _default_container(container: Obj) -> None:
    image = str(container.get("image", ""))
    tag = image.rpartition("/")[2].partition("@")[0]
    latest = ":" not in tag or tag.endswith(":latest")
    container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    for port in container.get("ports") or ():
        port.setdefault("protocol", "TCP")
    resources = container.setdefault("resources", {})
    for kind in ("limits", "requests"):
        if kind in resources:
            resources[kind] = {k: canonical_quantity(v) for k, v in resources[kind].items()}
    if "limits" in resources:  # requests default to the limits
        requests = resources.setdefault("requests", {})
        for key, value in resources["limits"].items():
            requests.setdefault(key, value)
