"""Rendering: validated documents → the `DesiredState` (one DaemonSet per workload and group).

Owns how an EdgeDaemonSet group becomes an apps/v1 DaemonSet: name `<workload>-<group>`, pinned
to the group's nodes and with the group's overrides (both `group_template`), owner labels and
source annotations added. Plain DaemonSets and declared Namespaces render as written plus those
labels. Pure: no I/O.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from gitops_edge.model import nodejobs as nj
from gitops_edge.model.desired import (
    GROUP_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    OPENYURT_MAX_UNAVAILABLE_ANNOTATION,
    OPENYURT_STRATEGY_ANNOTATION,
    OWNER_LABEL,
    REVISION_ANNOTATION,
    SOURCE_ANNOTATION,
    SPEC_HASH_ANNOTATION,
    WORKLOAD_LABEL,
    DesiredDaemonSet,
    DesiredJob,
    DesiredNamespace,
    DesiredState,
    LabelSelector,
    NodeGroup,
    PrePullPolicy,
    RepoConfig,
    RolloutPolicy,
    SourceRef,
    UpdateModel,
)
from gitops_edge.model.kinds import JOB_KINDS
from gitops_edge.model.maintenance import parse_window
from gitops_edge.model.openyurt import parse_update_strategy
from gitops_edge.repository.docpath import dict_at, dig
from gitops_edge.repository.group_template import apply_overrides, pin_to_group
from gitops_edge.repository.rules_repo import TypedDocument

MODEL_ANNOTATION = "gitops-edge.io/update-model"
MAX_UNAVAILABLE_ANNOTATION = "gitops-edge.io/max-unavailable"
_UNHASHED = (REVISION_ANNOTATION, SPEC_HASH_ANNOTATION, SOURCE_ANNOTATION)
NATIVE_DEFAULT_MAX_UNAVAILABLE = 1  # Kubernetes' default for RollingUpdate


def spec_hash(manifest: dict[str, Any]) -> str:
    """Hash of what matters in a manifest: not the revision/source bookkeeping annotations."""
    trimmed = copy.deepcopy(manifest)
    annotations = trimmed.get("metadata", {}).get("annotations", {})
    for key in _UNHASHED:
        annotations.pop(key, None)
    blob = json.dumps(trimmed, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _owned(labels: dict[str, str], config: RepoConfig) -> dict[str, str]:
    """The labels every applied object carries: managed by gitops-edge, owned by this source."""
    labels[MANAGED_BY_LABEL] = MANAGED_BY_VALUE
    if config.owner:
        labels[OWNER_LABEL] = config.owner
    return labels


def _finish(
    manifest: dict[str, Any],
    *,
    revision: str,
    source: SourceRef,
    unhashed_labels: dict[str, str] | None = None,
) -> tuple[str, str]:
    """Canonical JSON and spec hash; `unhashed_labels` are added after hashing (a node job's
    owner label: jobs created before owner identities must not read as changed, since a job's
    spec is immutable)."""
    digest = spec_hash(manifest)
    if unhashed_labels:
        manifest["metadata"].setdefault("labels", {}).update(unhashed_labels)
    annotations = manifest["metadata"].setdefault("annotations", {})
    annotations[REVISION_ANNOTATION] = revision
    annotations[SOURCE_ANNOTATION] = f"{source.file}:{source.line}"
    annotations[SPEC_HASH_ANNOTATION] = digest
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")), digest


def _source(td: TypedDocument) -> SourceRef:
    return SourceRef(file=td.doc.file, line=td.doc.locate([])[0])


def node_group_from(td: TypedDocument) -> NodeGroup:
    spec = dict_at(td.doc.data, "spec")
    raw_selector = spec.get("selector")
    selector = LabelSelector.from_raw(raw_selector) if isinstance(raw_selector, dict) else None
    window = spec.get("maintenanceWindow")
    return NodeGroup(
        name=td.doc.data["metadata"]["name"],
        selector=selector,
        nodes=tuple(spec.get("nodes") or ()),
        source=_source(td),
        window=parse_window(
            str(window["schedule"]),
            str(window["duration"]),
            str(window["timeZone"]) if "timeZone" in window else None,
        )
        if isinstance(window, dict)
        else None,
    )


def _edge_daemonsets(
    td: TypedDocument, *, groups: dict[str, NodeGroup], config: RepoConfig, revision: str
) -> list[DesiredDaemonSet]:
    data = td.doc.data
    meta, spec = data["metadata"], data["spec"]
    workload = meta["name"]
    namespace = meta.get("namespace") or config.default_namespace
    strategy = spec["strategy"]
    model = UpdateModel(strategy["type"])
    max_unavailable = strategy.get("maxUnavailable", config.default_max_unavailable)
    min_ready = int(spec.get("minReadySeconds", 0))
    prepull = _prepull_policy(spec)
    waves = _waves(spec)
    out = []
    for entry in spec["groups"]:
        group = groups[entry["name"]]
        name = f"{workload}-{group.name}"
        own_labels = {WORKLOAD_LABEL: workload, GROUP_LABEL: group.name}
        template = copy.deepcopy(spec["template"])
        template.setdefault("metadata", {}).setdefault("labels", {}).update(own_labels)
        apply_overrides(template["spec"], entry)
        pin_to_group(template["spec"], group)
        annotations = dict(meta.get("annotations") or {})
        if model is UpdateModel.ROLLING_UPDATE:
            update_strategy: dict[str, Any] = {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": max_unavailable},
            }
        else:
            update_strategy = {"type": "OnDelete"}
            annotations[MODEL_ANNOTATION] = model.value
            if model is UpdateModel.ADVANCED_ROLLING_UPDATE:
                annotations[MAX_UNAVAILABLE_ANNOTATION] = str(max_unavailable)
        manifest: dict[str, Any] = {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": _owned({**(meta.get("labels") or {}), **own_labels}, config),
                "annotations": annotations,
            },
            "spec": {
                "selector": {"matchLabels": own_labels},
                "updateStrategy": update_strategy,
                "minReadySeconds": min_ready,
                "template": template,
            },
        }
        source = SourceRef(file=td.doc.file, line=td.doc.locate(["spec", "groups"])[0])
        manifest_json, digest = _finish(manifest, revision=revision, source=source)
        out.append(
            DesiredDaemonSet(
                namespace=namespace,
                name=name,
                workload=workload,
                group=group.name,
                model=model,
                max_unavailable=max_unavailable,
                min_ready_seconds=min_ready,
                manifest_json=manifest_json,
                spec_hash=digest,
                source=source,
                prepull=prepull,
                rollout=waves.get(group.name),
                window=group.window,
                owner=config.owner,
            )
        )
    return out


def _waves(spec: dict[str, Any]) -> dict[str, RolloutPolicy]:
    """Each group's RolloutPolicy (validated spec.rollout); {} when there is none. Groups not
    listed in any wave form a last wave."""
    raw = spec.get("rollout")
    if not isinstance(raw, dict):
        return {}
    listed = [list(w["groups"]) for w in raw.get("waves") or ()]
    d = RolloutPolicy()  # the defaults
    bake = int(raw.get("bakeSeconds", d.bake_seconds))
    bakes = [int(w.get("bakeSeconds", bake)) for w in raw.get("waves") or ()]
    rest = [g["name"] for g in spec["groups"] if not any(g["name"] in w for w in listed)]
    if rest:
        listed.append(rest)
        bakes.append(bake)
    out = {}
    for index, groups in enumerate(listed):
        for name in groups:
            out[name] = RolloutPolicy(
                wave=index,
                waves=len(listed),
                bake_seconds=bakes[index],
                wait_for_not_ready=bool(raw.get("waitForNotReady", d.wait_for_not_ready)),
                progress_deadline_seconds=int(
                    raw.get("progressDeadlineSeconds", d.progress_deadline_seconds)
                ),
                max_failed=raw.get("maxFailedPods", d.max_failed),
                auto_rollback=bool(raw.get("autoRollback", d.auto_rollback)),
            )
    return out


def _prepull_policy(spec: dict[str, Any]) -> PrePullPolicy | None:
    raw = spec.get("prePull")
    if not isinstance(raw, dict):
        return None
    d = PrePullPolicy()  # the defaults
    return PrePullPolicy(
        concurrency=int(raw.get("concurrency", d.concurrency)),
        timeout_seconds=int(raw.get("timeoutSeconds", d.timeout_seconds)),
        failure_tolerate=str(raw.get("failureTolerate", d.failure_tolerate)),
        retry_times=int(raw.get("retryTimes", d.retry_times)),
    )


def plain_model(manifest: dict[str, Any]) -> tuple[UpdateModel, int | str]:
    """The update model and max-unavailable of a plain DaemonSet as written."""
    annotations = dict_at(manifest, "metadata", "annotations")
    strategy = annotations.get(OPENYURT_STRATEGY_ANNOTATION)
    if isinstance(strategy, str):
        return parse_update_strategy(strategy), annotations.get(
            OPENYURT_MAX_UNAVAILABLE_ANNOTATION, "10%"
        )
    if dig(manifest, "spec", "updateStrategy", "type") == "OnDelete":
        return UpdateModel.ON_DELETE, 0
    native = dig(manifest, "spec", "updateStrategy", "rollingUpdate", "maxUnavailable")
    return (
        UpdateModel.ROLLING_UPDATE,
        native if native is not None else NATIVE_DEFAULT_MAX_UNAVAILABLE,
    )


def _plain_daemonset(td: TypedDocument, *, config: RepoConfig, revision: str) -> DesiredDaemonSet:
    manifest = copy.deepcopy(td.doc.data)
    meta = manifest["metadata"]
    meta.setdefault("namespace", config.default_namespace)
    name = meta["name"]
    _owned(meta.setdefault("labels", {}), config)[WORKLOAD_LABEL] = name
    model, max_unavailable = plain_model(manifest)
    source = _source(td)
    manifest_json, digest = _finish(manifest, revision=revision, source=source)
    return DesiredDaemonSet(
        namespace=meta["namespace"],
        name=name,
        workload=name,
        group=None,
        model=model,
        max_unavailable=max_unavailable,
        min_ready_seconds=int(dig(manifest, "spec", "minReadySeconds") or 0),
        manifest_json=manifest_json,
        spec_hash=digest,
        source=source,
        openyurt_annotated=OPENYURT_STRATEGY_ANNOTATION
        in dict_at(manifest, "metadata", "annotations"),
        owner=config.owner,
    )


def _job(td: TypedDocument, *, config: RepoConfig, revision: str) -> DesiredJob:
    manifest = copy.deepcopy(td.doc.data)
    manifest["metadata"].setdefault("labels", {})[MANAGED_BY_LABEL] = MANAGED_BY_VALUE
    version = nj.version_of(manifest["apiVersion"])
    manifest["metadata"].setdefault("annotations", {})[nj.API_VERSION_ANNOTATION] = version
    source = _source(td)
    owner = {OWNER_LABEL: config.owner} if config.owner else {}
    manifest_json, digest = _finish(
        manifest, revision=revision, source=source, unhashed_labels=owner
    )
    return DesiredJob(
        api_version=manifest["apiVersion"],
        kind=manifest["kind"],
        name=manifest["metadata"]["name"],
        manifest_json=manifest_json,
        spec_hash=digest,
        source=source,
    )


def _namespace(td: TypedDocument, *, config: RepoConfig, revision: str) -> DesiredNamespace:
    """A declared v1 Namespace: its name, labels and annotations, plus the owner labels."""
    meta = td.doc.data["metadata"]
    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": meta["name"],
            "labels": _owned(dict(meta.get("labels") or {}), config),
            "annotations": dict(meta.get("annotations") or {}),
        },
    }
    source = _source(td)
    manifest_json, digest = _finish(manifest, revision=revision, source=source)
    return DesiredNamespace(
        name=meta["name"], manifest_json=manifest_json, spec_hash=digest, source=source
    )


def render(
    documents: Sequence[TypedDocument], *, config: RepoConfig, revision: str
) -> DesiredState:
    """Build the desired state from documents that validated without errors."""
    groups = {
        g.name: g for g in (node_group_from(td) for td in documents if td.kind.kind == "NodeGroup")
    }
    daemonsets: list[DesiredDaemonSet] = []
    jobs: list[DesiredJob] = []
    namespaces: list[DesiredNamespace] = []
    for td in documents:
        if td.kind.kind == "EdgeDaemonSet":
            daemonsets.extend(_edge_daemonsets(td, groups=groups, config=config, revision=revision))
        elif td.kind.kind == "DaemonSet":
            daemonsets.append(_plain_daemonset(td, config=config, revision=revision))
        elif td.kind.kind in JOB_KINDS:
            jobs.append(_job(td, config=config, revision=revision))
        elif td.kind.kind == "Namespace":
            namespaces.append(_namespace(td, config=config, revision=revision))
    return DesiredState(
        revision=revision,
        config=config,
        groups=tuple(sorted(groups.values(), key=lambda g: g.name)),
        daemonsets=tuple(sorted(daemonsets, key=lambda d: (d.namespace, d.name))),
        jobs=tuple(sorted(jobs, key=lambda j: (j.kind, j.name))),
        namespaces=tuple(sorted(namespaces, key=lambda n: n.name)),
    )
