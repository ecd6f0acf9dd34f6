"""The kinds a desired-state repository may hold, and the schema file of each.

Pure data. Identity rules (namespaced or cluster-scoped) live here too.
"""

from __future__ import annotations

from dataclasses import dataclass

GITOPS_EDGE_V1ALPHA1 = "gitops-edge.io/v1alpha1"
OPERATIONS_V1ALPHA1 = "operations.kubeedge.io/v1alpha1"
OPERATIONS_V1ALPHA2 = "operations.kubeedge.io/v1alpha2"


@dataclass(frozen=True, slots=True)
class Kind:
    api_version: str
    kind: str
    schema_file: str
    namespaced: bool

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]


KINDS: dict[tuple[str, str], Kind] = {
    (k.api_version, k.kind): k
    for k in (
        Kind(
            GITOPS_EDGE_V1ALPHA1,
            "RepositoryConfig",
            "repositoryconfig.gitops-edge.io.v1alpha1.schema.json",
            False,
        ),
        Kind(
            GITOPS_EDGE_V1ALPHA1,
            "NodeGroup",
            "nodegroup.gitops-edge.io.v1alpha1.schema.json",
            False,
        ),
        Kind(
            GITOPS_EDGE_V1ALPHA1,
            "EdgeDaemonSet",
            "edgedaemonset.gitops-edge.io.v1alpha1.schema.json",
            True,
        ),
        Kind("apps/v1", "DaemonSet", "daemonset.apps.v1.schema.json", True),
        Kind("v1", "Namespace", "namespace.v1.schema.json", False),
        Kind(
            OPERATIONS_V1ALPHA1,
            "NodeUpgradeJob",
            "nodeupgradejob.operations.kubeedge.io.v1alpha1.schema.json",
            False,
        ),
        Kind(
            OPERATIONS_V1ALPHA2,
            "NodeUpgradeJob",
            "nodeupgradejob.operations.kubeedge.io.v1alpha2.schema.json",
            False,
        ),
        Kind(
            OPERATIONS_V1ALPHA1,
            "ImagePrePullJob",
            "imageprepulljob.operations.kubeedge.io.v1alpha1.schema.json",
            False,
        ),
        Kind(
            OPERATIONS_V1ALPHA2,
            "ImagePrePullJob",
            "imageprepulljob.operations.kubeedge.io.v1alpha2.schema.json",
            False,
        ),
        Kind(
            OPERATIONS_V1ALPHA2,
            "ConfigUpdateJob",
            "configupdatejob.operations.kubeedge.io.v1alpha2.schema.json",
            False,
        ),
    )
}

JOB_KINDS = ("NodeUpgradeJob", "ImagePrePullJob", "ConfigUpdateJob")


def supported_kinds_text() -> str:
    return ", ".join(f"{k.kind} ({k.api_version})" for k in KINDS.values())
