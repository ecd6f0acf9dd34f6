"""The Plan value: what one reconcile pass will do, and why. Pure data, no behaviour with effects.

Produced by `gitops_edge.planner.plan()`, rendered by `gitops_edge.reports.plan_format`,
carried out by `gitops_edge.reconciler.apply`. `plan`, `diff` and `reconcile` all share it, so
a preview and a run agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitops_edge.model.desired import UpdateModel
from gitops_edge.model.maintenance import Window
from gitops_edge.model.observed import Condition, NodeJobStatus


@dataclass(frozen=True, slots=True)
class ApplyDaemonSet:
    """Create or update a DaemonSet to the rendered manifest."""

    namespace: str
    name: str
    manifest_json: str
    create: bool
    reason: str
    drift: tuple[str, ...] = ()  # a restore: the drifted field paths it puts back


@dataclass(frozen=True, slots=True)
class ApplyNamespace:
    """Create or update a Namespace the repository declares (before anything in it)."""

    name: str
    manifest_json: str
    create: bool
    reason: str


@dataclass(frozen=True, slots=True)
class PruneNamespace:
    """Delete a Namespace this source created whose declaration left the repository (only with
    spec.prune.namespaces: everything in it goes with it)."""

    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class DeletePod:
    """Delete one pod (precondition: its uid) so the DaemonSet controller recreates it."""

    namespace: str
    name: str
    uid: str
    node: str
    outside_budget: bool  # an old pod that was not available anyway
    reason: str


@dataclass(frozen=True, slots=True)
class SetPodCondition:
    """Set (add or replace) one condition on a pod's status, leaving the others alone."""

    namespace: str
    name: str
    uid: str
    node: str
    condition: Condition
    reason: str


@dataclass(frozen=True, slots=True)
class PruneDaemonSet:
    """Delete a DaemonSet this source created whose definition left the repository (the API
    server's garbage collector then deletes its `pods`)."""

    namespace: str
    name: str
    reason: str
    pods: tuple[str, ...] = ()  # names of the pods it takes with it


@dataclass(frozen=True, slots=True)
class Orphan:
    """A DaemonSet labelled managed-by gitops-edge without an owner identity (created before
    owner identities existed, or labelled by hand): never pruned, reported."""

    namespace: str
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class AnnotateDaemonSet:
    """Set (or, with value None, remove) annotations of a DaemonSet: the rollout bookkeeping
    (halted, last fully available revision, rolled back)."""

    namespace: str
    name: str
    annotations: tuple[tuple[str, str | None], ...]
    reason: str


@dataclass(frozen=True, slots=True)
class RollbackDaemonSet:
    """Put a DaemonSet's pod template back to one of its ControllerRevisions (like `kubectl
    rollout undo --to-revision`); the repository is not changed."""

    namespace: str
    name: str
    uid: str  # the DaemonSet's, to find its ControllerRevisions
    revision: str  # the controller-revision-hash to go back to
    reason: str


@dataclass(frozen=True, slots=True)
class StartImagePull:
    """Create the short-lived Job that pre-pulls a revision's images on one pod's node."""

    namespace: str
    name: str  # the Job's name
    pod: str
    node: str
    revision: str
    manifest_json: str  # the batch/v1 Job (gitops_edge.model.prepull.pull_job)
    reason: str


@dataclass(frozen=True, slots=True)
class DeleteJob:
    """Delete a finished pre-pull Job (its result is on the pod by then)."""

    namespace: str
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class CreateNodeJob:
    """Create a KubeEdge node job (cluster-scoped) from its manifest, in its apiVersion."""

    api_version: str
    kind: str
    name: str
    manifest_json: str
    reason: str


@dataclass(frozen=True, slots=True)
class DeleteNodeJob:
    """Delete a KubeEdge node job this tool created whose file left the repository."""

    api_version: str
    kind: str
    name: str
    reason: str


Action = (
    ApplyDaemonSet
    | DeletePod
    | SetPodCondition
    | PruneDaemonSet
    | StartImagePull
    | DeleteJob
    | CreateNodeJob
    | DeleteNodeJob
    | AnnotateDaemonSet
    | RollbackDaemonSet
    | ApplyNamespace
    | PruneNamespace
)


@dataclass(frozen=True, slots=True)
class Deferral:
    """A node left alone this pass, and why (e.g. "NotReady since 12:03")."""

    node: str
    reason: str


@dataclass(frozen=True, slots=True)
class Progress:
    """Where one DaemonSet stands, in nodes."""

    nodes: int  # nodes hosting a pod of this DaemonSet (N, NotReady included)
    current: int  # nodes whose only pod is current and available (or, NotReady, current)
    outdated: int  # nodes still running an old pod
    unavailable: int  # Ready nodes counted unavailable (DESIGN §2)
    deferred: int  # NotReady nodes (not touched, not counted)
    ota_pending: int = 0  # OTA pods marked PodNeedUpgrade=True
    not_ready: int = 0  # nodes hosting a pod of this DaemonSet that are NotReady now


@dataclass(frozen=True, slots=True)
class FleetProgress:
    """Where the fleet stands, in distinct nodes (a node hosting pods of several DaemonSets counts
    once): the headline of the status commit and summary."""

    nodes: int = 0  # nodes hosting a pod of a planned DaemonSet (or Ready, eligible, without one)
    current: int = 0  # of those, the nodes where every such DaemonSet counts current
    deferred: int = 0  # of those, the nodes where an outdated pod waits for the node to be Ready


@dataclass(frozen=True, slots=True)
class FleetNodes:
    """One DaemonSet's share of `FleetProgress`: the nodes that host (or should host) its pod,
    and those of them where its pod does not count current. Kept on its plan so that a plan
    reused by an incremental pass still counts in the fleet's distinct nodes."""

    hosting: frozenset[str] = frozenset()
    behind: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class EmptyGroup:
    """A NodeGroup of the repository that matches no node of the cluster: a warning (its
    DaemonSets run nowhere), never an error."""

    group: str
    source: str  # file:line of the NodeGroup
    daemonsets: tuple[str, ...]  # namespace/name of the DaemonSets rendered for it
    message: str


@dataclass(frozen=True, slots=True)
class Budget:
    """AdvancedRollingUpdate budget of one pass."""

    max_unavailable: int  # resolved over N
    unavailable: int  # before this pass's deletions
    deletions: int  # deletions within the budget this pass (outside-budget ones excluded)
    spec: str = ""  # as resolved: "30%" or "3"; "10%" when absent, 0 or 0% (the default)


@dataclass(frozen=True, slots=True)
class JobPlan:
    """One KubeEdge node job: created this pass, or where it stands (its nodes' results)."""

    kind: str
    name: str
    api_version: str  # the version it is (or will be) created and read in
    source: str  # file:line in the repository ("" for a job only the cluster has)
    phase: str  # Init | InProgress | Completed | Failure | "" (not created yet, or not seen)
    reason: str
    nodes: tuple[NodeJobStatus, ...]
    actions: tuple[Action, ...] = ()
    errors: tuple[str, ...] = ()  # nothing is done for this job
    notes: tuple[str, ...] = ()
    purpose: str = ""  # e.g. "pre-pull for DaemonSet ns/name" when the planner made it

    def count(self, *phases: str) -> int:
        """Nodes whose task is in one of `phases`."""
        return sum(n.phase in phases for n in self.nodes)


WINDOW_HOLD = "deferred (window)"  # how a hold by a maintenance window begins


def held_by_window(held: str) -> bool:
    """Whether a DaemonSetPlan's `held` reason (or a status row's) is its maintenance window."""
    return held.startswith(WINDOW_HOLD)


@dataclass(frozen=True, slots=True)
class DaemonSetPlan:
    """The plan for one (workload, group) DaemonSet."""

    namespace: str
    name: str
    workload: str
    group: str | None
    model: UpdateModel
    revision: str  # the DaemonSet's current revision hash ("" before it exists)
    actions: tuple[Action, ...]
    deferred: tuple[Deferral, ...]
    progress: Progress
    budget: Budget | None  # only for AdvancedRollingUpdate
    errors: tuple[str, ...] = ()  # plan errors: nothing is done for this DaemonSet
    notes: tuple[str, ...] = ()  # explanations (e.g. "waiting for the DaemonSet update")
    prepull: tuple[JobPlan, ...] = ()  # pre-pull jobs before its pods move (spec.prePull)
    wave: str = ""  # "1/3": its wave of the workload's rollout ("" without spec.rollout)
    held: str = ""  # why its pods do not move now (maintenance window, earlier wave)
    halted: str = ""  # why the group is halted (progress deadline), "" when it is not
    rolled_back: str = ""  # "<from> → <to>" when gitops-edge rolled it back
    drift: tuple[str, ...] = ()  # fields the repository sets that differ in the cluster
    bake_seconds: int = 0  # after its wave settles, before the next wave starts
    window: Window | None = None  # its group's maintenance window
    fleet: FleetNodes = FleetNodes()  # its share of the plan's distinct-node figures


@dataclass(frozen=True, slots=True)
class Plan:
    """The whole pass: one entry per desired DaemonSet, plus prunes."""

    revision: str
    now: float
    daemonsets: tuple[DaemonSetPlan, ...]
    prunes: tuple[PruneDaemonSet, ...] = ()
    jobs: tuple[JobPlan, ...] = ()  # node jobs written in the repository (and pruned ones)
    orphans: tuple[Orphan, ...] = ()
    owner: str = ""  # the source's owner identity
    prune_errors: tuple[str, ...] = ()  # pruning refused (nothing is pruned this pass)
    namespaces: tuple[ApplyNamespace, ...] = ()  # first: the objects after them live in them
    namespace_prunes: tuple[PruneNamespace, ...] = ()  # last: after the DaemonSets in them
    namespace_notes: tuple[str, ...] = ()  # namespaces left alone, and why (refused prunes)
    fleet: FleetProgress = FleetProgress()  # distinct nodes (plans the planner made)
    empty_groups: tuple[EmptyGroup, ...] = ()  # warnings: NodeGroups matching no node

    @property
    def errors(self) -> tuple[tuple[str, str], ...]:
        """(object, error) for every plan error: DaemonSets (namespace/name), node jobs,
        pruning."""
        out = [(f"{ds.namespace}/{ds.name}", e) for ds in self.daemonsets for e in ds.errors]
        out += [(f"{job.kind} {job.name}", e) for job in self.jobs for e in job.errors]
        out += [(f"pruning for owner {self.owner}", e) for e in self.prune_errors]
        return tuple(out)

    @property
    def actions(self) -> tuple[Action, ...]:
        out: list[Action] = list(self.namespaces)
        for job in self.jobs:
            out.extend(job.actions)
        for ds in self.daemonsets:
            for prepull in ds.prepull:  # before the pods that wait for it
                out.extend(prepull.actions)
            out.extend(ds.actions)
        out.extend(self.prunes)
        out.extend(self.namespace_prunes)
        return tuple(out)
