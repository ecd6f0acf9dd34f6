"""Image pre-pull for OTA pods (OpenYurt 1.7 `imagepull`, DESIGN §2), the cloud side.

The edge agent marks a pod `PodImageReady=False` (message `controllerrevision: <hash>`); each
pass then starts a pre-pull Job on the pod's node for the DaemonSet's current revision (Ready
nodes only), and once the Job has finished records the result on the pod (True with reason
PullImageSuccess, or False with PullImageFail) and deletes the Job. A request for another
revision than the current one is left alone: the agent refuses the upgrade and asks for a new
pull. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gitops_edge.model.desired import DesiredDaemonSet
from gitops_edge.model.observed import POD_IMAGE_READY, Condition, DaemonSetObs, PullJobObs
from gitops_edge.model.plan import Action, DeleteJob, SetPodCondition, StartImagePull
from gitops_edge.model.prepull import PULL_FAIL, PULL_SUCCESS, job_name, pull_job_json
from gitops_edge.planner.classify import NodeView
from gitops_edge.planner.words import short

REVISION_PREFIX = "controllerrevision: "


def plan_prepull(
    views: Sequence[NodeView],
    *,
    ds: DaemonSetObs,
    desired: DesiredDaemonSet,
    jobs: Mapping[tuple[str, str], PullJobObs],
    now: float,
) -> tuple[Action, ...]:
    actions: list[Action] = []
    pod_spec: dict[str, Any] | None = None
    for view in views:
        for pod in view.live:
            cond = pod.condition(POD_IMAGE_READY)
            if cond is None or cond.status == "True" or cond.reason:
                continue
            revision = cond.message.removeprefix(REVISION_PREFIX)
            if revision != ds.current_revision:
                continue
            ident = f"{pod.namespace}/{pod.name}"
            name = job_name(pod.name, revision)
            job = jobs.get((pod.namespace, name))
            if job is None:
                if not view.ready:
                    continue  # a Job pinned to a NotReady node would not start
                if pod_spec is None:
                    pod_spec = desired.pod_template()["spec"]
                actions.append(
                    StartImagePull(
                        namespace=pod.namespace,
                        name=name,
                        pod=pod.name,
                        node=view.node,
                        revision=revision,
                        manifest_json=pull_job_json(
                            namespace=pod.namespace,
                            pod=pod.name,
                            uid=pod.uid,
                            node=view.node,
                            revision=revision,
                            pod_spec=pod_spec,
                            owner=desired.owner,
                        ),
                        reason=f"pre-pull the images of revision {short(revision)} for pod "
                        f"{ident} on node {view.node} (Job {name})",
                    )
                )
                continue
            if job.state not in ("Succeeded", "Failed"):
                continue
            ok = job.state == "Succeeded"
            actions.append(
                SetPodCondition(
                    namespace=pod.namespace,
                    name=pod.name,
                    uid=pod.uid,
                    node=view.node,
                    condition=Condition(
                        type=POD_IMAGE_READY,
                        status="True" if ok else "False",
                        reason=PULL_SUCCESS if ok else PULL_FAIL,
                        message=cond.message,
                        last_transition_time=now if ok else cond.last_transition_time,
                    ),
                    reason=f"mark pod {ident} on node {view.node} PodImageReady="
                    f"{'True: images pulled' if ok else 'False: the image pull failed'} "
                    f"(revision {short(revision)})",
                )
            )
            actions.append(
                DeleteJob(
                    namespace=pod.namespace,
                    name=name,
                    reason=f"delete the finished pre-pull Job {pod.namespace}/{name}",
                )
            )
    return tuple(actions)
