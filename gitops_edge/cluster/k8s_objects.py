"""Kubernetes-shaped objects (plain dicts, as the API returns them) → the observed model.

Owns the mapping of Node, DaemonSet, ControllerRevision and Pod fields onto `observed` values and
the RFC 3339 time format. Shared by the simulated cluster and the Kubernetes adapter, so both
are observed the same way. Pure functions, no side effects.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from gitops_edge.model import nodejobs as nj
from gitops_edge.model.desired import MANAGED_BY_LABEL, MANAGED_BY_VALUE, SPEC_HASH_ANNOTATION
from gitops_edge.model.observed import (
    REVISION_HASH_LABEL,
    TEMPLATE_GENERATION_LABEL,
    Condition,
    DaemonSetObs,
    ImagePullResult,
    JobObs,
    Node,
    NodeJobStatus,
    Observed,
    PodObs,
    PullJobObs,
)
from gitops_edge.model.placement import placement_from, taints_from, target_node
from gitops_edge.model.prepull import PULL_POD_LABEL, PULL_REVISION_LABEL

Obj = Mapping[str, Any]
_EMPTY: Mapping[str, Any] = {}


@lru_cache(maxsize=65536)
def parse_time(text: str) -> float:
    """RFC 3339 (`2026-01-01T00:00:05Z`, fractions allowed) → epoch seconds. Cached: a fleet's
    objects share few distinct timestamps."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@lru_cache(maxsize=65536)
def format_time(seconds: float) -> str:
    """Epoch seconds → RFC 3339 UTC (`2026-01-01T00:00:05Z`). Cached like `parse_time`."""
    moment = datetime.fromtimestamp(seconds, UTC)
    if seconds == int(seconds):
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _time(value: Any) -> float:
    return parse_time(value) if isinstance(value, str) and value else 0.0


def condition_from(raw: Obj) -> Condition:
    return Condition(
        type=str(raw.get("type", "")),
        status=str(raw.get("status", "Unknown")),
        reason=str(raw.get("reason") or ""),
        message=str(raw.get("message") or ""),
        last_transition_time=_time(raw.get("lastTransitionTime")),
    )


@lru_cache(maxsize=65536)
def _shared_condition(fields: tuple[Any, ...]) -> Condition:
    type_, status, reason, message, since = fields
    return condition_from(
        {
            "type": type_,
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": since,
        }
    )


def shared_condition_from(raw: Obj) -> Condition:
    """`condition_from`, one value per distinct condition: a fleet's pods carry few (the same
    Ready transition, the same PodNeedUpgrade mark), so a million pods share a few thousand
    immutable `Condition`s instead of holding one each (memory, and the time to build them)."""
    fields = (
        raw.get("type", ""),
        raw.get("status", "Unknown"),
        raw.get("reason"),
        raw.get("message"),
        raw.get("lastTransitionTime"),
    )
    if all(value is None or type(value) is str for value in fields):
        return _shared_condition(fields)
    # Another type is parsed alone: it may not be hashable, and 1, 1.0 and True are equal
    # keys that `str` reads apart ("1", "True").
    return condition_from(raw)


def condition_to(condition: Condition) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": condition.type,
        "status": condition.status,
        "lastTransitionTime": format_time(condition.last_transition_time),
    }
    if condition.reason:
        out["reason"] = condition.reason
    if condition.message:
        out["message"] = condition.message
    return out


def node_from(obj: Obj) -> Node:
    meta, status = obj.get("metadata", _EMPTY), obj.get("status", _EMPTY)
    ready, since = False, 0.0
    for cond in status.get("conditions") or ():
        if cond.get("type") == "Ready":
            ready, since = cond.get("status") == "True", _time(cond.get("lastTransitionTime"))
    return Node(
        name=meta["name"],
        labels=dict(meta.get("labels") or {}),
        ready=ready,
        ready_since=since,
        edge_version=str(status.get("nodeInfo", _EMPTY).get("kubeletVersion", "")),
        taints=taints_from(obj),
    )


def newest_revision_hash(revisions: Iterable[Obj]) -> str:
    """The controller-revision-hash of the ControllerRevision with the highest `.revision`."""
    best: Obj | None = None
    for rev in revisions:
        if best is None or int(rev.get("revision", 0)) > int(best.get("revision", 0)):
            best = rev
    if best is None:
        return ""
    meta = best.get("metadata", _EMPTY)
    label = (meta.get("labels") or {}).get(REVISION_HASH_LABEL)
    return str(label) if label else str(meta.get("name", "")).rsplit("-", 1)[-1]


def daemonset_from(obj: Obj, revisions: Sequence[Obj]) -> DaemonSetObs:
    meta, spec = obj.get("metadata", _EMPTY), obj.get("spec", _EMPTY)
    strategy = spec.get("updateStrategy") or {}
    rolling = strategy.get("rollingUpdate") or {}
    return DaemonSetObs(
        namespace=meta.get("namespace", "default"),
        name=meta["name"],
        uid=str(meta.get("uid", "")),
        labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}),
        update_strategy=str(strategy.get("type", "RollingUpdate")),
        rolling_max_unavailable=rolling.get("maxUnavailable"),
        min_ready_seconds=int(spec.get("minReadySeconds") or 0),
        template_generation=int(meta.get("generation") or 0),
        current_revision=newest_revision_hash(revisions),
        placement=placement_from((spec.get("template") or _EMPTY).get("spec") or _EMPTY),
        live_json=live_json(obj),
    )


def live_json(obj: Obj) -> str:
    """What drift is checked on (`planner.drift`): the object's labels, annotations and spec,
    as compact JSON (immutable, and the same text for an unchanged object)."""
    meta = obj.get("metadata", _EMPTY)
    return json.dumps(
        {
            "metadata": {
                "labels": meta.get("labels") or {},
                "annotations": meta.get("annotations") or {},
            },
            "spec": obj.get("spec", _EMPTY),
        },
        separators=(",", ":"),
    )


def controller_ref(meta: Obj) -> Obj:
    """The ownerReference marked controller (an empty mapping when there is none)."""
    for ref in meta.get("ownerReferences") or ():
        if ref.get("controller"):
            return ref  # type: ignore[no-any-return]
    return _EMPTY


def pod_from(obj: Obj, *, keep: frozenset[str] | None = None) -> PodObs:
    """A pod; `keep` limits the conditions kept to those types (None: all of them). Called
    for every pod of a fleet's initial list (a million at 100k nodes): written for speed, with
    the straightforward reading in `tests/test_pod_from.py` as its reference."""
    meta, spec = obj.get("metadata", _EMPTY), obj.get("spec", _EMPTY)
    labels = meta.get("labels") or _EMPTY
    owner = _EMPTY  # the controller ownerReference (`controller_ref`, inlined)
    for ref in meta.get("ownerReferences") or ():
        if ref.get("controller"):
            owner = ref
            break
    raw = obj.get("status", _EMPTY).get("conditions")
    conditions, ready, since = _condition_set(raw, keep) if raw else _NO_CONDITIONS
    generation = str(labels.get(TEMPLATE_GENERATION_LABEL))
    node = spec.get("nodeName")
    created = meta.get("creationTimestamp")
    return PodObs(  # positional, in PodObs's field order (faster than by keyword)
        meta.get("namespace", "default"),  # namespace
        meta["name"],  # name
        str(meta.get("uid", "")),  # uid
        str(node) if node else target_node(obj),  # node
        str(owner.get("kind", "")),  # owner_kind
        str(owner.get("name", "")),  # owner_name
        str(labels.get(REVISION_HASH_LABEL, "")),  # revision_hash
        int(generation) if generation.isdigit() else None,  # template_generation
        ready,  # ready
        since,  # ready_since
        bool(meta.get("deletionTimestamp")),  # deleting
        conditions,  # conditions
        parse_time(created) if created and isinstance(created, str) else 0.0,  # created
        str(owner.get("uid", "")),  # owner_uid
        bool(node),  # bound
    )


ConditionSet = tuple[tuple[Condition, ...], bool, float | None]  # conditions, ready, since
_NO_CONDITIONS: ConditionSet = ((), False, None)
_CONDITION_SETS: dict[tuple[tuple[Any, ...], ...], ConditionSet] = {}
CONDITION_SETS_KEPT = 65536  # distinct condition lists remembered (then forgotten at once)


def _condition_set(raw: Any, keep: frozenset[str] | None) -> ConditionSet:
    """A pod's conditions (those `keep` names), whether it is Ready and since when: one value
    per distinct list of conditions, as a fleet's pods share few (`shared_condition_from`).
    Only lists of plain strings are remembered: a value that merely compares equal to a
    string's (none does) or to another type's (1 and True) never stands for another."""
    kept = [c for c in raw if keep is None or c.get("type") in keep]
    fields = tuple(
        (
            c.get("type", ""),
            c.get("status", "Unknown"),
            c.get("reason"),
            c.get("message"),
            c.get("lastTransitionTime"),
        )
        for c in kept
    )
    try:
        known = _CONDITION_SETS.get(fields)
    except TypeError:  # a field that is not hashable: not remembered
        known = None
    if known is not None:
        return known
    conditions = tuple(shared_condition_from(c) for c in kept)
    ready, since = False, None
    for cond in conditions:
        if cond.type == "Ready":
            ready = cond.status == "True"
            since = cond.last_transition_time if ready else None
    made = (conditions, ready, since)
    if all(value is None or type(value) is str for field in fields for value in field):
        if len(_CONDITION_SETS) >= CONDITION_SETS_KEPT:
            _CONDITION_SETS.clear()
        _CONDITION_SETS[fields] = made
    return made


def pull_job_from(obj: Obj) -> PullJobObs:
    """An image pre-pull Job: which pod and revision it pulls for, and how it ended."""
    meta = obj.get("metadata", _EMPTY)
    labels = meta.get("labels") or _EMPTY
    state = "Running"
    for cond in (obj.get("status") or _EMPTY).get("conditions") or ():
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "Failed"):
            state = "Succeeded" if cond["type"] == "Complete" else "Failed"
    return PullJobObs(
        namespace=meta.get("namespace", "default"),
        name=meta["name"],
        pod=str(labels.get(PULL_POD_LABEL, "")),
        revision=str(labels.get(PULL_REVISION_LABEL, "")),
        state=state,
    )


def node_job_from(obj: Obj) -> JobObs:
    """A KubeEdge node job in the version it was listed in: v1alpha1's fsm states (job `state`,
    per node `nodeStatus[]`, or for pre-pulls `status[].nodeStatus` with `imageStatus`) or
    v1alpha2's phases (`phase`, `nodeStatus[]` with `actionFlow` and `imageStatus`)."""
    meta = obj.get("metadata", _EMPTY)
    labels = meta.get("labels") or _EMPTY
    annotations = meta.get("annotations") or _EMPTY
    api_version = str(obj.get("apiVersion", ""))
    status = obj.get("status") or _EMPTY
    if nj.version_of(api_version) == nj.V1ALPHA1:
        state = str(status.get("state") or "")
        phase = nj.v1alpha1_job_phase(state) if status else ""
        nodes = tuple(_v1alpha1_node(entry) for entry in _v1alpha1_entries(obj))
    else:
        state = str(status.get("phase") or "")
        phase = state
        nodes = tuple(_v1alpha2_node(entry) for entry in status.get("nodeStatus") or ())
    return JobObs(
        api_version=api_version,
        kind=str(obj.get("kind", "")),
        name=str(meta["name"]),
        spec_hash=str(annotations.get(SPEC_HASH_ANNOTATION, "")),
        managed=labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE,
        phase=phase,
        state=state,
        reason=str(status.get("reason") or ""),
        nodes=nodes,
        labels=dict(labels),
    )


def _v1alpha1_entries(obj: Obj) -> list[tuple[Obj, Sequence[Obj]]]:
    status = obj.get("status") or _EMPTY
    if obj.get("kind") == nj.PREPULL:
        return [
            (e.get("nodeStatus") or _EMPTY, e.get("imageStatus") or ())
            for e in status.get("status") or ()
        ]
    return [(e, ()) for e in status.get("nodeStatus") or ()]


def _images(entries: Sequence[Obj], *, ok_words: tuple[str, ...]) -> tuple[ImagePullResult, ...]:
    return tuple(
        ImagePullResult(
            image=str(e.get("image", "")),
            ok=str(e.get("state") or e.get("status") or "").lower() in ok_words,
            reason=str(e.get("reason") or ""),
        )
        for e in entries
    )


def _v1alpha1_node(entry: tuple[Obj, Sequence[Obj]]) -> NodeJobStatus:
    node, images = entry
    state = str(node.get("state") or "")
    return NodeJobStatus(
        node=str(node.get("nodeName", "")),
        phase=nj.v1alpha1_node_phase(state),
        step=state,
        reason=str(node.get("reason") or ""),
        time=str(node.get("time") or ""),
        images=_images(images, ok_words=("successful", "true")),
    )


def _v1alpha2_node(node: Obj) -> NodeJobStatus:
    flow = node.get("actionFlow") or ()
    last = flow[-1] if flow else _EMPTY
    return NodeJobStatus(
        node=str(node.get("nodeName", "")),
        phase=str(node.get("phase") or nj.NODE_PENDING),
        step=str(last.get("action") or node.get("action") or ""),
        reason=str(node.get("reason") or ""),
        time=str(last.get("time") or node.get("time") or ""),
        images=_images(node.get("imageStatus") or (), ok_words=("true", "successful")),
    )


def revisions_by_owner(revisions: Iterable[Obj]) -> dict[str, list[Obj]]:
    """ControllerRevisions grouped by the uid of their controlling DaemonSet."""
    by_owner: dict[str, list[Obj]] = defaultdict(list)
    for rev in revisions:
        uid = controller_ref(rev.get("metadata", _EMPTY)).get("uid")
        if uid:
            by_owner[str(uid)].append(rev)
    return by_owner


def build_observed(
    *,
    now: float,
    nodes: Iterable[Obj],
    daemonsets: Iterable[Obj],
    revisions: Iterable[Obj],
    pods: Iterable[Obj],
) -> Observed:
    """The observed model from listed objects; ControllerRevisions are matched to their
    DaemonSet by the controller ownerReference's uid."""
    by_owner = revisions_by_owner(revisions)
    return Observed(
        now=now,
        nodes=tuple(node_from(n) for n in nodes),
        daemonsets=tuple(
            daemonset_from(d, by_owner.get(str(d["metadata"].get("uid", "")), []))
            for d in daemonsets
        ),
        pods=tuple(pod_from(p) for p in pods),
    )
