"""The pure planner for KubeEdge node jobs: create absent jobs in the version their file names
(when served), report and never re-apply a changed spec, keep or prune jobs that left the
repository; and the optional pre-pull before a rollout (spec.prePull)."""

from __future__ import annotations

import json
from dataclasses import replace

from planner_fixtures import NEW, OLD, OWNER, desired_ds, fleet, observed, state

from gitops_edge.model import nodejobs as nj
from gitops_edge.model.desired import OWNER_LABEL, DesiredJob, PrePullPolicy, RepoConfig, SourceRef
from gitops_edge.model.observed import JobObs, NodeJobStatus
from gitops_edge.model.plan import CreateNodeJob, DeleteNodeJob, DeletePod, Plan
from gitops_edge.planner import plan
from gitops_edge.planner.rollout_prepull import job_name

BOTH = (nj.V1ALPHA1, nj.V1ALPHA2)


def desired_job(name: str = "up", version: str = nj.V1ALPHA1, spec_hash: str = "h1") -> DesiredJob:
    return DesiredJob(
        api_version=nj.api_version(version),
        kind=nj.UPGRADE,
        name=name,
        manifest_json=json.dumps({"kind": nj.UPGRADE, "metadata": {"name": name}}),
        spec_hash=spec_hash,
        source=SourceRef(file="jobs/up.yaml", line=3),
    )


def job_obs(
    name: str = "up",
    version: str = nj.V1ALPHA1,
    *,
    spec_hash: str = "h1",
    managed: bool = True,
    phase: str = nj.JOB_IN_PROGRESS,
    kind: str = nj.UPGRADE,
    labels: dict[str, str] | None = None,
    nodes: tuple[NodeJobStatus, ...] = (),
) -> JobObs:
    return JobObs(
        api_version=nj.api_version(version),
        kind=kind,
        name=name,
        spec_hash=spec_hash,
        managed=managed,
        phase=phase,
        nodes=nodes,
        labels=labels if labels is not None else ({OWNER_LABEL: OWNER} if managed else {}),
    )


def run(
    *jobs: DesiredJob,
    seen: tuple[JobObs, ...] = (),
    served: tuple[str, ...] = BOTH,
    prune: bool = False,
) -> Plan:
    nodes, pods = fleet(2, revision=NEW)
    desired = replace(
        state(desired_ds()), jobs=jobs, config=RepoConfig(prune_jobs=prune, owner=OWNER)
    )
    obs = replace(observed(nodes, pods), jobs=seen, job_versions=served)
    return plan(desired, obs)


def test_an_absent_job_is_created_in_its_own_version() -> None:
    result = run(desired_job(version=nj.V1ALPHA2))
    (job,) = result.jobs
    (action,) = job.actions
    assert isinstance(action, CreateNodeJob)
    assert (
        action.api_version == "operations.kubeedge.io/v1alpha2"
        and "jobs/up.yaml:3" in action.reason
    )
    assert action in result.actions


def test_a_version_the_cluster_does_not_serve_is_an_error_naming_the_fix() -> None:
    (job,) = run(desired_job(version=nj.V1ALPHA2), served=(nj.V1ALPHA1,)).jobs
    assert job.actions == ()
    assert "v1alpha2 (KubeEdge >= 1.21) is not served" in job.errors[0]
    assert "apiVersion: operations.kubeedge.io/v1alpha1" in job.errors[0]
    (job,) = run(desired_job(), served=()).jobs
    assert "node job CRDs are not installed" in job.errors[0]


def test_an_existing_job_is_reported_and_a_changed_spec_is_not_applied() -> None:
    nodes = (NodeJobStatus(node="a", phase=nj.NODE_SUCCESSFUL),)
    (job,) = run(desired_job(), seen=(job_obs(nodes=nodes),)).jobs
    assert job.actions == () and job.notes == () and job.nodes == nodes
    (job,) = run(desired_job(spec_hash="h2"), seen=(job_obs(),)).jobs
    assert job.actions == () and "immutable" in job.notes[0] and "new name" in job.notes[0]
    (job,) = run(desired_job(version=nj.V1ALPHA2), seen=(job_obs(),)).jobs
    assert job.actions == () and "created as operations.kubeedge.io/v1alpha1" in job.notes[0]


def test_a_job_of_the_same_name_not_created_by_us_is_an_error() -> None:
    (job,) = run(desired_job(), seen=(job_obs(managed=False),)).jobs
    assert job.actions == () and "not created by gitops-edge" in job.errors[0]


def test_a_job_that_left_the_repository_stays_unless_pruning_is_on() -> None:
    kept = run(seen=(job_obs(),)).jobs
    assert kept[0].actions == () and "prune.jobs: true" in kept[0].notes[0]
    (pruned,) = run(seen=(job_obs(),), prune=True).jobs
    assert isinstance(pruned.actions[0], DeleteNodeJob)
    assert run(seen=(job_obs(managed=False),), prune=True).jobs == ()  # not ours: untouched


# ── pre-pull before a rollout ─────────────────────────────────────────────────────────────────

POLICY = PrePullPolicy(concurrency=2, timeout_seconds=120, failure_tolerate="0.2", retry_times=1)
MANIFEST = json.dumps(
    {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "r.io/app:2"}]}}}}
)


def rollout(*seen: JobObs, served: tuple[str, ...] = BOTH, not_ready: tuple[int, ...] = ()) -> Plan:
    ds = replace(desired_ds(), prepull=POLICY, manifest_json=MANIFEST)
    nodes, pods = fleet(4, revision=OLD, not_ready=not_ready)
    obs = replace(observed(nodes, pods), jobs=seen, job_versions=served)
    return plan(state(ds), obs)


def prepull_obs(phase: str, revision: str = NEW, **kwargs: object) -> JobObs:
    return job_obs(
        job_name("edge", "app", revision),
        nj.V1ALPHA2,
        kind=nj.PREPULL,
        phase=phase,
        labels={nj.PREPULL_FOR_LABEL: "true"},
        **kwargs,  # type: ignore[arg-type]
    )


def test_prepull_is_created_first_and_no_pod_moves_until_it_completes() -> None:
    result = rollout(not_ready=(3,))
    (ds,) = result.daemonsets
    assert ds.actions == () and "waiting for the pre-pull" in ds.notes[0]
    (job,) = ds.prepull
    (create,) = job.actions
    assert isinstance(create, CreateNodeJob) and create.api_version.endswith("v1alpha2")
    manifest = json.loads(create.manifest_json)
    template = manifest["spec"]["imagePrePullTemplate"]
    assert template["nodeNames"] == ["n00", "n01", "n02"]  # Ready nodes with an old pod
    assert template["images"] == ["r.io/app:2"]
    assert (template["concurrency"], template["failureTolerate"], template["retryTimes"]) == (
        2,
        "0.2",
        1,
    )
    assert manifest["metadata"]["labels"][nj.PREPULL_FOR_LABEL] == "true"
    assert result.actions[0] == create and result.jobs == ()
    waiting = rollout(prepull_obs(nj.JOB_IN_PROGRESS))
    assert waiting.daemonsets[0].actions == () and waiting.daemonsets[0].prepull[0].actions == ()


def test_pods_move_once_the_prepull_completed() -> None:
    (ds,) = rollout(prepull_obs(nj.JOB_COMPLETED)).daemonsets
    assert any(isinstance(a, DeletePod) for a in ds.actions) and ds.errors == ()


def test_a_failed_prepull_halts_the_group_with_the_reason() -> None:
    failed = (NodeJobStatus(node="n00", phase=nj.NODE_FAILURE, reason="pull failed"),)
    (ds,) = rollout(prepull_obs(nj.JOB_FAILURE, nodes=failed)).daemonsets
    assert ds.actions == ()
    assert "halted" in ds.errors[0] and "1/1 nodes failed" in ds.errors[0]


def test_prepull_uses_v1alpha1_on_older_kubeedge_and_halts_without_crds() -> None:
    (ds,) = rollout(served=(nj.V1ALPHA1,)).daemonsets
    assert ds.prepull[0].api_version.endswith("v1alpha1")
    (ds,) = rollout(served=()).daemonsets
    assert ds.actions == () and "CRDs are not installed" in ds.errors[0]


def test_finished_prepulls_of_older_revisions_are_deleted_and_never_reported_as_repo_jobs() -> None:
    old = prepull_obs(nj.JOB_COMPLETED, revision="older")
    result = rollout(old, prepull_obs(nj.JOB_COMPLETED))
    (ds,) = result.daemonsets
    deletes = [a for j in ds.prepull for a in j.actions if isinstance(a, DeleteNodeJob)]
    assert [d.name for d in deletes] == [job_name("edge", "app", "older")]
    assert result.jobs == ()


def test_without_prepull_or_outdated_pods_there_is_no_job() -> None:
    nodes, pods = fleet(3, revision=NEW)
    ds = replace(desired_ds(), prepull=POLICY, manifest_json=MANIFEST)
    obs = replace(observed(nodes, pods), job_versions=BOTH)
    assert plan(state(ds), obs).daemonsets[0].prepull == ()


def selecting_everything(version: str, kind: str = nj.UPGRADE) -> DesiredJob:
    body: dict[str, object] = {"labelSelector": {}}
    if kind == nj.PREPULL:
        body = {"imagePrePullTemplate": {"images": ["docker.io/library/nginx:1.25"], **body}}
    manifest = {"apiVersion": nj.api_version(version), "kind": kind, "spec": body}
    return replace(desired_job(version=version), kind=kind, manifest_json=json.dumps(manifest))


def test_upstream_empty_label_selector_is_planned_with_a_note_naming_how_many_nodes() -> None:
    for version in BOTH:
        for kind in (nj.UPGRADE, nj.PREPULL):
            (job,) = run(selecting_everything(version, kind)).jobs
            assert [type(a) for a in job.actions] == [CreateNodeJob]
            assert job.notes == (
                "labelSelector {} selects every node of the cluster: all 2 nodes "
                "(KubeEdge reads an empty selector so)",
            )
    existing = job_obs()  # already created: nothing to warn about any more
    assert run(selecting_everything(nj.V1ALPHA1), seen=(existing,)).jobs[0].notes == ()
