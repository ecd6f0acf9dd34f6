"""KubeEdge node-job semantics that differ between v1alpha1 and v1alpha2 (DESIGN §4): defaults,
the two failure-tolerance formulas, and reading each version's status shape."""

from __future__ import annotations

from typing import Any

import pytest

from gitops_edge.cluster.k8s_objects import node_job_from
from gitops_edge.model import nodejobs as nj


def job(version: str, kind: str = nj.UPGRADE, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"nodeNames": ["a"], **spec}
    if kind == nj.PREPULL:
        body = {"imagePrePullTemplate": {"images": ["docker.io/library/nginx:1.25"], **body}}
    else:
        body = {"version": "v1.16.0", **body}
    return {"apiVersion": nj.api_version(version), "kind": kind, "spec": body}


def test_v1alpha1_defaults() -> None:
    spec = nj.job_spec(job(nj.V1ALPHA1))
    assert (spec.concurrency, spec.timeout_seconds, spec.failure_tolerate) == (1, 300, 0.1)
    assert spec.version == nj.V1ALPHA1 and spec.target_version == "v1.16.0"


def test_v1alpha2_empty_failure_tolerate_means_zero() -> None:
    assert nj.job_spec(job(nj.V1ALPHA2)).failure_tolerate == 0.0
    assert nj.job_spec(job(nj.V1ALPHA2, failureTolerate="")).failure_tolerate == 0.0
    assert nj.job_spec(job(nj.V1ALPHA1, failureTolerate="")).failure_tolerate == 0.1


def test_timeout_zero_means_300_and_prepull_fields_are_read() -> None:
    spec = nj.job_spec(job(nj.V1ALPHA1, nj.PREPULL, timeoutSeconds=0, retryTimes=2, concurrency=3))
    assert (spec.timeout_seconds, spec.retry_times, spec.concurrency) == (300, 2, 3)
    assert spec.images == ("docker.io/library/nginx:1.25",)


def test_require_confirmation_exists_only_in_v1alpha2() -> None:
    assert nj.job_spec(job(nj.V1ALPHA2, requireConfirmation=True)).require_confirmation
    assert not nj.job_spec(job(nj.V1ALPHA1, requireConfirmation=True)).require_confirmation


@pytest.mark.parametrize(
    ("failed", "total", "tolerate", "exceeded"),
    [
        (0, 10, 0.1, False),
        (1, 10, 0.1, True),  # 1 >= 10 x 0.1
        (1, 6, 0.3, False),  # 1 < 1.8
        (2, 6, 0.3, True),
        (0, 4, 0.0, False),  # upstream would stop here; we stop only once a node failed
        (1, 4, 0.0, True),
    ],
)
def test_v1alpha1_tolerance(failed: int, total: int, tolerate: float, exceeded: bool) -> None:
    assert nj.v1alpha1_tolerance_exceeded(failed=failed, total=total, tolerate=tolerate) is exceeded


@pytest.mark.parametrize(
    ("total", "processing", "failed", "tolerate", "phase"),
    [
        (3, 1, 2, 0.0, nj.JOB_IN_PROGRESS),  # never decided while nodes still run
        (3, 0, 0, 0.0, nj.JOB_COMPLETED),
        (3, 0, 1, 0.5, nj.JOB_COMPLETED),  # 0.33 <= 0.5
        (3, 0, 2, 0.5, nj.JOB_FAILURE),  # 0.67 > 0.5 (Unknown counts as failed)
        (3, 0, 1, 0.33, nj.JOB_COMPLETED),  # 1/3 rounds to 0.33: not greater
        (6, 0, 1, 0.16, nj.JOB_FAILURE),  # 1/6 rounds to 0.17
        (10, 0, 1, 0.1, nj.JOB_COMPLETED),  # equal is tolerated (v1alpha1 would fail)
        (0, 0, 0, 0.5, nj.JOB_FAILURE),
    ],
)
def test_v1alpha2_phase(
    total: int, processing: int, failed: int, tolerate: float, phase: str
) -> None:
    got = nj.v1alpha2_phase(total=total, processing=processing, failed=failed, tolerate=tolerate)
    assert got == phase


def test_reading_v1alpha1_and_v1alpha2_status_shapes() -> None:
    v1 = node_job_from(
        {
            "apiVersion": "operations.kubeedge.io/v1alpha1",
            "kind": "ImagePrePullJob",
            "metadata": {"name": "p", "labels": {"app.kubernetes.io/managed-by": "gitops-edge"}},
            "status": {
                "state": "Pulling",
                "status": [
                    {
                        "nodeStatus": {"nodeName": "a", "state": "Failed", "reason": "x"},
                        "imageStatus": [{"image": "i", "state": "Failed", "reason": "404"}],
                    },
                    {"nodeStatus": {"nodeName": "b", "state": "Checking"}},
                ],
            },
        }
    )
    assert (v1.phase, v1.state, v1.managed) == (nj.JOB_IN_PROGRESS, "Pulling", True)
    assert [(n.node, n.phase) for n in v1.nodes] == [("a", "Failure"), ("b", "InProgress")]
    assert v1.nodes[0].images[0].ok is False and v1.nodes[0].images[0].reason == "404"
    v2 = node_job_from(
        {
            "apiVersion": "operations.kubeedge.io/v1alpha2",
            "kind": "NodeUpgradeJob",
            "metadata": {"name": "u"},
            "status": {
                "phase": "Failure",
                "reason": "too many",
                "nodeStatus": [
                    {
                        "nodeName": "a",
                        "phase": "Unknown",
                        "reason": "timeout",
                        "actionFlow": [{"action": "Check", "status": "True"}],
                    }
                ],
            },
        }
    )
    assert (v2.phase, v2.reason, v2.managed) == (nj.JOB_FAILURE, "too many", False)
    assert v2.nodes[0].phase == nj.NODE_UNKNOWN and v2.nodes[0].step == "Check"
    fresh = node_job_from(
        {"apiVersion": nj.api_version(nj.V1ALPHA1), "kind": nj.UPGRADE, "metadata": {"name": "n"}}
    )
    assert fresh.phase == "" and fresh.nodes == ()
