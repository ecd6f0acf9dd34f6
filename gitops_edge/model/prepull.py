"""Image pre-pull Jobs (OpenYurt 1.7's `imagepull`, DESIGN §2): names, labels and the batch/v1
Job that pulls a revision's images on one node — pinned by nodeName, one container per image
with pull policy Always and command `true`, the DaemonSet's pull secrets — owned by the pod it
serves (an ownerReference, as OpenYurt's image-preheat controller sets), so the garbage
collector deletes it with the pod.

Pure functions. No side effects.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from gitops_edge.model.desired import MANAGED_BY_LABEL, MANAGED_BY_VALUE, OWNER_LABEL

PULL_POD_LABEL = "gitops-edge.io/image-pull-for"
PULL_REVISION_LABEL = "gitops-edge.io/image-pull-revision"
PULL_SUCCESS, PULL_FAIL = "PullImageSuccess", "PullImageFail"


def job_name(pod: str, revision: str) -> str:
    """`pull-<pod>-<revision>`, shortened with a digest to stay a valid 63-character name."""
    name = f"pull-{pod}-{revision}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: 63 - 9].rstrip('-.')}-{digest}"


def images_of(pod_spec: dict[str, Any]) -> tuple[str, ...]:
    """Every image of a pod spec (init containers first), each once, in order."""
    out: list[str] = []
    for key in ("initContainers", "containers"):
        for container in pod_spec.get(key) or ():
            image = container.get("image")
            if isinstance(image, str) and image not in out:
                out.append(image)
    return tuple(out)


def pull_job(
    *,
    namespace: str,
    pod: str,
    node: str,
    revision: str,
    pod_spec: dict[str, Any],
    uid: str = "",
    owner: str = "",
) -> dict[str, Any]:
    """The Job that pre-pulls the images of `pod_spec` on `node` for pod `pod` (`uid`: the
    pod's, for the Job's ownerReference; blockOwnerDeletion false, so deleting the pod never
    waits for its pull); `owner`: the source's owner identity, carried as a label like every
    object gitops-edge creates."""
    containers = [
        {
            "name": f"pull-{i}",
            "image": image,
            "imagePullPolicy": "Always",
            "command": ["true"],
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
        }
        for i, image in enumerate(images_of(pod_spec))
    ]
    spec: dict[str, Any] = {
        "nodeName": node,
        "restartPolicy": "Never",
        "tolerations": [{"operator": "Exists"}],
        "containers": containers,
    }
    if pod_spec.get("imagePullSecrets"):
        spec["imagePullSecrets"] = pod_spec["imagePullSecrets"]
    metadata: dict[str, Any] = {
        "name": job_name(pod, revision),
        "namespace": namespace,
        "labels": {
            MANAGED_BY_LABEL: MANAGED_BY_VALUE,
            PULL_POD_LABEL: pod,
            PULL_REVISION_LABEL: revision,
            **({OWNER_LABEL: owner} if owner else {}),
        },
    }
    if uid:
        metadata["ownerReferences"] = [
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": pod,
                "uid": uid,
                "blockOwnerDeletion": False,
            }
        ]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "backoffLimit": 2,
            "activeDeadlineSeconds": 900,
            "ttlSecondsAfterFinished": 3600,
            "template": {"metadata": {"labels": {PULL_POD_LABEL: pod}}, "spec": spec},
        },
    }


def pull_job_json(**kwargs: Any) -> str:
    return json.dumps(pull_job(**kwargs), sort_keys=True, separators=(",", ":"))
