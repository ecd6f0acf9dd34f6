"""Validation parity with KubeEdge's node job CRDs (issue 19 items 1 and 2).

The known fields of every served version are derived from the current upstream CRDs
(`tests/upstream/kubeedge-crds/`, each serving v1alpha1 and v1alpha2) and compared with the
field table of gitops-edge's schemas (`schemas/*.schema.json`, which the validator runs), so a
field KubeEdge adds, or one the schemas invent, fails here. Then the fields the issue names are
accepted in a repository, and an empty `labelSelector: {}` (every node, upstream) is accepted
with a warning.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from repo_config import write_config
from ruamel.yaml import YAML

from gitops_edge.repository.diagnostics import WARNING, Diagnostic
from gitops_edge.repository.validation import validate_repository

ROOT = Path(__file__).resolve().parent.parent
CRDS = Path(__file__).resolve().parent / "upstream" / "kubeedge-crds"
KINDS = {"NodeUpgradeJob": "nodeupgradejob", "ImagePrePullJob": "imageprepulljob"}
VERSIONS = ("v1alpha1", "v1alpha2")


def crd_fields(kind: str, version: str) -> dict[str, str]:
    """`spec` field path → type, as the upstream CRD's schema for `version` defines it."""
    path = CRDS / f"operations_v1alpha2_{KINDS[kind]}.yaml"
    docs = [d for d in YAML(typ="safe").load_all(path.read_text()) if d]
    (crd,) = docs
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version and v["served"]]
    return _crd_paths(served["schema"]["openAPIV3Schema"]["properties"]["spec"], "")


def _crd_paths(node: dict[str, Any], prefix: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, sub in (node.get("properties") or {}).items():
        path = f"{prefix}.{name}" if prefix else name
        out[path] = sub.get("type", "")
        out.update(_crd_paths(sub, path))
        if sub.get("type") == "array" and isinstance(sub.get("items"), dict):
            out.update(_crd_paths(sub["items"], f"{path}[]"))
    return out


def schema_fields(kind: str, version: str) -> dict[str, str]:
    """`spec` field path → type, as gitops-edge's schema accepts them ($refs followed)."""
    schema = json.loads(
        (
            ROOT / "schemas" / f"{KINDS[kind]}.operations.kubeedge.io.{version}.schema.json"
        ).read_text()
    )
    defs = schema.get("$defs", {})

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = defs[node["$ref"].removeprefix("#/$defs/")]
        return node

    def walk(node: dict[str, Any], prefix: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, sub in (resolve(node).get("properties") or {}).items():
            sub = resolve(sub)
            path = f"{prefix}.{name}" if prefix else name
            kind_ = sub.get("type") or ("string" if "enum" in sub else "")
            out[path] = kind_
            out.update(walk(sub, path))
            if kind_ == "array" and isinstance(sub.get("items"), dict):
                out.update(walk(sub["items"], f"{path}[]"))
        return out

    return walk(schema["properties"]["spec"], "")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_upstream_crds_define_exactly_the_fields_gitops_edge_accepts(
    kind: str, version: str
) -> None:
    assert schema_fields(kind, version) == crd_fields(kind, version)


def diagnose(tmp_path: Path, job: dict[str, Any]) -> list[Diagnostic]:
    write_config(tmp_path)
    (tmp_path / "job.yaml").write_text(json.dumps(job))
    return list(validate_repository(tmp_path).diagnostics)


def upgrade(version: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"operations.kubeedge.io/{version}",
        "kind": "NodeUpgradeJob",
        "metadata": {"name": "upgrade"},
        "spec": {
            "version": "v1.20.0",
            "image": "kubeedge/installation-package",
            "nodeNames": ["edge-1"],
            **spec,
        },
    }


def prepull(version: str, **template: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"operations.kubeedge.io/{version}",
        "kind": "ImagePrePullJob",
        "metadata": {"name": "pull"},
        "spec": {"imagePrePullTemplate": {"images": ["docker.io/library/nginx:1.25"], **template}},
    }


def test_upstream_v1alpha1_crd_accepts_require_confirmation(tmp_path: Path) -> None:
    assert diagnose(tmp_path, upgrade("v1alpha1", requireConfirmation=True)) == []


def test_upstream_v1alpha1_crd_accepts_image_digest_gatter(tmp_path: Path) -> None:
    gatter = {"value": "sha256:" + "0" * 64, "registryAPI": {"host": "r.example", "token": "t"}}
    assert diagnose(tmp_path, upgrade("v1alpha1", imageDigestGatter=gatter)) == []


def test_upstream_v1alpha2_crd_accepts_image_digest_gatter_per_architecture(
    tmp_path: Path,
) -> None:
    gatter = {"amd64": "sha256:" + "a" * 64, "arm64": "sha256:" + "b" * 64}
    assert diagnose(tmp_path, upgrade("v1alpha2", imageDigestGatter=gatter)) == []


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "job",
    [
        lambda v: upgrade(v, labelSelector={}),
        lambda v: prepull(v, labelSelector={}),
        lambda v: prepull(v, labelSelector={"matchLabels": {}, "matchExpressions": []}),
    ],
    ids=["upgrade", "prepull", "prepull-empty-lists"],
)
def test_upstream_empty_label_selector_selects_every_node_accepted_with_a_warning(
    tmp_path: Path, version: str, job: Any
) -> None:
    doc = job(version)
    spec = doc["spec"].get("imagePrePullTemplate") or doc["spec"]
    spec.pop("nodeNames", None)
    found = diagnose(tmp_path, doc)
    assert [d.severity for d in found] == [WARNING], found
    (warning,) = found
    assert warning.rule == "job-selects-every-node"
    assert "selects every node" in warning.message
    assert warning.hint
