"""What the agent does for each route (DESIGN §2), in the documented order of checks.

`upgrade`: cloud unreachable → 503; pod not found → 404 (clearer than upstream's 500; any
other failure to fetch → 500); pod being deleted, on another node, `PodNeedUpgrade` not True, or
a pre-pull for another revision / not yet successful → 403; no ownerReferences → 400; owner not
a DaemonSet → 400 (the owner that counts: the controller, else the first, as upstream yurthub
looks at the kind, not at `controller: true`; the message names it); delete fails → 500; else
200 `Start updating pod {ns}/{pod}`.
`imagepull`: the same 503/404/500/403/400 checks (without the pre-pull one), then the pod is
marked `PodImageReady=False`, message `controllerrevision: <hash>`; 200
`Start pulling images for pod {ns}/{pod}`. `GET /healthz`: 200 when `GET /pods` can be answered
(a usable cache, else a cloud that answers a list), 503 when not; it acts on no pod.
`GET /pods`: a v1 PodList of this node's pods from
the cloud, saved to the local cache (a cache that cannot be written is noted in the log line,
the answer stands); from the cache while the cloud is unreachable.
Any other failure of the cloud client — not an answer of the API but e.g. a damaged simulated
state file — counts as the cloud being unreachable: `GET /pods` answers from the cache (else
503) and the pod actions answer 503, never 500; so does a pod of the wrong shape.
Side effects: calls the NodeClient (cloud) and the PodCache (disk).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from gitops_edge.agent.cache import PodCache
from gitops_edge.agent.routes import Op, Response, Route, shown, text
from gitops_edge.cluster.base import CloudUnreachableError, ClusterError, NodeClient, NotFoundError
from gitops_edge.model.observed import POD_IMAGE_READY, POD_NEED_UPGRADE, Condition

REVISION_PREFIX = "controllerrevision: "
UNREACHABLE = "the cloud is unreachable: try again when the node is back online"


@dataclass(frozen=True, slots=True)
class Agent:
    node: str
    cloud: NodeClient
    cache: PodCache


def handle(agent: Agent, target: Route) -> Response:
    if target.op is Op.LIST:
        return _list(agent)
    if target.op is Op.HEALTH:
        return _health(agent)
    return _pod_action(agent, target)


def _pod_list(items: list[dict[str, Any]], source: str) -> Response:
    body = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}
    return Response(
        status=200,
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers=(("X-Gitops-Edge-Source", source),),
    )


def _from_cache(agent: Agent, why: str, *, note: str = "") -> Response:
    cached = agent.cache.load()
    if cached is None:
        return replace(text(503, f"{why} and no pods are cached yet"), note=note)
    return replace(_pod_list(cached, "cache"), note=note)


def _failure(exc: Exception) -> str:
    return f"the cloud cannot be read: {type(exc).__name__}: {shown(str(exc), 200)}"


def _list(agent: Agent) -> Response:
    try:
        pods = agent.cloud.list_pods()
    except CloudUnreachableError:
        return _from_cache(agent, "the cloud is unreachable")
    except ClusterError as exc:
        return text(500, f"cannot list pods: {exc}")
    except Exception as exc:  # the client itself failed: as good as unreachable
        return _from_cache(agent, "the cloud cannot be read", note=_failure(exc))
    try:
        agent.cache.save(pods)
    except OSError as exc:
        return replace(_pod_list(pods, "cloud"), note=f"cache not saved: {exc}")
    return _pod_list(pods, "cloud")


def _health(agent: Agent) -> Response:
    """200 when `GET /pods` can be answered: from the local cache (read first: a probe every
    few seconds on every node must not load the API server), else from the cloud (one list,
    nothing saved, no pod touched); 503 when neither."""
    if agent.cache.load() is not None:
        return text(200, "ok: serving (pods cached for offline answers)")
    try:
        agent.cloud.list_pods()
    except Exception as exc:  # unreachable, refused, or the client itself failed
        return replace(
            text(503, "cannot serve: the cloud cannot be read and no pods are cached yet"),
            note=_failure(exc),
        )
    return text(200, "ok: serving from the cloud (no pods cached yet)")


def _condition(pod: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for cond in (pod.get("status") or {}).get("conditions") or ():
        if cond.get("type") == type_:
            return dict(cond)
    return None


_UNREADABLE = text(503, "the cloud cannot be read: try again later")


def _unreadable(exc: Exception) -> Response:
    return replace(_UNREADABLE, note=_failure(exc))


def _malformed(pod: Any) -> str:
    """Why a pod object from the cloud cannot be checked; empty when it can."""
    if not isinstance(pod, dict):
        return f"not an object but {type(pod).__name__}"
    for key in ("metadata", "spec", "status"):
        if not isinstance(pod.get(key) or {}, dict):
            return f"{key} is not an object"
    lists = (
        ("metadata.ownerReferences", (pod.get("metadata") or {}).get("ownerReferences")),
        ("status.conditions", (pod.get("status") or {}).get("conditions")),
    )
    for path, items in lists:
        if not isinstance(items or [], list) or not all(isinstance(i, dict) for i in items or []):
            return f"{path} is not a list of objects"
    return ""


def _pod_action(agent: Agent, target: Route) -> Response:
    ident = f"{target.namespace}/{target.pod}"
    try:
        pod = agent.cloud.get_pod(target.namespace, target.pod)
    except CloudUnreachableError:
        return text(503, UNREACHABLE)
    except NotFoundError:
        return text(404, f"pod {ident} not found")
    except ClusterError as exc:
        return text(500, f"cannot get pod {ident}: {exc}")
    except Exception as exc:  # the client itself failed: as good as unreachable
        return _unreadable(exc)
    malformed = _malformed(pod)
    if malformed:  # e.g. from a damaged simulated state file: unreadable, not our failure
        return replace(_UNREADABLE, note=f"pod {shown(ident)} from the cloud: {malformed}")
    meta = pod.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return text(403, f"pod {ident} is being deleted")
    if (pod.get("spec") or {}).get("nodeName") != agent.node:
        return text(403, f"pod {ident} is not on this node ({agent.node})")
    need = _condition(pod, POD_NEED_UPGRADE)
    if need is None or need.get("status") != "True":
        return text(403, f"pod {ident} does not need an upgrade (PodNeedUpgrade is not True)")
    revision = str(need.get("message", "")).removeprefix(REVISION_PREFIX)
    if target.op is Op.UPGRADE:
        refused = _prepull_refusal(pod, revision)
        if refused:
            return text(403, f"pod {ident}: {refused}")
    not_a_daemon_pod = _owner_refusal(meta.get("ownerReferences") or [])
    if not_a_daemon_pod:
        return text(400, f"pod {ident} {not_a_daemon_pod}")
    if target.op is Op.UPGRADE:
        return _delete(agent, target, uid=str(meta.get("uid", "")))
    return _mark_pull(agent, target, uid=str(meta.get("uid", "")), revision=revision)


ONLY_DAEMON_PODS = "only pods of a DaemonSet can be upgraded through the agent"


def _owner_refusal(owners: list[dict[str, Any]]) -> str:
    """Why the pod is not a DaemonSet's (empty when it is). The owner that decides is the
    controller, else the first one: upstream yurthub looks at the kind of `ownerReferences[0]`
    and upgrades a DaemonSet's pod whether or not its reference says `controller: true`."""
    if not owners:
        return f"has no ownerReferences (a bare pod): {ONLY_DAEMON_PODS}"
    controller = next((o for o in owners if o.get("controller") is True), None)
    owner = controller or owners[0]
    kind, name = owner.get("kind"), owner.get("name")
    if not isinstance(kind, str) or not kind:
        return f"has an ownerReference without a kind: {ONLY_DAEMON_PODS}"
    if kind == "DaemonSet":
        return ""
    named = f"{kind} {name}" if isinstance(name, str) and name else kind
    if kind == "Node":
        return (
            f"is a static pod (owned by {named}): the agent upgrades only pods of a DaemonSet, "
            "not static pods (OpenYurt's static-pod OTA is not supported)"
        )
    which = "its controller" if controller else "its first owner; none is marked controller"
    return f"is owned by {named} ({which}), not a DaemonSet: {ONLY_DAEMON_PODS}"


def _prepull_refusal(pod: dict[str, Any], revision: str) -> str:
    image = _condition(pod, POD_IMAGE_READY)
    if image is None:
        return ""
    named = str(image.get("message", "")).removeprefix(REVISION_PREFIX)
    if named != revision:
        return f"images were pre-pulled for revision {named}, not {revision}: pull again first"
    if image.get("status") != "True":
        state = "failed" if image.get("reason") == "PullImageFail" else "is still running"
        return f"the image pre-pull for revision {revision} {state}"
    return ""


def _delete(agent: Agent, target: Route, *, uid: str) -> Response:
    ident = f"{target.namespace}/{target.pod}"
    try:
        agent.cloud.delete_pod(target.namespace, target.pod, uid)
    except CloudUnreachableError:
        return text(503, UNREACHABLE)
    except ClusterError as exc:
        return text(500, f"cannot delete pod {ident}: {exc}")
    except Exception as exc:
        return _unreadable(exc)
    return text(200, f"Start updating pod {ident}")


def _mark_pull(agent: Agent, target: Route, *, uid: str, revision: str) -> Response:
    ident = f"{target.namespace}/{target.pod}"
    try:
        condition = Condition(
            type=POD_IMAGE_READY,
            status="False",
            message=f"{REVISION_PREFIX}{revision}",
            last_transition_time=agent.cloud.now(),
        )
        agent.cloud.set_pod_condition(target.namespace, target.pod, uid, condition)
    except CloudUnreachableError:
        return text(503, UNREACHABLE)
    except ClusterError as exc:
        return text(500, f"cannot mark pod {ident}: {exc}")
    except Exception as exc:
        return _unreadable(exc)
    return text(200, f"Start pulling images for pod {ident}")
