"""The agent's owner check against OpenYurt's yurthub OTA handler (issue 19 item 10).

Upstream (`pkg/yurthub/otaupdate/ota.go`, `UpdatePod`) decides by the kind of the pod's owner
(`GetOwnerReferences()[0].Kind`): a DaemonSet pod is upgraded whether or not its ownerReference
says `controller: true`. Each remaining 400 answer says what is actually wrong with the pod.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_agent import FakeCloud, fake_pod

from gitops_edge.agent.cache import PodCache
from gitops_edge.agent.handlers import Agent, handle
from gitops_edge.agent.routes import Op, Route


def answer(tmp_path: Path, owners: list[dict[str, Any]], op: Op) -> tuple[int, str]:
    pod = fake_pod(metadata__ownerReferences=owners)
    agent = Agent(node="edge-01", cloud=FakeCloud(pod), cache=PodCache(tmp_path / "c"))
    got = handle(agent, Route(op, "default", "p"))
    return got.status, got.body.decode().rstrip("\n")


@pytest.mark.parametrize(
    ("op", "expected"),
    [(Op.UPGRADE, "Start updating pod default/p"), (Op.IMAGEPULL, "Start pulling images")],
)
def test_upstream_yurthub_upgrades_a_daemonset_pod_whose_owner_reference_is_not_controller(
    tmp_path: Path, op: Op, expected: str
) -> None:
    owners = [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "ds", "uid": "d"}]
    status, body = answer(tmp_path, owners, op)
    assert status == 200 and body.startswith(expected)


@pytest.mark.parametrize(
    ("owners", "message"),
    [
        (
            [],
            "pod default/p has no ownerReferences (a bare pod): only pods of a DaemonSet can "
            "be upgraded through the agent",
        ),
        (
            [{"kind": "ReplicaSet", "name": "web-5d8", "controller": True}],
            "pod default/p is owned by ReplicaSet web-5d8 (its controller), not a DaemonSet: "
            "only pods of a DaemonSet can be upgraded through the agent",
        ),
        (  # a DaemonSet listed too does not make another controller's pod a DaemonSet pod
            [
                {"kind": "DaemonSet", "name": "ds"},
                {"kind": "ReplicaSet", "name": "web-5d8", "controller": True},
            ],
            "pod default/p is owned by ReplicaSet web-5d8 (its controller), not a DaemonSet: "
            "only pods of a DaemonSet can be upgraded through the agent",
        ),
        (  # no controller: the first owner decides, as upstream's [0]
            [{"kind": "ConfigMap", "name": "settings"}, {"kind": "DaemonSet", "name": "ds"}],
            "pod default/p is owned by ConfigMap settings (its first owner; none is marked "
            "controller), not a DaemonSet: only pods of a DaemonSet can be upgraded through "
            "the agent",
        ),
        (
            [{"kind": "Node", "name": "edge-01", "controller": True}],
            "pod default/p is a static pod (owned by Node edge-01): the agent upgrades only pods "
            "of a DaemonSet, not static pods (OpenYurt's static-pod OTA is not supported)",
        ),
        (
            [{"name": "x", "controller": True}],
            "pod default/p has an ownerReference without a kind: only pods of a DaemonSet can "
            "be upgraded through the agent",
        ),
    ],
)
@pytest.mark.parametrize("op", [Op.UPGRADE, Op.IMAGEPULL])
def test_upstream_yurthub_answers_400_naming_what_is_wrong_with_the_owner(
    tmp_path: Path, owners: list[dict[str, Any]], message: str, op: Op
) -> None:
    assert answer(tmp_path, owners, op) == (400, message)
