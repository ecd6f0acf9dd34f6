"""Semantic rules for KubeEdge's ConfigUpdateJob (`operations.kubeedge.io/v1alpha2` only): the
same target and failureTolerate rules as the other node jobs (`rules_jobs`), and a pin of the
repository's node jobs to v1alpha1 (which has no ConfigUpdateJob). The shape of `updateFields`
(dotted edgecore paths to string values) is the schema's.

Pure functions from a `Document` to diagnostics. No side effects.
"""

from __future__ import annotations

from gitops_edge.model.nodejobs import GROUP, KIND_VERSIONS
from gitops_edge.repository.diagnostics import Diagnostic
from gitops_edge.repository.docpath import dict_at
from gitops_edge.repository.rules_jobs import check_failure_tolerate, check_targets
from gitops_edge.repository.yamldoc import Document


def check_config_update_job(doc: Document, *, pinned: str) -> list[Diagnostic]:
    """`pinned` is spec.jobs.apiVersion of gitops-edge.yaml (auto, v1alpha1 or v1alpha2)."""
    spec = dict_at(doc.data, "spec")
    out = [*check_targets(doc, spec, ["spec"]), *check_failure_tolerate(doc, spec, ["spec"])]
    versions = KIND_VERSIONS["ConfigUpdateJob"]
    if pinned not in ("", "auto", *versions):
        out.append(
            doc.diagnostic(
                ["apiVersion"],
                f"this repository pins node jobs to {GROUP}/{pinned} (spec.jobs.apiVersion in "
                f"gitops-edge.yaml), which has no ConfigUpdateJob: it exists in "
                f"{', '.join(versions)} only",
                hint="set spec.jobs.apiVersion: v1alpha2 (KubeEdge >= 1.21) or auto in "
                "gitops-edge.yaml, or remove this job",
                rule="job-api-version",
                key=True,
            )
        )
    return out
