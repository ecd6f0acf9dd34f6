"""The cloud side of the OTA image pre-pull: Jobs started, results recorded, Jobs deleted."""

from __future__ import annotations

import json
from dataclasses import replace

from planner_fixtures import NEW, NOW, desired_ds, fleet, observed, pod, state

from gitops_edge.model.desired import DesiredState, UpdateModel
from gitops_edge.model.observed import POD_IMAGE_READY, Condition, Observed, PullJobObs
from gitops_edge.model.plan import Action, DeleteJob, Plan, SetPodCondition, StartImagePull
from gitops_edge.model.prepull import job_name
from gitops_edge.planner import plan

MANIFEST = {
    "spec": {
        "template": {
            "spec": {
                "imagePullSecrets": [{"name": "registry"}],
                "initContainers": [{"name": "init", "image": "x/init:2"}],
                "containers": [{"name": "main", "image": "x/app:2"}],
            }
        }
    }
}


def pending(revision: str = NEW, *, reason: str = "", status: str = "False") -> Condition:
    return Condition(
        POD_IMAGE_READY,
        status,
        reason=reason,
        message=f"controllerrevision: {revision}",
        last_transition_time=NOW - 30,
    )


def world(
    condition: Condition, *, ready: bool = True, jobs: tuple[PullJobObs, ...] = ()
) -> Observed:
    nodes, _ = fleet(1, not_ready=() if ready else (0,))
    return replace(
        observed(nodes, (pod("n00", conditions=(condition,), ready=ready),)), pull_jobs=jobs
    )


def desired() -> DesiredState:
    return state(replace(desired_ds(model=UpdateModel.OTA), manifest_json=json.dumps(MANIFEST)))


def pull_actions(result: Plan) -> list[Action]:
    return [
        a
        for a in result.actions
        if isinstance(a, StartImagePull | DeleteJob)
        or (isinstance(a, SetPodCondition) and a.condition.type == POD_IMAGE_READY)
    ]


def test_a_pending_pull_starts_a_job_pinned_to_the_node() -> None:
    (start,) = pull_actions(plan(desired(), world(pending())))
    assert isinstance(start, StartImagePull)
    job = json.loads(start.manifest_json)
    assert job["metadata"]["name"] == job_name("app-n00-old", NEW) == start.name
    spec = job["spec"]["template"]["spec"]
    assert spec["nodeName"] == "n00" and spec["restartPolicy"] == "Never"
    assert [(c["image"], c["imagePullPolicy"], c["command"]) for c in spec["containers"]] == [
        ("x/init:2", "Always", ["true"]),
        ("x/app:2", "Always", ["true"]),
    ]
    assert spec["imagePullSecrets"] == [{"name": "registry"}]


def test_nothing_while_the_node_is_not_ready_or_the_job_runs() -> None:
    assert pull_actions(plan(desired(), world(pending(), ready=False))) == []
    running = PullJobObs("edge", job_name("app-n00-old", NEW), "app-n00-old", NEW, "Running")
    assert pull_actions(plan(desired(), world(pending(), jobs=(running,)))) == []


def test_finished_jobs_are_recorded_on_the_pod_and_deleted() -> None:
    name = job_name("app-n00-old", NEW)
    done = PullJobObs("edge", name, "app-n00-old", NEW, "Succeeded")
    mark, delete = pull_actions(plan(desired(), world(pending(), jobs=(done,))))
    assert isinstance(mark, SetPodCondition) and isinstance(delete, DeleteJob)
    assert (mark.condition.status, mark.condition.reason) == ("True", "PullImageSuccess")
    assert mark.condition.last_transition_time == NOW and delete.name == name
    failed = replace(done, state="Failed")
    mark, _ = pull_actions(plan(desired(), world(pending(), jobs=(failed,))))
    assert isinstance(mark, SetPodCondition)
    assert (mark.condition.status, mark.condition.reason) == ("False", "PullImageFail")
    assert mark.condition.last_transition_time == NOW - 30  # the status did not flip


def test_stale_or_finished_requests_are_left_alone() -> None:
    assert pull_actions(plan(desired(), world(pending("older")))) == []
    assert (
        pull_actions(plan(desired(), world(pending(status="True", reason="PullImageSuccess"))))
        == []
    )
    assert pull_actions(plan(desired(), world(pending(reason="PullImageFail")))) == []


def test_long_pod_names_still_give_valid_job_names() -> None:
    name = job_name("a" * 70, "0123456789")
    assert len(name) <= 63 and name.startswith("pull-aaa")
    assert name == job_name("a" * 70, "0123456789")


def test_upstream_imagepreheat_pull_job_is_owned_by_the_pod_it_serves() -> None:
    """OpenYurt's image-preheat controller gives its Job an ownerReference to the pod (apiVersion
    v1, kind Pod, its name and uid), so the garbage collector deletes the Job with the pod;
    gitops-edge does too, with blockOwnerDeletion false (README's deviation table)."""
    (start,) = pull_actions(plan(desired(), world(pending())))
    assert isinstance(start, StartImagePull)
    job = json.loads(start.manifest_json)
    assert job["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": "app-n00-old",
            "uid": "uid-app-n00-old",
            "blockOwnerDeletion": False,
        }
    ]
