"""gitops-edge against KubeEdge's optional admission webhook for v1alpha1 NodeUpgradeJob
(issue 19 item 3).

Upstream (`cloud/pkg/admissioncontroller/admit_nodeupgradejob.go` with
`pkg/util/validation`): on create and update the object must decode into the Go type; the version
must match `^v\\d+\\.\\d+\\.\\d+(-[a-zA-Z0-9_.]+(?:-[a-zA-Z0-9_.]+)*)?$`; an image, when given,
must match its image-repository pattern (a `/`, then a tag or a sha256 digest, not both); exactly
one of a non-empty nodeNames or a (non-nil) labelSelector; an update must not change the spec.
The mutating half sets concurrency 1 and timeoutSeconds 300 when absent.

The table below gives, for each case, the webhook's verdict (also computed from those rules
transcribed here, so the table cannot drift from them) and gitops-edge's. Nothing the webhook
refuses is accepted; whatever it accepts and gitops-edge refuses names a row of the README's
deviation table, which says why.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from planner_fixtures import fleet, observed
from repo_config import write_config

from gitops_edge.cluster.k8s_objects import node_job_from
from gitops_edge.model import nodejobs as nj
from gitops_edge.model.plan import JobPlan
from gitops_edge.planner import plan
from gitops_edge.reconciler.reconcile import load_desired
from gitops_edge.repository.diagnostics import has_errors
from gitops_edge.repository.validation import validate_repository

README = Path(__file__).resolve().parent.parent / "README.md"
DEVIATIONS_HEADER = "| KubeEdge (webhook, CRDs, controllers) | gitops-edge | why |"
# pkg/util/validation (Go RE2: \d is ASCII, `$` is the end of the text): fullmatch.
WEBHOOK_VERSION = re.compile(r"v[0-9]+\.[0-9]+\.[0-9]+(-[a-zA-Z0-9_.]+(?:-[a-zA-Z0-9_.]+)*)?")
WEBHOOK_IMAGE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9._:-]*/[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*"
    r"(@sha256:[A-Fa-f0-9]{64}|:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?"
)
DIGEST = "sha256:" + "0123456789abcdef" * 4
DROP = object()  # remove the field from the base spec


def _decodes(spec: dict[str, Any]) -> bool:
    """Whether the spec decodes into v1alpha1.NodeUpgradeJobSpec (the webhook's first step)."""
    ints = {"concurrency": (-(2**31), 2**31 - 1), "timeoutSeconds": (0, 2**32 - 1)}
    for key, (low, high) in ints.items():
        value = spec.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            return False
    strings = ("version", "image", "failureTolerate")
    if any(not isinstance(spec.get(key, ""), str) for key in strings):
        return False
    names = spec.get("nodeNames") or []
    return isinstance(names, list) and all(isinstance(n, str) for n in names)


def webhook_admits(spec: dict[str, Any]) -> bool:
    """admitNodeUpgradeJob on CREATE, as transcribed from upstream."""
    if not _decodes(spec):
        return False
    if not WEBHOOK_VERSION.fullmatch(spec.get("version", "")):
        return False
    image = spec.get("image", "")
    if image and not WEBHOOK_IMAGE.fullmatch(image):
        return False
    names, selector = spec.get("nodeNames") or [], spec.get("labelSelector")
    return bool(names) != (selector is not None)


@dataclass(frozen=True)
class Case:
    id: str
    spec: dict[str, Any]
    webhook: bool  # upstream admits it
    ours: bool  # gitops-edge validates it (warnings allowed)
    deviation: str = ""  # the README deviation row that says why (webhook yes, ours no)
    cloud: str = ""  # spec.cloudVersion of gitops-edge.yaml
    extra: dict[str, Any] = field(default_factory=dict)  # top-level fields beside spec


CASES = [
    # ── both accept ──
    Case("plain", {}, True, True),
    Case("selector", {"nodeNames": DROP, "labelSelector": {"matchLabels": {"a": "b"}}}, True, True),
    Case("empty-selector-every-node", {"nodeNames": DROP, "labelSelector": {}}, True, True),
    Case(
        "empty-names-and-selector",
        {"nodeNames": [], "labelSelector": {"matchLabels": {}}},
        True,
        True,
    ),
    Case("prerelease", {"version": "v1.20.0-rc.1"}, True, True),
    Case("multi-part-suffix", {"version": "v1.20.0-beta.0-2"}, True, True),
    Case("no-image", {"image": DROP}, True, True),
    Case("image-tag", {"image": "docker.io/kubeedge/installation-package:v1.20.0"}, True, True),
    Case("image-port", {"image": "registry.example.com:5000/kubeedge/pkg"}, True, True),
    Case("image-digest", {"image": f"kubeedge/installation-package@{DIGEST}"}, True, True),
    Case("defaults-absent", {"concurrency": DROP, "timeoutSeconds": DROP}, True, True),
    Case("confirmation", {"requireConfirmation": True}, True, True),
    Case("digest-gatter", {"imageDigestGatter": {"value": DIGEST}}, True, True),
    Case("skew-within-2", {"version": "v1.22.0"}, True, True, cloud="v1.20.0"),
    # ── both refuse ──
    Case("version-no-v", {"version": "1.20.0"}, False, False),
    Case("version-two-parts", {"version": "v1.20"}, False, False),
    Case("version-build", {"version": "v1.20.0+build.1"}, False, False),
    Case("version-empty-suffix", {"version": "v1.20.0-"}, False, False),
    Case("version-newline", {"version": "v1.20.0\n"}, False, False),
    Case("version-shell", {"version": "v1.20.0;reboot"}, False, False),
    Case("version-unicode-digit", {"version": "v1.2٠.0"}, False, False),
    Case("version-missing", {"version": DROP}, False, False),
    Case("image-no-slash", {"image": "invalid-image"}, False, False),
    Case("image-tag-and-digest", {"image": f"kubeedge/pkg:v1@{DIGEST}"}, False, False),
    Case("image-unicode-tag", {"image": "kubeedge/pkg:vé"}, False, False),
    Case("image-empty-tag", {"image": "kubeedge/pkg:"}, False, False),
    Case("image-leading-dash", {"image": "-kubeedge/pkg"}, False, False),
    Case("no-targets", {"nodeNames": DROP}, False, False),
    Case("empty-names-only", {"nodeNames": []}, False, False),
    Case("both-targets", {"labelSelector": {"matchLabels": {"a": "b"}}}, False, False),
    Case("names-and-empty-selector", {"labelSelector": {}}, False, False),
    Case("concurrency-text", {"concurrency": "2"}, False, False),
    Case("timeout-negative", {"timeoutSeconds": -1}, False, False),
    # ── the webhook accepts, gitops-edge refuses: a documented deviation each ──
    Case("skew", {"version": "v1.23.0"}, True, False, "version skew", cloud="v1.20.0"),
    Case("concurrency-0", {"concurrency": 0}, True, False, "`concurrency: 0`"),
    Case("timeout-0", {"timeoutSeconds": 0}, True, False, "`timeoutSeconds: 0`"),
    Case("check-item", {"checkItems": ["gpu"]}, True, False, "`checkItems`"),
    Case("tolerate-text", {"failureTolerate": "most"}, True, False, "`failureTolerate`"),
    Case("tolerate-range", {"failureTolerate": "1.5"}, True, False, "`failureTolerate`"),
    Case("duplicate-node", {"nodeNames": ["a", "a"]}, True, False, "`nodeNames`"),
    Case("node-name-syntax", {"nodeNames": ["Edge_1"]}, True, False, "`nodeNames`"),
    Case("unknown-field", {"nodes": ["a"]}, True, False, "unknown fields"),
    Case(
        "selector-operator",
        {
            "nodeNames": DROP,
            "labelSelector": {"matchExpressions": [{"key": "a", "operator": "in"}]},
        },
        True,
        False,
        "label selector syntax",
    ),
    Case(
        "image-digest-upper",
        {"image": "kubeedge/pkg@sha256:" + "0123456789ABCDEF" * 4},
        True,
        False,
        "image references",
    ),
    Case("image-dots", {"image": "kube..edge/pkg"}, True, False, "image references"),
    Case("status", {}, True, False, "`status`", extra={"status": {"state": "Completed"}}),
]


def job(case: Case) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "version": "v1.20.0",
        "image": "kubeedge/installation-package",
        "nodeNames": ["edge-1"],
        "concurrency": 2,
        "timeoutSeconds": 600,
    }
    for key, value in case.spec.items():
        if value is DROP:
            spec.pop(key, None)
        else:
            spec[key] = value
    return {
        "apiVersion": nj.api_version(nj.V1ALPHA1),
        "kind": nj.UPGRADE,
        "metadata": {"name": "upgrade"},
        "spec": spec,
        **case.extra,
    }


def gitops_edge_accepts(tmp_path: Path, case: Case) -> bool:
    config = write_config(tmp_path)
    if case.cloud:
        config.write_text(
            config.read_text().replace("spec: {}", f"spec: {{cloudVersion: {case.cloud}}}")
        )
    (tmp_path / "job.yaml").write_text(json.dumps(job(case)))
    return not has_errors(validate_repository(tmp_path).diagnostics)


def deviation_table() -> str:
    text = README.read_text()
    start = text.index(DEVIATIONS_HEADER)
    rows = []
    for line in text[start:].splitlines():
        if not line.startswith("|"):
            break
        rows.append(line)
    return "\n".join(rows)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_upstream_webhook_refusals_are_refused_and_its_admissions_admitted_or_documented(
    tmp_path: Path, case: Case
) -> None:
    assert webhook_admits(job(case)["spec"]) is case.webhook, "the table misstates upstream"
    assert gitops_edge_accepts(tmp_path, case) is case.ours
    if case.webhook and not case.ours:
        assert case.deviation and case.deviation in deviation_table()
    else:
        assert not case.deviation


def test_upstream_webhook_defaults_concurrency_1_and_timeout_300_as_gitops_edge_reads_them() -> (
    None
):
    spec = job(Case("defaults", {"concurrency": DROP, "timeoutSeconds": DROP}, True, True))
    read = nj.job_spec(spec)
    assert (read.concurrency, read.timeout_seconds) == (1, 300)


def planned(tmp_path: Path, case: Case, *, mutate: bool, respec: dict[str, Any]) -> JobPlan:
    """The job of `case` created from the repository (as the webhook would store it, with its
    defaults when `mutate`), then planned again from a repository whose spec has `respec`."""
    write_config(tmp_path)
    (tmp_path / "job.yaml").write_text(json.dumps(job(case)))
    (created,) = load_desired(tmp_path, revision="r1").jobs
    stored = json.loads(created.manifest_json)
    if mutate:  # mutatingNodeUpgradeJob: add what is absent
        stored["spec"].setdefault("concurrency", 1)
        stored["spec"].setdefault("timeoutSeconds", 300)
    changed = replace(case, spec={**case.spec, **respec})
    (tmp_path / "job.yaml").write_text(json.dumps(job(changed)))
    desired = load_desired(tmp_path, revision="r2")
    nodes, _ = fleet(1)
    observed_ = replace(
        observed(nodes, ()), jobs=(node_job_from(stored),), job_versions=(nj.V1ALPHA1,)
    )
    (plan_,) = plan(desired, observed_).jobs
    return plan_


def test_upstream_webhook_defaults_do_not_make_a_created_job_look_changed(tmp_path: Path) -> None:
    case = Case("defaults", {"concurrency": DROP, "timeoutSeconds": DROP}, True, True)
    got = planned(tmp_path, case, mutate=True, respec={})
    assert (got.actions, got.notes, got.errors) == ((), (), ())


def test_upstream_webhook_refuses_a_spec_change_and_gitops_edge_never_sends_one(
    tmp_path: Path,
) -> None:
    got = planned(tmp_path, Case("plain", {}, True, True), mutate=False, respec={"concurrency": 3})
    assert got.actions == ()
    assert len(got.notes) == 1 and "jobs are immutable" in got.notes[0]
