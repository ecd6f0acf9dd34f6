"""KubeEdge node jobs (NodeUpgradeJob, ImagePrePullJob; ConfigUpdateJob, v1alpha2 only;
DESIGN §4): the API's names, each version's defaults and status vocabulary, and the two
failure-tolerance formulas.

One place for what differs between `operations.kubeedge.io/v1alpha1` and `v1alpha2`, shared by
the simulated cluster (which executes jobs), the observed model (which reads their status) and
the planner. Pure functions and constants. No side effects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from gitops_edge.model.desired import LabelSelector
from gitops_edge.model.kinds import JOB_KINDS

GROUP = "operations.kubeedge.io"
V1ALPHA1, V1ALPHA2 = "v1alpha1", "v1alpha2"
VERSIONS = (V1ALPHA1, V1ALPHA2)
UPGRADE, PREPULL, CONFIG_UPDATE = JOB_KINDS
PLURALS = {
    UPGRADE: "nodeupgradejobs",
    PREPULL: "imageprepulljobs",
    CONFIG_UPDATE: "configupdatejobs",
}
# The versions that define each kind (ConfigUpdateJob exists in v1alpha2 only).
KIND_VERSIONS = {UPGRADE: VERSIONS, PREPULL: VERSIONS, CONFIG_UPDATE: (V1ALPHA2,)}
CHECK_ITEMS = ("cpu", "mem", "disk")
DEFAULT_TIMEOUT = 300  # v1alpha1 only (0 too); v1alpha2 has no default: no timeout at all
UPGRADING_LABEL = "nodeupgradejob.operations.kubeedge.io/status"  # v1alpha1: upgrade under way
DEFAULT_UPGRADE_IMAGE = "kubeedge/installation-package"
EDGE_ROLE_LABEL = "node-role.kubernetes.io/edge"
# The version a job was created in, so its status is always read back in that version.
API_VERSION_ANNOTATION = "gitops-edge.io/job-api-version"
# Pre-pulls gitops-edge creates before a rollout (not written in the repository).
PREPULL_FOR_LABEL = "gitops-edge.io/prepull-before-rollout"
PREPULL_DAEMONSET_ANNOTATION = "gitops-edge.io/prepull-daemonset"
PREPULL_REVISION_ANNOTATION = "gitops-edge.io/prepull-revision"

# Normalised phases (v1alpha2's vocabulary, used for both versions in reports).
JOB_INIT, JOB_IN_PROGRESS, JOB_COMPLETED, JOB_FAILURE = "Init", "InProgress", "Completed", "Failure"
NODE_PENDING, NODE_IN_PROGRESS = "Pending", "InProgress"
NODE_SUCCESSFUL, NODE_FAILURE, NODE_UNKNOWN = "Successful", "Failure", "Unknown"
NODE_FINAL = (NODE_SUCCESSFUL, NODE_FAILURE, NODE_UNKNOWN)

# v1alpha1 (fsm) states of a job and of each node.
V1_INIT, V1_CHECKING, V1_SUCCESSFUL, V1_FAILED = "Init", "Checking", "Successful", "Failed"
V1_UPGRADING, V1_PULLING = "Upgrading", "Pulling"


def api_version(version: str) -> str:
    return f"{GROUP}/{version}"


def version_of(api_version_: str) -> str:
    """`operations.kubeedge.io/v1alpha2` → `v1alpha2` ("" for any other group)."""
    group, _, version = api_version_.partition("/")
    return version if group == GROUP else ""


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A node job's spec with its version's defaults applied."""

    kind: str
    version: str
    node_names: tuple[str, ...]
    selector: LabelSelector | None
    concurrency: int
    timeout_seconds: int | None  # None: never times out (v1alpha2 without timeoutSeconds)
    failure_tolerate: float
    check_items: tuple[str, ...]
    retry_times: int = 0  # pre-pulls only
    images: tuple[str, ...] = ()  # pre-pulls only
    target_version: str = ""  # upgrades only
    require_confirmation: bool = False  # v1alpha2 upgrades only
    update_fields: tuple[tuple[str, str], ...] = ()  # config updates only, sorted by key


def job_spec(manifest: Mapping[str, Any]) -> JobSpec:
    """The spec of a (validated) node job manifest, defaults applied for its version:
    v1alpha1 — concurrency 1, timeout 300, failureTolerate 0.1; v1alpha2 — concurrency 1, an
    empty failureTolerate means 0 (every node must succeed), and no timeoutSeconds (or 0) means
    no timeout: the controller-manager's CheckTimeout skips a job without a positive one. A
    ConfigUpdateJob (v1alpha2) has its fields directly under spec, like a NodeUpgradeJob, with
    v1alpha2's defaults."""
    kind = str(manifest.get("kind", ""))
    version = version_of(str(manifest.get("apiVersion", "")))
    spec = manifest.get("spec") or {}
    body = (spec.get("imagePrePullTemplate") or {}) if kind == PREPULL else spec
    tolerate_text = body.get("failureTolerate")
    if tolerate_text in (None, ""):
        tolerate = 0.1 if version == V1ALPHA1 else 0.0
    else:
        tolerate = float(str(tolerate_text))
    return JobSpec(
        kind=kind,
        version=version,
        node_names=tuple(str(n) for n in body.get("nodeNames") or ()),
        selector=LabelSelector.from_raw(body["labelSelector"])
        if isinstance(body.get("labelSelector"), dict)
        else None,
        concurrency=max(1, int(body.get("concurrency") or 1)),
        timeout_seconds=int(body.get("timeoutSeconds") or 0) or _default_timeout(version),
        failure_tolerate=tolerate,
        check_items=tuple(str(c) for c in body.get("checkItems") or ()),
        retry_times=int(body.get("retryTimes") or 0),
        images=tuple(str(i) for i in body.get("images") or ()),
        target_version=str(spec.get("version") or "") if kind == UPGRADE else "",
        require_confirmation=bool(spec.get("requireConfirmation")) and version == V1ALPHA2,
        update_fields=tuple(
            sorted((str(k), str(v)) for k, v in (spec.get("updateFields") or {}).items())
        )
        if kind == CONFIG_UPDATE
        else (),
    )


def _default_timeout(version: str) -> int | None:
    return DEFAULT_TIMEOUT if version == V1ALPHA1 else None


def job_final(*, kind: str, version: str, phase: str) -> bool:
    """Whether a job in `phase` is done for good. Completed always is. A v1alpha2
    NodeUpgradeJob in Failure is not (the controller-manager's IsFinalPhase is Completed only:
    node results that arrive late, a timed-out node's Upgrade or a RollBack, are still counted
    and can turn it Completed); an ImagePrePullJob's Failure is final, and so is v1alpha1's
    Failed (its state machine has no way out of it)."""
    if phase == JOB_COMPLETED:
        return True
    if phase != JOB_FAILURE:
        return False
    return not (kind == UPGRADE and version == V1ALPHA2)


def _version_tuple(text: str) -> tuple[int, int, int] | None:
    """`v1.17.0` → (1, 17, 0), as Kubernetes' version.ParseGeneric reads it (at least
    major.minor; anything after the numbers is ignored); None when it does not parse."""
    match = re.match(r"v?([0-9]+)\.([0-9]+)(?:\.([0-9]+))?", text.strip())
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3] or 0)


def v1alpha1_upgrade_skip(
    *, name: str, labels: Mapping[str, str], kubelet_version: str, target: str
) -> str:
    """Why the v1alpha1 NodeUpgradeJob controller leaves a node out ("" if it does not; its
    needUpgrade and FilterVersion): the node carries the upgrade-in-progress label, or its
    version (`{k8s}-kubeedge-{edgecore}`) does not parse or is already at or past `target`
    (major.minor.patch compared)."""
    if UPGRADING_LABEL in labels:
        return f"node {name} is being upgraded (label {UPGRADING_LABEL})"
    parts = kubelet_version.split("-")
    have = _version_tuple(parts[2]) if len(parts) >= 3 else None
    want = _version_tuple(target)
    if have is None or want is None:
        return f"node {name}: version {kubelet_version!r} is not {{k8s}}-kubeedge-{{edgecore}}"
    if have >= want:
        return f"node {name} is already at {parts[2]}, the target is {target}"
    return ""


def v1alpha1_tolerance_exceeded(*, failed: int, total: int, tolerate: float) -> bool:
    """v1alpha1 stops a job once failed ≥ total × failureTolerate (cloudcore's executor: the
    job stops dispatching, lets running nodes finish, then fails). Deviation: upstream also
    stops on the first finished node when failureTolerate is 0 and nothing failed (0 < 0 is
    false); here a job only stops once a node failed."""
    return failed > 0 and failed >= total * tolerate


def v1alpha2_phase(*, total: int, processing: int, failed: int, tolerate: float) -> str:
    """v1alpha2's job phase from its node tasks (controller-manager's CalculatePhaseWithCounts):
    InProgress while any node is Pending or InProgress; then Failure when failed/total, rounded
    to two decimals, is greater than failureTolerate; else Completed. Unknown (timed out) node
    tasks count as failed. No nodes at all is a Failure."""
    if total == 0:
        return JOB_FAILURE
    if processing > 0:
        return JOB_IN_PROGRESS
    if failed > 0:
        try:
            ratio = (Decimal(failed) / Decimal(total)).quantize(
                Decimal("0.01"), rounding=ROUND_HALF_UP
            )
            if ratio > Decimal(repr(tolerate)):
                return JOB_FAILURE
        except InvalidOperation:  # pragma: no cover - total > 0 and finite inputs
            return JOB_FAILURE
    return JOB_COMPLETED


def v1alpha1_node_phase(state: str) -> str:
    """A v1alpha1 node state (fsm) → the normalised node phase."""
    if state == V1_SUCCESSFUL:
        return NODE_SUCCESSFUL
    if state == V1_FAILED:
        return NODE_FAILURE
    if state in ("", V1_INIT):
        return NODE_PENDING
    return NODE_IN_PROGRESS


def v1alpha1_job_phase(state: str) -> str:
    if state == V1_SUCCESSFUL:
        return JOB_COMPLETED
    if state == V1_FAILED:
        return JOB_FAILURE
    if state in ("", V1_INIT):
        return JOB_INIT
    return JOB_IN_PROGRESS
