"""`k8s_objects.pod_from`, written for speed (the initial list of a million pods), gives the
same `PodObs` as the straightforward reading of a pod (`reference_pod_from`, below: the
function as it was before it was sped up) for any pod: bound, pinned by the DaemonSet
controller or neither, labels and owners present or not, conditions kept or dropped by `keep`,
being deleted or not, and fields of odd types; equal, with the same repr, or the same error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops_edge.cluster import k8s_objects
from gitops_edge.cluster.k8s_objects import condition_from, pod_from
from gitops_edge.cluster.kube import PLANNER_CONDITIONS
from gitops_edge.model.observed import (
    REVISION_HASH_LABEL,
    TEMPLATE_GENERATION_LABEL,
    Condition,
    PodObs,
)
from gitops_edge.model.placement import target_node

_EMPTY: dict[str, Any] = {}


def reference_pod_from(obj: Any, *, keep: frozenset[str] | None = None) -> PodObs:
    """The straightforward reading: every field by keyword, every condition parsed anew."""
    meta, status = obj.get("metadata", _EMPTY), obj.get("status", _EMPTY)
    labels = meta.get("labels") or _EMPTY
    owner = _EMPTY
    for ref in meta.get("ownerReferences") or ():
        if ref.get("controller"):
            owner = ref
            break
    conditions = tuple(
        condition_from(c)
        for c in status.get("conditions") or ()
        if keep is None or c.get("type") in keep
    )
    ready, since = False, None
    for cond in conditions:
        if cond.type == "Ready":
            ready = cond.status == "True"
            since = cond.last_transition_time if ready else None
    generation = labels.get(TEMPLATE_GENERATION_LABEL)
    bound = bool(obj.get("spec", _EMPTY).get("nodeName"))
    created = meta.get("creationTimestamp")
    return PodObs(
        namespace=meta.get("namespace", "default"),
        name=meta["name"],
        uid=str(meta.get("uid", "")),
        node=str(obj["spec"]["nodeName"]) if bound else target_node(obj),
        owner_kind=str(owner.get("kind", "")),
        owner_name=str(owner.get("name", "")),
        revision_hash=str(labels.get(REVISION_HASH_LABEL, "")),
        template_generation=int(str(generation)) if str(generation).isdigit() else None,
        ready=ready,
        ready_since=since,
        deleting=bool(meta.get("deletionTimestamp")),
        conditions=conditions,
        created=k8s_objects.parse_time(created) if isinstance(created, str) and created else 0.0,
        owner_uid=str(owner.get("uid", "")),
        bound=bound,
    )


def outcome(parse: Any, obj: Any, keep: frozenset[str] | None) -> tuple[str, Any]:
    """What parsing gives: the value (and its repr, which tells 1 from 1.0 from True), or the
    error's type."""
    try:
        value = parse(json.loads(json.dumps(obj)), keep=keep)
    except Exception as exc:  # the same bad input must fail the same way
        return "error", type(exc)
    return repr(value), value


TIMES = st.sampled_from(
    ["2026-01-01T00:00:05Z", "2026-01-01T00:00:05.25Z", "2020-01-01T00:00:00Z", "", None, 0, 5]
)
TEXT = st.sampled_from(["", "a", "h1", "True", "False", "Unknown", "1", "7", "x y"])
ODD = st.one_of(st.none(), st.booleans(), st.sampled_from([0, 1, 7, 1.0, -3]), TEXT)
MAYBE = st.one_of(TEXT, ODD)


def absent_or(values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A one-member mapping of `values` under key "v", or an empty one (the member absent)."""
    return st.one_of(st.just({}), values.map(lambda v: {"v": v}))


@st.composite
def conditions(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for _ in range(draw(st.integers(0, 4))):
        cond: dict[str, Any] = {}
        for name, values in (
            ("type", st.sampled_from(["Ready", "PodNeedUpgrade", "PodImageReady", "Other"])),
            ("status", st.one_of(st.sampled_from(["True", "False", "Unknown"]), ODD)),
            ("reason", MAYBE),
            ("message", MAYBE),
            ("lastTransitionTime", TIMES),
        ):
            member = draw(absent_or(values))
            if member:
                cond[name] = member["v"]
        out.append(cond)
    return out


@st.composite
def pods(draw: st.DrawFn) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": draw(st.sampled_from(["p", "web-x2b4c", "agent-1"]))}
    for name, values in (
        ("namespace", st.sampled_from(["edge", "default", "kube-system"])),
        ("uid", st.one_of(TEXT, st.sampled_from([12, None]))),
        ("deletionTimestamp", TIMES),
        ("creationTimestamp", TIMES),
    ):
        member = draw(absent_or(values))
        if member:
            meta[name] = member["v"]
    labels = draw(
        st.one_of(
            st.none(),
            st.dictionaries(
                st.sampled_from([REVISION_HASH_LABEL, TEMPLATE_GENERATION_LABEL, "app"]),
                st.one_of(TEXT, st.sampled_from(["12", "007", "-1", "1.5"]), ODD),
            ),
        )
    )
    if labels is not None or draw(st.booleans()):
        meta["labels"] = labels
    refs = draw(
        st.lists(
            st.fixed_dictionaries(
                {"kind": st.sampled_from(["DaemonSet", "Node"]), "name": TEXT, "uid": TEXT},
                optional={"controller": ODD},
            ),
            max_size=3,
        )
    )
    if refs or draw(st.booleans()):
        meta["ownerReferences"] = refs
    pod: dict[str, Any] = {"metadata": meta}
    placement = draw(st.sampled_from(["bound", "pinned", "neither", "no spec"]))
    if placement == "bound":
        pod["spec"] = {"nodeName": draw(st.sampled_from(["n1", "edge-07"]))}
    elif placement == "pinned":
        field = {"key": "metadata.name", "operator": "In", "values": ["n2"]}
        terms = {"nodeSelectorTerms": [{"matchFields": [field]}]}
        required = {"requiredDuringSchedulingIgnoredDuringExecution": terms}
        pod["spec"] = {"nodeName": draw(st.sampled_from(["", None])), "affinity": {}}
        pod["spec"]["affinity"]["nodeAffinity"] = required
    elif placement == "neither":
        pod["spec"] = {}
    status = draw(st.sampled_from(["conditions", "none", "empty", "no status"]))
    if status == "conditions":
        pod["status"] = {"phase": "Running", "conditions": draw(conditions())}
    elif status == "none":
        pod["status"] = {"conditions": None}
    elif status == "empty":
        pod["status"] = {}
    return pod


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pod=pods(), keep=st.sampled_from([None, PLANNER_CONDITIONS, frozenset({"Other"})]))
def test_pod_from_equals_the_straightforward_reading(
    pod: dict[str, Any], keep: frozenset[str] | None
) -> None:
    assert outcome(pod_from, pod, keep) == outcome(reference_pod_from, pod, keep)
    # twice: the second time from what the first remembered of its conditions
    assert outcome(pod_from, pod, keep) == outcome(reference_pod_from, pod, keep)


def test_pods_with_the_same_conditions_share_them_and_differ_in_the_rest() -> None:
    ready = {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:05Z"}
    mark = {"type": "PodNeedUpgrade", "status": "False", "message": "controllerrevision: h1"}
    kubelet = {"type": "ContainersReady", "status": "True"}

    def parsed(name: str, *conds: dict[str, Any]) -> PodObs:
        obj = {
            "metadata": {"name": name, "namespace": "edge"},
            "spec": {"nodeName": name},
            "status": {"conditions": [dict(c) for c in conds]},
        }
        return pod_from(obj, keep=PLANNER_CONDITIONS)

    a, b = parsed("a", ready, kubelet, mark), parsed("b", kubelet, ready, mark)
    assert a.conditions is b.conditions  # ContainersReady is not kept: the same kept list
    assert a.conditions == (
        Condition(type="Ready", status="True", last_transition_time=1_767_225_605.0),
        Condition(type="PodNeedUpgrade", status="False", message="controllerrevision: h1"),
    )
    assert (a.name, a.node, b.name, b.node) == ("a", "a", "b", "b")
    assert a.ready and a.ready_since == 1_767_225_605.0
    not_ready = parsed("c", {**ready, "status": "False"}, mark)
    assert (not_ready.ready, not_ready.ready_since) == (False, None)
    assert parsed("d", mark, ready).conditions == tuple(reversed(a.conditions))  # order kept


@pytest.mark.parametrize("status", [True, 1, 1.0])
def test_conditions_of_other_types_are_never_read_as_one_another(status: Any) -> None:
    """1, 1.0 and True are equal dictionary keys, but read apart: "1", "1.0", "True"."""
    for earlier in (True, 1, 1.0):
        pod_from({"metadata": {"name": "x"}, "status": {"conditions": [{"status": earlier}]}})
    got = pod_from({"metadata": {"name": "y"}, "status": {"conditions": [{"status": status}]}})
    assert got.conditions == (Condition(type="", status=str(status)),)


def test_what_is_remembered_of_conditions_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(k8s_objects, "CONDITION_SETS_KEPT", 8)
    for i in range(50):
        cond = {"type": "Ready", "status": "True", "message": str(i)}
        got = pod_from({"metadata": {"name": "p"}, "status": {"conditions": [cond]}})
        assert got.conditions == (Condition(type="Ready", status="True", message=str(i)),)
        assert len(k8s_objects._CONDITION_SETS) <= 8
