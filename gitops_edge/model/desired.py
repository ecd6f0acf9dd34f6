"""The desired model: what the repository asks for, as frozen values.

Built from validated documents by `gitops_edge.repository.render`; read by the planner. No side
effects.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitops_edge.model.maintenance import Window
from gitops_edge.model.placement import LABEL_OPERATORS, requirement_holds

# Labels and annotations gitops-edge puts on what it renders. Only objects carrying
# MANAGED_BY_LABEL=MANAGED_BY_VALUE and the source's own OWNER_LABEL are ever pruned.
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "gitops-edge"
OWNER_LABEL = "gitops-edge.io/owner"  # the owner identity of the source (RepoConfig.owner)
WORKLOAD_LABEL = "gitops-edge.io/workload"
GROUP_LABEL = "gitops-edge.io/group"
REVISION_ANNOTATION = "gitops-edge.io/git-revision"
SPEC_HASH_ANNOTATION = "gitops-edge.io/spec-hash"
SOURCE_ANNOTATION = "gitops-edge.io/source"

# OpenYurt annotations (DESIGN §2).
OPENYURT_STRATEGY_ANNOTATION = "apps.openyurt.io/update-strategy"
OPENYURT_MAX_UNAVAILABLE_ANNOTATION = "apps.openyurt.io/max-unavailable"


class UpdateModel(enum.Enum):
    """How pods of a DaemonSet move to a new revision."""

    ADVANCED_ROLLING_UPDATE = "AdvancedRollingUpdate"  # we delete pods, budgeted, NotReady skipped
    OTA = "OTA"  # we mark PodNeedUpgrade; the node triggers the upgrade
    ROLLING_UPDATE = "RollingUpdate"  # the DaemonSet controller does it (stalls on NotReady)
    ON_DELETE = "OnDelete"  # plain OnDelete without OpenYurt annotations: nobody deletes pods


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where a desired object came from: repository-relative file and 1-based line."""

    file: str
    line: int


@dataclass(frozen=True, slots=True)
class LabelRequirement:
    key: str
    operator: str  # In | NotIn | Exists | DoesNotExist
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.operator in LABEL_OPERATORS and requirement_holds(
            self.operator, self.values, labels.get(self.key)
        )


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A Kubernetes LabelSelector. An empty selector matches every node."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[LabelRequirement, ...] = ()

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> LabelSelector:
        """From a (validated) Kubernetes LabelSelector object: matchLabels, matchExpressions."""
        return cls(
            match_labels=tuple(
                sorted((str(k), str(v)) for k, v in (raw.get("matchLabels") or {}).items())
            ),
            match_expressions=tuple(
                LabelRequirement(
                    key=str(e["key"]),
                    operator=str(e["operator"]),
                    values=tuple(str(v) for v in e.get("values") or ()),
                )
                for e in raw.get("matchExpressions") or ()
            ),
        )

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels) and all(
            r.matches(labels) for r in self.match_expressions
        )


@dataclass(frozen=True, slots=True)
class NodeGroup:
    """Nodes matching `selector` OR named in `nodes` (at least one of the two is set)."""

    name: str
    selector: LabelSelector | None
    nodes: tuple[str, ...]
    source: SourceRef
    window: Window | None = None  # spec.maintenanceWindow: pods move only while it is open

    def contains(self, node_name: str, labels: Mapping[str, str]) -> bool:
        if node_name in self.nodes:
            return True
        return self.selector is not None and self.selector.matches(labels)


@dataclass(frozen=True, slots=True)
class PrePullPolicy:
    """An EdgeDaemonSet's `spec.prePull`: before pods move to a new revision, an ImagePrePullJob
    pulls its images on the group's nodes (fields as in the ImagePrePullJob template)."""

    concurrency: int = 1
    timeout_seconds: int = 300
    failure_tolerate: str = "0"
    retry_times: int = 0


@dataclass(frozen=True, slots=True)
class RolloutPolicy:
    """An EdgeDaemonSet's `spec.rollout`, as it applies to one of its groups."""

    wave: int = 0  # this group's wave, 0-based
    waves: int = 1  # how many waves the workload has
    bake_seconds: int = 0  # this wave's bake time before the next wave starts
    wait_for_not_ready: bool = False  # NotReady nodes hold later waves back
    progress_deadline_seconds: int = 600
    max_failed: int | str = 0  # failed new pods tolerated (int or percentage)
    auto_rollback: bool = False


@dataclass(frozen=True, slots=True)
class DesiredDaemonSet:
    """One DaemonSet to exist in the cluster: rendered from an EdgeDaemonSet group or plain."""

    namespace: str
    name: str
    workload: str  # EdgeDaemonSet name, or the DaemonSet's own name when plain
    group: str | None  # NodeGroup name; None for a plain DaemonSet
    model: UpdateModel
    max_unavailable: int | str  # as written (validated): 3, "30%"; 0/"0%" mean the 10% default
    min_ready_seconds: int
    manifest_json: str  # canonical JSON (sorted keys) of the rendered apps/v1 DaemonSet
    spec_hash: str  # sha256 prefix of manifest_json, also in SPEC_HASH_ANNOTATION
    source: SourceRef
    openyurt_annotated: bool = False  # a plain DaemonSet with apps.openyurt.io/update-strategy
    prepull: PrePullPolicy | None = None  # pre-pull the images before pods move
    rollout: RolloutPolicy | None = None  # waves, deadline, rollback (spec.rollout)
    window: Window | None = None  # the group's maintenance window
    owner: str = ""  # the owner identity of the source (RepoConfig.owner)

    def pod_template(self) -> dict[str, Any]:
        """The rendered pod template, a fresh copy parsed from manifest_json on each call."""
        template: dict[str, Any] = json.loads(self.manifest_json)["spec"]["template"]
        return template

    def container_images(self) -> tuple[str, ...]:
        """The image of each container of the pod template, in order."""
        spec = self.pod_template().get("spec") or {}
        return tuple(str(c.get("image", "")) for c in spec.get("containers") or ())


@dataclass(frozen=True, slots=True)
class DesiredJob:
    """A KubeEdge node job (NodeUpgradeJob / ImagePrePullJob) as written in the repository."""

    api_version: str
    kind: str
    name: str
    manifest_json: str
    spec_hash: str
    source: SourceRef


@dataclass(frozen=True, slots=True)
class DesiredNamespace:
    """A v1 Namespace the repository declares: applied before the objects in it."""

    name: str
    manifest_json: str  # canonical JSON of the rendered v1 Namespace (owner labels added)
    spec_hash: str  # also in SPEC_HASH_ANNOTATION
    source: SourceRef


DEFAULT_STATUS_BRANCH = "gitops-edge/status"  # spec.status.branch when it is not written


@dataclass(frozen=True, slots=True)
class RepoConfig:
    """The repository's RepositoryConfig (defaults applied)."""

    cloud_version: str | None = None
    default_namespace: str = "default"
    owner: str = ""  # spec.owner, else metadata.name: the source's identity in the cluster
    default_max_unavailable: int | str = "10%"
    status_path: str = "status"
    # spec.status.branch: the branch status is committed to; "" (written explicitly) is the
    # spec branch itself.
    status_branch: str = DEFAULT_STATUS_BRANCH
    prune_workloads: bool = True
    prune_jobs: bool = False
    prune_allow_empty: bool = False  # spec.prune.allowEmpty: may prune every owned workload
    prune_namespaces: bool = False  # spec.prune.namespaces: delete owned namespaces left out
    jobs_api_version: str = "auto"
    drive_openyurt_annotated: bool = False  # spec.openyurt.annotatedDaemonSets: drive
    ignore: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DesiredState:
    """Everything one revision of the repository asks for."""

    revision: str  # git commit, or "worktree" for a local path
    config: RepoConfig
    groups: tuple[NodeGroup, ...]
    daemonsets: tuple[DesiredDaemonSet, ...]
    jobs: tuple[DesiredJob, ...] = ()
    namespaces: tuple[DesiredNamespace, ...] = ()
