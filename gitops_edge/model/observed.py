"""The observed model: what a cluster looks like, as frozen values.

Built by a `Cluster` implementation (simulated or Kubernetes) and read by the pure planner.
Holds only the fields the planner and the reports need; no raw API objects. No side effects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gitops_edge.model.placement import Placement, Taint

# Label and condition names shared with Kubernetes and OpenYurt.
REVISION_HASH_LABEL = "controller-revision-hash"
TEMPLATE_GENERATION_LABEL = "pod-template-generation"
POD_NEED_UPGRADE = "PodNeedUpgrade"
POD_IMAGE_READY = "PodImageReady"


@dataclass(frozen=True, slots=True)
class Condition:
    """A pod condition. Times are seconds on the cluster's clock (epoch seconds, or the sim's)."""

    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str = ""
    message: str = ""
    last_transition_time: float = 0.0


@dataclass(frozen=True, slots=True)
class Node:
    """A node: its labels, its Ready condition and since when, and its edge runtime version."""

    name: str
    labels: Mapping[str, str]
    ready: bool
    ready_since: float = 0.0  # time of the last Ready transition
    edge_version: str = ""  # KubeEdge edgecore version (status.nodeInfo.kubeletVersion on edge)
    taints: tuple[Taint, ...] = ()  # spec.taints


@dataclass(frozen=True, slots=True)
class NamespaceObs:
    """A namespace: its labels and annotations (the owner label and spec-hash annotation tell
    whether gitops-edge applied it, and from which revision)."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DaemonSetObs:
    """A DaemonSet as observed, with the hash of its newest ControllerRevision."""

    namespace: str
    name: str
    uid: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    update_strategy: str  # "OnDelete" | "RollingUpdate"
    rolling_max_unavailable: int | str | None  # spec.updateStrategy.rollingUpdate.maxUnavailable
    min_ready_seconds: int
    template_generation: int  # metadata.generation of the template (pod-template-generation)
    current_revision: str  # controller-revision-hash of the newest ControllerRevision ("" if none)
    # Which nodes its pods may run on (the template's nodeSelector, affinity, tolerations).
    placement: Placement = field(default_factory=Placement)
    # The fields drift is checked on, as compact JSON: {"metadata": {"labels", "annotations"},
    # "spec"} of the live object ("" when unknown: no drift check). One string per DaemonSet.
    live_json: str = ""


@dataclass(frozen=True, slots=True)
class PodObs:
    """A pod: owner, node, revision labels, readiness and since when, conditions. `node` is
    the node it is bound to or, while it waits for the scheduler, the node its DaemonSet pinned
    it to (`placement.target_node`); "" when neither is known."""

    namespace: str
    name: str
    uid: str
    node: str
    owner_kind: str  # "" when the pod has no controller ownerReference
    owner_name: str
    revision_hash: str  # controller-revision-hash label ("" if absent)
    template_generation: int | None  # pod-template-generation label, if present
    ready: bool
    ready_since: float | None  # when the Ready condition last became True
    deleting: bool = False  # metadata.deletionTimestamp is set
    conditions: tuple[Condition, ...] = ()
    created: float = 0.0  # metadata.creationTimestamp (0 when unknown)
    owner_uid: str = ""  # uid of the controller ownerReference
    bound: bool = True  # spec.nodeName is set (False: Pending, waiting for the scheduler)

    def condition(self, type_: str) -> Condition | None:
        for cond in self.conditions:
            if cond.type == type_:
                return cond
        return None


@dataclass(frozen=True, slots=True)
class ImagePullResult:
    """One image of a pre-pull on one node."""

    image: str
    ok: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class NodeJobStatus:
    """One node's task in a KubeEdge node job, normalised over both API versions."""

    node: str
    phase: str  # Pending | InProgress | Successful | Failure | Unknown (gitops_edge.model.nodejobs)
    step: str = ""  # where it is: v1alpha1 state (Checking, Pulling, …), v1alpha2 action
    reason: str = ""
    time: str = ""  # as the API wrote it (RFC 3339)
    images: tuple[ImagePullResult, ...] = ()  # pre-pulls: per image


@dataclass(frozen=True, slots=True)
class JobObs:
    """A KubeEdge NodeUpgradeJob or ImagePrePullJob as observed, read in the API version it was
    created in."""

    api_version: str
    kind: str
    name: str
    spec_hash: str  # gitops-edge.io/spec-hash annotation ("" if not created by us)
    managed: bool  # carries app.kubernetes.io/managed-by=gitops-edge
    phase: str = ""  # Init | InProgress | Completed | Failure ("" before the controller saw it)
    state: str = ""  # the version's own word (v1alpha1 state, v1alpha2 phase)
    reason: str = ""
    nodes: tuple[NodeJobStatus, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)

    def count(self, *phases: str) -> int:
        """Nodes whose task is in one of `phases`."""
        return sum(n.phase in phases for n in self.nodes)


@dataclass(frozen=True, slots=True)
class PullJobObs:
    """An image pre-pull Job this tool created for one pod and revision (DESIGN §2, imagepull)."""

    namespace: str
    name: str
    pod: str
    revision: str
    state: str  # "Running" | "Succeeded" | "Failed"


@dataclass(frozen=True, slots=True)
class Observed:
    """Everything one pass observed, at time `now` on the cluster's clock."""

    now: float
    nodes: tuple[Node, ...]
    daemonsets: tuple[DaemonSetObs, ...]
    pods: tuple[PodObs, ...]
    jobs: tuple[JobObs, ...] = field(default=())
    openyurt_installed: bool = False  # the cluster serves apps.openyurt.io (yurt-manager runs)
    pull_jobs: tuple[PullJobObs, ...] = ()
    # Versions of operations.kubeedge.io the cluster serves (empty: KubeEdge's job CRDs absent).
    job_versions: tuple[str, ...] = ()
    # The cluster's namespaces; None when the backend did not list them (a namespace is then
    # applied every pass, and none is pruned).
    namespaces: tuple[NamespaceObs, ...] | None = None
