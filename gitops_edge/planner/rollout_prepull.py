"""Pre-pull before a rollout (issue: node jobs, beyond KubeEdge): when an EdgeDaemonSet with
`spec.prePull` has pods of an old revision in a group, a KubeEdge ImagePrePullJob first pulls
the new revision's images on the group's Ready nodes that run an old pod; pods are deleted (or
marked for OTA) only once the job has completed. A failed job (its failure tolerance exceeded)
halts the group until the repository changes (a new revision gets a new job).

Jobs are named after the DaemonSet and its revision hash, so each revision is pulled once and a
restarted reconciler finds the job it created. Finished jobs of older revisions are deleted.
Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitops_edge.model import nodejobs as nj
from gitops_edge.model.desired import (
    GROUP_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    OWNER_LABEL,
    WORKLOAD_LABEL,
    DesiredDaemonSet,
    PrePullPolicy,
)
from gitops_edge.model.observed import JobObs
from gitops_edge.model.plan import JobPlan
from gitops_edge.model.prepull import images_of
from gitops_edge.planner.classify import NodeView
from gitops_edge.planner.jobs import JobKey, job_plan_from, new_job_plan, served_error
from gitops_edge.planner.words import short

PREFIX = "gitops-edge-prepull-"
MAX_NAME = 253  # a cluster-scoped custom object's name is a DNS subdomain


@dataclass(frozen=True, slots=True)
class Gate:
    """Whether pods of one DaemonSet may move this pass, and the pre-pull jobs to report."""

    open: bool
    jobs: tuple[JobPlan, ...] = ()
    wait: str = ""  # a note: pods wait for the pre-pull
    halt: str = ""  # an error: the pre-pull failed, the group is halted


def job_base(namespace: str, name: str) -> str:
    return f"{PREFIX}{namespace}-{name}-"


def job_name(namespace: str, name: str, revision: str) -> str:
    full = f"{job_base(namespace, name)}{revision}"
    if len(full) <= MAX_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:10]
    return f"{full[: MAX_NAME - 11]}-{digest}"


def choose_version(served: Sequence[str], pinned: str) -> str:
    """The apiVersion for a job gitops-edge writes itself: the pinned one, else the newest
    served (v1alpha2 when the cluster has KubeEdge >= 1.21)."""
    if pinned not in ("", "auto"):
        return pinned
    return served[-1] if served else nj.V1ALPHA2


def prepull_manifest(
    desired: DesiredDaemonSet,
    policy: PrePullPolicy,
    *,
    name: str,
    version: str,
    revision: str,
    nodes: Sequence[str],
) -> dict[str, Any]:
    pod_spec = desired.pod_template().get("spec") or {}
    template: dict[str, Any] = {
        "images": list(images_of(pod_spec)),
        "nodeNames": list(nodes),
        "concurrency": policy.concurrency,
        "timeoutSeconds": policy.timeout_seconds,
        "failureTolerate": policy.failure_tolerate,
        "retryTimes": policy.retry_times,
    }
    secrets = pod_spec.get("imagePullSecrets") or ()
    if secrets and secrets[0].get("name"):
        template["imageSecrets"] = f"{desired.namespace}/{secrets[0]['name']}"
    labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, nj.PREPULL_FOR_LABEL: "true"}
    if desired.owner:
        labels[OWNER_LABEL] = desired.owner
    labels[WORKLOAD_LABEL] = desired.workload
    if desired.group:
        labels[GROUP_LABEL] = desired.group
    return {
        "apiVersion": nj.api_version(version),
        "kind": nj.PREPULL,
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {
                nj.API_VERSION_ANNOTATION: version,
                nj.PREPULL_DAEMONSET_ANNOTATION: f"{desired.namespace}/{desired.name}",
                nj.PREPULL_REVISION_ANNOTATION: revision,
            },
        },
        "spec": {"imagePrePullTemplate": template},
    }


def prepull_gate(
    desired: DesiredDaemonSet,
    *,
    revision: str,
    views: Sequence[NodeView],
    jobs: Mapping[JobKey, JobObs],
    served: Sequence[str],
    pinned: str,
) -> Gate:
    policy = desired.prepull
    if policy is None or not revision:
        return Gate(open=True)
    base = job_base(desired.namespace, desired.name)
    name = job_name(desired.namespace, desired.name, revision)
    ident = f"{desired.namespace}/{desired.name}"
    purpose = f"pre-pull for DaemonSet {ident}, revision {short(revision)}"
    # Finished pre-pulls of older revisions are housekeeping: delete them.
    old = tuple(
        job_plan_from(
            job,
            purpose=f"old pre-pull for DaemonSet {ident}",
            delete=f"delete the finished pre-pull {job.name} of an older revision of DaemonSet "
            f"{ident}"
            if job.phase in (nj.JOB_COMPLETED, nj.JOB_FAILURE)
            else "",
        )
        for (kind, job_name_), job in sorted(jobs.items())
        if kind == nj.PREPULL and job_name_.startswith(base) and job_name_ != name and job.managed
    )
    existing = jobs.get((nj.PREPULL, name))
    if existing is not None:
        plan = job_plan_from(existing, purpose=purpose)
        if existing.phase == nj.JOB_COMPLETED:
            return Gate(open=True, jobs=(*old, plan))
        if existing.phase == nj.JOB_FAILURE:
            failed = existing.count(nj.NODE_FAILURE, nj.NODE_UNKNOWN)
            why = f": {existing.reason}" if existing.reason else ""
            return Gate(
                open=False,
                jobs=(*old, plan),
                halt=f"halted: the pre-pull {name} failed ({failed}/{len(existing.nodes)} nodes "
                f"failed{why}); no pod moves in this group until the repository changes (fix "
                "the image or the registry, or remove spec.prePull)",
            )
        return Gate(
            open=False,
            jobs=(*old, plan),
            wait=f"waiting for the pre-pull {name} ({existing.phase or 'not started'}, "
            f"{existing.count(*nj.NODE_FINAL)}/{len(existing.nodes)} nodes done) before pods move",
        )
    targets = sorted(v.node for v in views if v.outdated and v.ready and v.known)
    if not targets:
        return Gate(open=True, jobs=old)
    version = choose_version(served, pinned)
    error = served_error(version, served, what=f"pre-pull for DaemonSet {ident}")
    if error is not None:
        return Gate(open=False, jobs=old, halt=f"halted: {error}, or remove spec.prePull")
    manifest = prepull_manifest(
        desired, policy, name=name, version=version, revision=revision, nodes=targets
    )
    plan = new_job_plan(
        kind=nj.PREPULL,
        name=name,
        api_version=manifest["apiVersion"],
        manifest_json=json.dumps(manifest, sort_keys=True, separators=(",", ":")),
        reason=f"create ImagePrePullJob {name} ({manifest['apiVersion']}): pull the images of "
        f"revision {short(revision)} on {len(targets)} nodes before pods of {ident} move",
        purpose=purpose,
    )
    return Gate(
        open=False,
        jobs=(*old, plan),
        wait=f"waiting for the pre-pull {name} (created this pass, {len(targets)} nodes) before "
        "pods move",
    )
