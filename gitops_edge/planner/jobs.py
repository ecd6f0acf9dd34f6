"""The plan for KubeEdge node jobs written in the repository (DESIGN §4).

A job absent from the cluster is created, in the apiVersion its file names, provided the cluster
serves that version (never converted: the versions differ in defaults and in how NotReady nodes
count, so a converted job would not do what its file says). A job that exists is only read: its
overall and per-node results are reported; a spec that changed in the repository since the job
was created is reported and not applied (jobs are immutable). A job to create whose empty
labelSelector selects every node gets a note naming how many nodes that is. A job whose file
left the repository stays in the cluster unless `spec.prune.jobs` is true. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from gitops_edge.model import nodejobs as nj
from gitops_edge.model.desired import OWNER_LABEL, DesiredJob
from gitops_edge.model.observed import JobObs
from gitops_edge.model.plan import CreateNodeJob, DeleteNodeJob, JobPlan

JobKey = tuple[str, str]  # (kind, name)


def served_error(version: str, served: Sequence[str], *, what: str, kind: str = "") -> str | None:
    """Why `what` cannot be created in `version` on a cluster serving `served` (None if it can).
    `kind` names the job's kind when only some versions define it (ConfigUpdateJob)."""
    if not served:
        return (
            f"{what}: the cluster does not serve {nj.GROUP} (KubeEdge's node job CRDs are not "
            "installed): install KubeEdge cloudcore >= 1.16 with its CRDs"
        )
    if version in served:
        return None
    need = " (KubeEdge >= 1.21)" if version == nj.V1ALPHA2 else ""
    defined = nj.KIND_VERSIONS.get(kind, nj.VERSIONS)
    if not set(served) & set(defined):
        return (
            f"{what}: {kind} exists in {', '.join(map(nj.api_version, defined))} only{need}, and "
            f"this cluster serves {', '.join(served)}: upgrade KubeEdge, or remove the job"
        )
    return (
        f"{what}: {nj.GROUP}/{version}{need} is not served by this cluster, which serves "
        f"{', '.join(served)}: write the job as apiVersion: {nj.api_version(served[-1])} "
        "(check its fields and defaults against that version), or upgrade KubeEdge"
    )


def job_plan_from(
    job: JobObs,
    *,
    source: str = "",
    notes: tuple[str, ...] = (),
    errors: tuple[str, ...] = (),
    purpose: str = "",
    delete: str = "",
) -> JobPlan:
    """Where an existing job stands, as reported; `delete`: the reason to delete it."""
    actions: tuple[DeleteNodeJob, ...] = ()
    if delete:
        actions = (
            DeleteNodeJob(api_version=job.api_version, kind=job.kind, name=job.name, reason=delete),
        )
    return JobPlan(
        kind=job.kind,
        name=job.name,
        api_version=job.api_version,
        source=source,
        phase=job.phase,
        reason=job.reason,
        nodes=job.nodes,
        actions=actions,
        errors=errors,
        notes=notes,
        purpose=purpose,
    )


def new_job_plan(
    *,
    kind: str,
    name: str,
    api_version: str,
    manifest_json: str = "",
    reason: str = "",
    error: str = "",
    source: str = "",
    purpose: str = "",
) -> JobPlan:
    """A job that does not exist yet: created (with `reason`), or not, because of `error`."""
    create = CreateNodeJob(
        api_version=api_version, kind=kind, name=name, manifest_json=manifest_json, reason=reason
    )
    return JobPlan(
        kind=kind,
        name=name,
        api_version=api_version,
        source=source,
        phase="",
        reason="",
        nodes=(),
        actions=() if error else (create,),
        errors=(error,) if error else (),
        purpose=purpose,
    )


def selects_every_node(manifest_json: str) -> bool:
    """Whether a node job targets an empty labelSelector (`{}`, or empty matchLabels and
    matchExpressions), which KubeEdge reads as every node."""
    manifest = json.loads(manifest_json)
    spec = manifest.get("spec") or {}
    if manifest.get("kind") == nj.PREPULL:
        spec = spec.get("imagePrePullTemplate") or {}
    selector = spec.get("labelSelector")
    return (
        not spec.get("nodeNames")
        and isinstance(selector, dict)
        and not selector.get("matchLabels")
        and not selector.get("matchExpressions")
    )


def _every_node_note(desired: DesiredJob, nodes: int) -> tuple[str, ...]:
    if not selects_every_node(desired.manifest_json):
        return ()
    return (
        f"labelSelector {{}} selects every node of the cluster: all {nodes} "
        f"node{'' if nodes == 1 else 's'} (KubeEdge reads an empty selector so)",
    )


def _plan_one(
    desired: DesiredJob,
    existing: JobObs | None,
    *,
    served: Sequence[str],
    hold: str = "",
    nodes: int = 0,
) -> JobPlan:
    source = f"{desired.source.file}:{desired.source.line}"
    what = f"{desired.kind} {desired.name}"
    if existing is None and hold:
        plan = new_job_plan(
            kind=desired.kind, name=desired.name, api_version=desired.api_version, source=source
        )
        held = (f"not created yet: it {hold}", *_every_node_note(desired, nodes))
        return replace(plan, actions=(), notes=held)
    if existing is None:
        plan = new_job_plan(
            kind=desired.kind,
            name=desired.name,
            api_version=desired.api_version,
            manifest_json=desired.manifest_json,
            reason=f"create {what} ({desired.api_version}) from {source}",
            error=served_error(
                nj.version_of(desired.api_version), served, what=what, kind=desired.kind
            )
            or "",
            source=source,
        )
        return replace(plan, notes=_every_node_note(desired, nodes))
    if not existing.managed:
        return job_plan_from(
            existing,
            source=source,
            errors=(
                f"{what} already exists in the cluster and was not created by gitops-edge: "
                f"rename the job in {source}, or delete the cluster's one",
            ),
        )
    notes: tuple[str, ...] = ()
    if existing.api_version != desired.api_version:
        notes = (
            f"{what} was created as {existing.api_version} and the repository now writes "
            f"{desired.api_version}: jobs are immutable, nothing was changed; to run it again "
            "in the new version, add a job with a new name",
        )
    elif existing.spec_hash and existing.spec_hash != desired.spec_hash:
        notes = (
            f"the spec of {what} changed in the repository ({source}) after the job was "
            "created: jobs are immutable, the change was not applied; to run the new spec, add "
            "a job with a new name",
        )
    return job_plan_from(existing, source=source, notes=notes)


def plan_repository_jobs(
    desired: Iterable[DesiredJob],
    observed: Mapping[JobKey, JobObs],
    *,
    served: Sequence[str],
    prune: bool,
    owner: str = "",
    keep: frozenset[JobKey] = frozenset(),
    holds: Mapping[JobKey, str] | None = None,
    nodes: int = 0,
) -> tuple[JobPlan, ...]:
    """One JobPlan per desired job, then one per job of this source (`owner`) that left the
    repository (pruned when `prune`, else reported as kept). Jobs of other sources are not
    ours to report or prune; managed jobs without an owner identity (created before
    identities) are never pruned. `keep`: jobs the planner itself created (pre-pulls before
    rollouts), never pruned here. `holds`: jobs not to create this pass, and why (a
    maintenance window). `nodes`: how many nodes the cluster has (named in the note on a job
    to create whose empty labelSelector selects them all)."""
    plans: list[JobPlan] = []
    wanted: set[JobKey] = set()
    for want in sorted(desired, key=lambda j: (j.kind, j.name)):
        wanted.add((want.kind, want.name))
        key = (want.kind, want.name)
        hold = (holds or {}).get(key, "")
        plans.append(_plan_one(want, observed.get(key), served=served, hold=hold, nodes=nodes))
    for key, job in sorted(observed.items()):
        if key in wanted or key in keep or not job.managed:
            continue
        theirs = job.labels.get(OWNER_LABEL, "")
        if theirs and theirs != owner:
            continue  # another source's
        if not theirs:
            plans.append(
                job_plan_from(
                    job,
                    notes=(
                        f"{job.kind} {job.name} is managed by gitops-edge but carries no owner "
                        f"identity ({OWNER_LABEL}) and is not in this repository: an orphan, "
                        f"never pruned (label it {OWNER_LABEL}={owner} to let this source "
                        "prune it)",
                    ),
                )
            )
        elif prune:
            plans.append(
                job_plan_from(
                    job,
                    delete=f"prune {job.kind} {job.name}: its file left the repository "
                    "(spec.prune.jobs is true)",
                )
            )
        else:
            plans.append(
                job_plan_from(
                    job,
                    notes=(
                        f"{job.kind} {job.name} left the repository and stays in the cluster "
                        "(set spec.prune.jobs: true in gitops-edge.yaml to delete such jobs)",
                    ),
                )
            )
    return tuple(plans)
