"""Semantic rules for DaemonSets (OpenYurt annotations, DESIGN §2) and EdgeDaemonSets (§3).

Pure functions from a `Document` to diagnostics; defensive about types (the schema reports
those). No side effects.
"""

from __future__ import annotations

import difflib
from typing import Any

from gitops_edge.model.desired import (
    OPENYURT_MAX_UNAVAILABLE_ANNOTATION as MAX_UNAVAILABLE,
)
from gitops_edge.model.desired import (
    OPENYURT_STRATEGY_ANNOTATION as STRATEGY,
)
from gitops_edge.model.desired import UpdateModel
from gitops_edge.model.imageref import parse_image
from gitops_edge.model.openyurt import parse_max_unavailable, parse_update_strategy
from gitops_edge.repository.diagnostics import WARNING, Diagnostic
from gitops_edge.repository.docpath import dict_at, dig, list_at
from gitops_edge.repository.rules_jobs import check_failure_tolerate
from gitops_edge.repository.yamldoc import Document

MAX_GENERATED_NAME = 63


def _check_containers(doc: Document, pod_spec_path: list[str | int]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    spec = dict_at(doc.data, *pod_spec_path)
    for field in ("initContainers", "containers"):
        seen: set[str] = set()
        for i, container in enumerate(list_at(spec, field)):
            name = dig(container, "name")
            if isinstance(name, str):
                if name in seen:
                    out.append(
                        doc.diagnostic(
                            [*pod_spec_path, field, i, "name"],
                            f"duplicate container name {name!r}",
                            hint="give every container its own name",
                            rule="container-name",
                        )
                    )
                seen.add(name)
            image = dig(container, "image")
            if isinstance(image, str):
                out.extend(_check_image(doc, [*pod_spec_path, field, i, "image"], image))
    return out


def _check_image(doc: Document, path: list[str | int], image: str) -> list[Diagnostic]:
    try:
        parse_image(image)
    except ValueError as exc:
        return [
            doc.diagnostic(
                path, str(exc), hint="e.g. registry.example.com/team/app:1.2.3", rule="image"
            )
        ]
    return []


def check_daemonset(doc: Document) -> list[Diagnostic]:
    """OpenYurt annotations need OnDelete; annotation values parse; selector matches labels."""
    out: list[Diagnostic] = []
    annotations = dict_at(doc.data, "metadata", "annotations")
    ann_path: list[str | int] = ["metadata", "annotations"]
    raw_strategy = annotations.get(STRATEGY)
    model: UpdateModel | None = None
    if isinstance(raw_strategy, str):
        try:
            model = parse_update_strategy(raw_strategy)
        except ValueError as exc:
            out.append(
                doc.diagnostic(
                    [*ann_path, STRATEGY],
                    str(exc),
                    hint="AdvancedRollingUpdate or OTA (case-insensitive)",
                    rule="openyurt-strategy",
                )
            )
        update_type = dig(doc.data, "spec", "updateStrategy", "type")
        if update_type != "OnDelete":
            where: list[str | int] = ["spec", "updateStrategy", "type"]
            if update_type is None:
                where = (
                    ["spec", "updateStrategy"]
                    if dig(doc.data, "spec", "updateStrategy")
                    else ["spec"]
                )
            shown = update_type if update_type is not None else "RollingUpdate (the default)"
            out.append(
                doc.diagnostic(
                    where,
                    f"{STRATEGY} needs spec.updateStrategy.type OnDelete, not {shown}; "
                    "OpenYurt silently ignores this DaemonSet otherwise",
                    hint="set spec.updateStrategy.type: OnDelete",
                    rule="openyurt-ondelete",
                    key=update_type is None,
                )
            )
    raw_max = annotations.get(MAX_UNAVAILABLE)
    if raw_max is not None:
        out.extend(_check_annotation_max_unavailable(doc, raw_max, model, raw_strategy))
    out.extend(_check_selector(doc))
    out.extend(_check_containers(doc, ["spec", "template", "spec"]))
    return out


def _check_annotation_max_unavailable(
    doc: Document, raw: Any, model: UpdateModel | None, raw_strategy: Any
) -> list[Diagnostic]:
    path: list[str | int] = ["metadata", "annotations", MAX_UNAVAILABLE]
    try:
        parse_max_unavailable(raw if isinstance(raw, int | str) else str(raw))
    except ValueError as exc:
        return [
            doc.diagnostic(
                path, str(exc), hint="e.g. 3 or 30% (0 or 0% mean 10%)", rule="max-unavailable"
            )
        ]
    if raw_strategy is None:
        return [
            doc.diagnostic(
                path,
                f"{MAX_UNAVAILABLE} has no effect without {STRATEGY}",
                hint=f"add {STRATEGY}: AdvancedRollingUpdate",
                rule="max-unavailable",
                severity=WARNING,
            )
        ]
    if model is UpdateModel.OTA:
        return [
            doc.diagnostic(
                path,
                f"{MAX_UNAVAILABLE} is only used by AdvancedRollingUpdate; OTA ignores it",
                hint="remove the annotation or use AdvancedRollingUpdate",
                rule="max-unavailable",
                severity=WARNING,
            )
        ]
    return []


def _check_selector(doc: Document) -> list[Diagnostic]:
    match_labels = dict_at(doc.data, "spec", "selector", "matchLabels")
    labels = dict_at(doc.data, "spec", "template", "metadata", "labels")
    wrong = sorted(k for k, v in match_labels.items() if labels.get(k) != v)
    if not wrong:
        return []
    return [
        doc.diagnostic(
            ["spec", "selector", "matchLabels", wrong[0]],
            f"selector label {wrong[0]}={match_labels[wrong[0]]!r} is not on the pod template; "
            "the API server rejects this DaemonSet",
            hint="make spec.template.metadata.labels carry every spec.selector.matchLabels entry",
            rule="selector",
        )
    ]


def check_edge_daemonset(doc: Document) -> list[Diagnostic]:
    """Strategy options, images, group entries (unique, name length, container overrides)."""
    out: list[Diagnostic] = []
    strategy = dict_at(doc.data, "spec", "strategy")
    if strategy.get("type") == "OTA" and "maxUnavailable" in strategy:
        out.append(
            doc.diagnostic(
                ["spec", "strategy", "maxUnavailable"],
                "maxUnavailable is not used by OTA (nodes upgrade themselves)",
                hint="remove it or use AdvancedRollingUpdate",
                rule="max-unavailable",
                severity=WARNING,
            )
        )
    prepull = dig(doc.data, "spec", "prePull")
    if isinstance(prepull, dict):
        out.extend(check_failure_tolerate(doc, prepull, ["spec", "prePull"]))
        if strategy.get("type") == "RollingUpdate":
            out.append(
                doc.diagnostic(
                    ["spec", "prePull"],
                    "prePull needs strategy AdvancedRollingUpdate or OTA: with RollingUpdate "
                    "the DaemonSet controller replaces pods at once, before any pre-pull",
                    hint="use strategy.type: AdvancedRollingUpdate, or remove prePull",
                    rule="prepull-strategy",
                    key=True,
                )
            )
    out.extend(_check_containers(doc, ["spec", "template", "spec"]))
    workload = dig(doc.data, "metadata", "name")
    containers = [
        name
        for c in list_at(doc.data, "spec", "template", "spec", "containers")
        if isinstance(name := dig(c, "name"), str)
    ]
    seen: set[str] = set()
    for i, group in enumerate(list_at(doc.data, "spec", "groups")):
        out.extend(_check_group(doc, i, group, workload=workload, containers=containers, seen=seen))
    return out


def _check_group(
    doc: Document,
    i: int,
    group: Any,
    *,
    workload: Any,
    containers: list[str],
    seen: set[str],
) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    base: list[str | int] = ["spec", "groups", i]
    name = dig(group, "name")
    if isinstance(name, str):
        if name in seen:
            out.append(
                doc.diagnostic(
                    [*base, "name"],
                    f"group {name!r} is listed twice",
                    hint="keep one entry per group",
                    rule="group-duplicate",
                )
            )
        seen.add(name)
        if isinstance(workload, str) and len(f"{workload}-{name}") > MAX_GENERATED_NAME:
            out.append(
                doc.diagnostic(
                    [*base, "name"],
                    f"generated DaemonSet name {workload}-{name!s} is "
                    f"{len(workload) + len(name) + 1} characters, over {MAX_GENERATED_NAME}",
                    hint="shorten the workload or the group name",
                    rule="generated-name",
                )
            )
    image = dig(group, "image")
    if isinstance(image, str):
        out.extend(_check_image(doc, [*base, "image"], image))
    for cname, override in dict_at(group, "containers").items():
        if cname not in containers:
            close = difflib.get_close_matches(cname, containers, n=1)
            out.append(
                doc.diagnostic(
                    [*base, "containers", cname],
                    f"no container named {cname!r} in spec.template",
                    hint=f"did you mean {close[0]!r}?"
                    if close
                    else f"containers: {', '.join(containers)}",
                    rule="group-container",
                    key=True,
                )
            )
        image = dig(override, "image")
        if isinstance(image, str):
            out.extend(_check_image(doc, [*base, "containers", cname, "image"], image))
    return out
