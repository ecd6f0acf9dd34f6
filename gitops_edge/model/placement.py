"""Which nodes a DaemonSet's pods may run on, as the DaemonSet controller decides it.

Owns the pure rules of kube-controller-manager's `NodeShouldRunDaemonPod` (pkg/controller/
daemon): the template's `nodeSelector`, its required node affinity (terms ORed; a term's
`matchExpressions` over labels and `matchFields` over `metadata.name` ANDed; an empty term
matches nothing) and the node's NoSchedule/NoExecute taints against the template's tolerations
plus those the controller adds to every daemon pod (`AddOrUpdateDaemonPodTolerations`). Also
which node an unbound daemon pod is meant for (OpenYurt's `GetTargetNodeName`: the single
`metadata.name` the controller pins it to). Shared by the planner, the observed model and the
simulated cluster, so all three agree. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NO_SCHEDULE = "NoSchedule"
NO_EXECUTE = "NoExecute"
REPELLING_EFFECTS = (NO_SCHEDULE, NO_EXECUTE)  # PreferNoSchedule never keeps a daemon pod off
NODE_NAME_FIELD = "metadata.name"


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str = ""
    effect: str = NO_SCHEDULE


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str = ""  # "" with operator Exists tolerates every taint
    operator: str = "Equal"  # Equal | Exists
    value: str = ""
    effect: str = ""  # "" tolerates every effect

    def tolerates(self, taint: Taint) -> bool:
        """Kubernetes' Toleration.ToleratesTaint."""
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator == "Exists":
            return True
        return self.operator in ("Equal", "") and self.value == taint.value


def _exists(key: str, effect: str) -> Toleration:
    return Toleration(key=key, operator="Exists", effect=effect)


# What the DaemonSet controller adds to every pod it creates (AddOrUpdateDaemonPodTolerations).
DAEMON_TOLERATIONS = (
    _exists("node.kubernetes.io/not-ready", NO_EXECUTE),
    _exists("node.kubernetes.io/unreachable", NO_EXECUTE),
    _exists("node.kubernetes.io/disk-pressure", NO_SCHEDULE),
    _exists("node.kubernetes.io/memory-pressure", NO_SCHEDULE),
    _exists("node.kubernetes.io/pid-pressure", NO_SCHEDULE),
    _exists("node.kubernetes.io/unschedulable", NO_SCHEDULE),
)
HOST_NETWORK_TOLERATION = _exists("node.kubernetes.io/network-unavailable", NO_SCHEDULE)


@dataclass(frozen=True, slots=True)
class Requirement:
    """A NodeSelectorRequirement: In, NotIn, Exists, DoesNotExist, Gt, Lt."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def holds(self, value: str | None) -> bool:
        return requirement_holds(self.operator, self.values, value)


LABEL_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")  # what a LabelSelector allows


def requirement_holds(operator: str, values: Sequence[str], value: str | None) -> bool:
    """Whether a label or field `value` (None: absent) satisfies a requirement: In, NotIn,
    Exists, DoesNotExist, and for node selectors Gt, Lt (one integer value). Any other
    operator holds for nothing."""
    if operator == "In":
        return value is not None and value in values
    if operator == "NotIn":
        return value is None or value not in values
    if operator == "Exists":
        return value is not None
    if operator == "DoesNotExist":
        return value is None
    if operator in ("Gt", "Lt") and value is not None and len(values) == 1:
        try:
            left, right = int(value), int(values[0])
        except ValueError:
            return False
        return left > right if operator == "Gt" else left < right
    return False


@dataclass(frozen=True, slots=True)
class Term:
    """A NodeSelectorTerm. A term with no requirement at all matches no node."""

    expressions: tuple[Requirement, ...] = ()  # over node labels
    fields: tuple[Requirement, ...] = ()  # over node fields (metadata.name only)

    def matches(self, name: str, labels: Mapping[str, str]) -> bool:
        if not self.expressions and not self.fields:
            return False
        return all(r.holds(labels.get(r.key)) for r in self.expressions) and all(
            r.holds(name if r.key == NODE_NAME_FIELD else None) for r in self.fields
        )


@dataclass(frozen=True, slots=True)
class Placement:
    """The scheduling constraints of a DaemonSet's pod template. Hashable, so a plan computes
    the eligible nodes once per distinct placement."""

    node_selector: tuple[tuple[str, str], ...] = ()
    terms: tuple[Term, ...] | None = None  # None: no required node affinity
    tolerations: tuple[Toleration, ...] = DAEMON_TOLERATIONS

    def fits(self, name: str, labels: Mapping[str, str]) -> bool:
        """nodeSelector and required node affinity (not taints)."""
        if any(labels.get(k) != v for k, v in self.node_selector):
            return False
        return self.terms is None or any(t.matches(name, labels) for t in self.terms)

    def tolerates(self, taints: Sequence[Taint]) -> bool:
        """Every NoSchedule/NoExecute taint of the node is tolerated."""
        return all(
            any(t.tolerates(taint) for t in self.tolerations)
            for taint in taints
            if taint.effect in REPELLING_EFFECTS
        )

    def admits(self, name: str, labels: Mapping[str, str], taints: Sequence[Taint]) -> bool:
        """The DaemonSet controller should run a pod of this template on the node."""
        return self.fits(name, labels) and self.tolerates(taints)

    def keeps_running(self, name: str, labels: Mapping[str, str], taints: Sequence[Taint]) -> bool:
        """A pod already on the node may stay (upstream `shouldContinueRunning`): the node
        still fits, and only an untolerated NoExecute taint evicts; NoSchedule keeps new pods
        off but leaves a running one alone."""
        return self.fits(name, labels) and self.tolerates(
            [t for t in taints if t.effect == NO_EXECUTE]
        )


def _requirements(raw: Any) -> tuple[Requirement, ...]:
    return tuple(
        Requirement(
            key=str(r.get("key", "")),
            operator=str(r.get("operator", "")),
            values=tuple(str(v) for v in r.get("values") or ()),
        )
        for r in raw or ()
        if isinstance(r, Mapping)
    )


def _required_terms(pod_spec: Mapping[str, Any]) -> Any:
    affinity = pod_spec.get("affinity") or {}
    required = (affinity.get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    return None if required is None else required.get("nodeSelectorTerms") or []


def placement_from(pod_spec: Mapping[str, Any]) -> Placement:
    """The placement of a pod template's `spec` (a raw Kubernetes object)."""
    raw_terms = _required_terms(pod_spec)
    own = tuple(
        Toleration(
            key=str(t.get("key") or ""),
            operator=str(t.get("operator") or "Equal"),
            value=str(t.get("value") or ""),
            effect=str(t.get("effect") or ""),
        )
        for t in pod_spec.get("tolerations") or ()
        if isinstance(t, Mapping)
    )
    extra = (HOST_NETWORK_TOLERATION,) if pod_spec.get("hostNetwork") else ()
    return Placement(
        node_selector=tuple(
            sorted((str(k), str(v)) for k, v in (pod_spec.get("nodeSelector") or {}).items())
        ),
        terms=None
        if raw_terms is None
        else tuple(
            Term(
                expressions=_requirements(t.get("matchExpressions")),
                fields=_requirements(t.get("matchFields")),
            )
            for t in raw_terms
            if isinstance(t, Mapping)
        ),
        tolerations=(*own, *DAEMON_TOLERATIONS, *extra),
    )


def taints_from(node: Mapping[str, Any]) -> tuple[Taint, ...]:
    """The taints of a raw Node object."""
    return tuple(
        Taint(
            key=str(t.get("key") or ""),
            value=str(t.get("value") or ""),
            effect=str(t.get("effect") or ""),
        )
        for t in (node.get("spec") or {}).get("taints") or ()
        if isinstance(t, Mapping)
    )


def target_node(pod: Mapping[str, Any]) -> str:
    """The node a pod belongs to: `spec.nodeName` once bound; before that, the node the
    DaemonSet controller pinned it to (a required node affinity term whose only field
    requirement is `metadata.name In [NODE]`, as OpenYurt's GetTargetNodeName reads it);
    "" when neither says."""
    spec = pod.get("spec") or {}
    bound = spec.get("nodeName")
    if bound:
        return str(bound)
    for term in _required_terms(spec) or ():
        for req in (term or {}).get("matchFields") or ():
            values = list(req.get("values") or ())
            pinned = req.get("key") == NODE_NAME_FIELD and req.get("operator") == "In"
            if pinned and len(values) == 1:
                return str(values[0])
    return ""
