"""Semantic rules for KubeEdge node jobs (DESIGN §4): target selection (an empty labelSelector
selects every node: a warning), failureTolerate, version skew against the cloud version, image
references (the distribution grammar, and KubeEdge's own image rule as its webhook applies it).

Pure functions from a `Document` to diagnostics. No side effects.
"""

from __future__ import annotations

import re
from typing import Any

from gitops_edge.model.imageref import parse_image
from gitops_edge.model.kinds import OPERATIONS_V1ALPHA2
from gitops_edge.model.nodejobs import GROUP as JOBS_GROUP
from gitops_edge.repository.diagnostics import WARNING, Diagnostic
from gitops_edge.repository.docpath import dict_at, list_at
from gitops_edge.repository.yamldoc import Document

VERSION_RE = re.compile(r"v([0-9]+)\.([0-9]+)\.([0-9]+)(-[A-Za-z0-9_.]+)*")  # fullmatch only
# KubeEdge's image-repository rule (pkg/util/validation, which its NodeUpgradeJob admission
# webhook applies): a `/`, then a tag or a sha256 digest, not both; ASCII only. fullmatch only.
KUBEEDGE_IMAGE_RE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9._:-]*/[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*"
    r"(@sha256:[A-Fa-f0-9]{64}|:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?"
)
MAX_MINOR_SKEW = 2


def check_job_api_version(doc: Document, *, pinned: str) -> list[Diagnostic]:
    """With spec.jobs.apiVersion pinned in gitops-edge.yaml, every job is written in it (jobs
    are created in the version their file names, never converted)."""
    if pinned in ("", "auto") or doc.data.get("apiVersion") == f"{JOBS_GROUP}/{pinned}":
        return []
    return [
        doc.diagnostic(
            ["apiVersion"],
            f"this repository pins node jobs to {JOBS_GROUP}/{pinned} (spec.jobs.apiVersion in "
            f"gitops-edge.yaml) but this job is written as {doc.data.get('apiVersion')}",
            hint=f"write apiVersion: {JOBS_GROUP}/{pinned} (check the fields against that "
            "version), or set spec.jobs.apiVersion: auto",
            rule="job-api-version",
            key=True,
        )
    ]


def check_node_upgrade_job(doc: Document, *, cloud_version: str | None) -> list[Diagnostic]:
    spec = dict_at(doc.data, "spec")
    out = _check_targets(doc, spec, ["spec"])
    out.extend(check_failure_tolerate(doc, spec, ["spec"]))
    version = spec.get("version")
    if isinstance(version, str) and cloud_version:
        out.extend(_check_skew(doc, version, cloud_version))
    image = spec.get("image")
    v2 = doc.data.get("apiVersion") == OPERATIONS_V1ALPHA2
    if isinstance(image, str):
        out.extend(_check_upgrade_image(doc, image, untagged=v2))
    return out


def check_image_prepull_job(doc: Document) -> list[Diagnostic]:
    base: list[str | int] = ["spec", "imagePrePullTemplate"]
    template = dict_at(doc.data, *base)
    out = _check_targets(doc, template, base)
    out.extend(check_failure_tolerate(doc, template, base))
    for i, image in enumerate(list_at(template, "images")):
        if isinstance(image, str):
            try:
                parse_image(image)
            except ValueError as exc:
                out.append(
                    doc.diagnostic(
                        [*base, "images", i],
                        str(exc),
                        hint="e.g. docker.io/library/nginx:1.25",
                        rule="image",
                    )
                )
    return out


def _check_targets(doc: Document, spec: dict[str, Any], base: list[str | int]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    has_names = bool(spec.get("nodeNames"))
    has_selector = spec.get("labelSelector") is not None
    if has_names and has_selector:
        out.append(
            doc.diagnostic(
                [*base, "labelSelector"],
                "set exactly one of nodeNames or labelSelector, not both",
                hint="remove labelSelector or nodeNames",
                rule="job-targets",
                key=True,
            )
        )
    elif not has_names and not has_selector:
        out.append(
            doc.diagnostic(
                base,
                "no target nodes: set exactly one of nodeNames or labelSelector",
                hint="add nodeNames: [node-a, node-b] or labelSelector: {matchLabels: {...}}",
                rule="job-targets",
                key=True,
            )
        )
    selector = spec.get("labelSelector")
    if not has_names and isinstance(selector, dict) and selects_every_node(selector):
        out.append(
            doc.diagnostic(
                [*base, "labelSelector"],
                "an empty labelSelector selects every node of the cluster (as KubeEdge reads "
                "it); `gitops-edge plan` says how many nodes that is",
                hint="if that is not what you mean, list the nodes with nodeNames or narrow "
                "the selector with matchLabels or matchExpressions",
                rule="job-selects-every-node",
                severity=WARNING,
                key=True,
            )
        )
    seen: set[str] = set()
    for i, name in enumerate(list_at(spec, "nodeNames")):
        if isinstance(name, str):
            if name in seen:
                out.append(
                    doc.diagnostic(
                        [*base, "nodeNames", i],
                        f"node {name!r} is listed twice",
                        hint="list every node once",
                        rule="job-targets",
                    )
                )
            seen.add(name)
    return out


def selects_every_node(selector: dict[str, Any]) -> bool:
    """A label selector with no requirement (`{}`, or empty matchLabels and matchExpressions):
    Kubernetes' LabelSelectorAsSelector makes it match everything."""
    return not selector.get("matchLabels") and not selector.get("matchExpressions")


def check_failure_tolerate(
    doc: Document, spec: dict[str, Any], base: list[str | int]
) -> list[Diagnostic]:
    value = spec.get("failureTolerate")
    if not isinstance(value, str) or value == "":
        return []  # absent/empty: the default applies; wrong types are the schema's
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if 0.0 <= number <= 1.0:
        return []
    return [
        doc.diagnostic(
            [*base, "failureTolerate"],
            f"failureTolerate {value!r} is not a number between 0 and 1",
            hint='a quoted fraction, e.g. "0.1" tolerates 10% of nodes failing',
            rule="failure-tolerate",
        )
    ]


def _check_skew(doc: Document, version: str, cloud_version: str) -> list[Diagnostic]:
    target, cloud = VERSION_RE.fullmatch(version), VERSION_RE.fullmatch(cloud_version)
    if target is None or cloud is None:
        return []  # the schema reports a malformed version
    t_major, t_minor = int(target.group(1)), int(target.group(2))
    c_major, c_minor = int(cloud.group(1)), int(cloud.group(2))
    if t_major == c_major and abs(t_minor - c_minor) <= MAX_MINOR_SKEW:
        return []
    return [
        doc.diagnostic(
            ["spec", "version"],
            f"version {version} is more than {MAX_MINOR_SKEW} minor versions from the cloud "
            f"version {cloud_version} (KubeEdge supports a skew of at most {MAX_MINOR_SKEW})",
            hint=f"upgrade in steps of at most {MAX_MINOR_SKEW} minor versions, or update "
            "spec.cloudVersion in gitops-edge.yaml after upgrading the cloud side",
            rule="version-skew",
        )
    ]


def _check_upgrade_image(doc: Document, image: str, *, untagged: bool) -> list[Diagnostic]:
    path: list[str | int] = ["spec", "image"]
    try:
        ref = parse_image(image)
    except ValueError as exc:
        return [
            doc.diagnostic(path, str(exc), hint="e.g. kubeedge/installation-package", rule="image")
        ]
    if "/" not in ref.name:
        return [
            doc.diagnostic(
                path,
                f"image {image!r} must name a repository with a '/'",
                hint="e.g. kubeedge/installation-package",
                rule="image",
            )
        ]
    if not KUBEEDGE_IMAGE_RE.fullmatch(image):
        return [
            doc.diagnostic(
                path,
                f"image {image!r} is refused by KubeEdge's admission webhook: it takes a "
                "repository with a '/', then a tag or a sha256 digest (not both), in ASCII "
                "letters, digits, '.', '_' and '-'",
                hint=f"write image: {ref.name} (the tag is taken from spec.version)",
                rule="image",
            )
        ]
    if untagged and (ref.tag or ref.digest):
        return [
            doc.diagnostic(
                path,
                f"image {image!r} must not carry a tag or digest in v1alpha2: "
                "the tag is taken from spec.version",
                hint=f"write image: {ref.name}",
                rule="image",
            )
        ]
    return []


check_targets = _check_targets  # shared with `rules_config_update`
