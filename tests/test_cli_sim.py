"""The `gitops-edge sim` command line: init, node, tick, image, show; exit codes and messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gitops_edge.cli.main import main
from gitops_edge.cluster.sim import SimCluster


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_sim_cli_init_node_tick_image_show(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(tmp_path / "f.json")
    code, out, _ = cli(
        capsys, "sim", "init", state, "--groups", "hz=3,sh=2", "--not-ready", "1", "--seed", "4"
    )
    assert code == 0 and "5 nodes in 2 groups, 1 NotReady" in out
    assert cli(capsys, "sim", "node", state, "hz-01", "--not-ready")[0] == 0
    assert cli(capsys, "sim", "tick", state, "--seconds", "30")[0] == 0
    assert cli(capsys, "sim", "image", state, "x/y:1", "--broken")[0] == 0
    code, out, _ = cli(capsys, "sim", "show", state, "--format", "json")
    data = json.loads(out)
    assert data["now"] == "2026-01-01T00:00:30Z"
    hz01 = next(n for n in data["nodes"] if n["name"] == "hz-01")
    assert hz01 == {
        "name": "hz-01",
        "labels": hz01["labels"],
        "ready": False,
        "edgeVersion": "v1.29.5-kubeedge-v1.15.1",
        "images": [],
    }
    assert hz01["labels"]["apps.openyurt.io/nodepool"] == "hz"
    assert data["daemonsets"] == [] and data["pods"] == []
    code, out, _ = cli(capsys, "sim", "show", state)
    assert code == 0 and "hz" in out and "NOT READY" in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--groups", "hz"], "NAME=COUNT"),
        (["--groups", "Bad_Name=2"], "DNS label"),
        (["--groups", "hz=0"], "at least 1"),
        (["--groups", "hz=2,hz=3"], "twice"),
        (["--groups", "hz=2", "--not-ready", "3"], "has 2 nodes"),
    ],
)
def test_sim_init_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    path = tmp_path / "f.json"
    code, _, err = cli(capsys, "sim", "init", str(path), *argv)
    assert code == 2 and needle in err
    assert not path.exists()


def test_sim_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = str(tmp_path / "f.json")
    code, _, err = cli(capsys, "sim", "tick", state)
    assert code == 2 and "sim init" in err
    cli(capsys, "sim", "init", state, "--groups", "hz=2")
    code, _, err = cli(capsys, "sim", "node", state, "nope", "--ready")
    assert code == 2 and "no node 'nope'" in err and "hz-01" in err
    code, _, err = cli(capsys, "sim", "init", state, "--groups", "hz=2")
    assert code == 2 and "--force" in err


def _fleet_file(tmp_path: Path) -> str:
    fleet = SimCluster.create(namespaces=("edge",), groups=[("hz", 2), ("sh", 1)])
    fleet.apply_daemonset(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "edge"},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "updateStrategy": {"type": "OnDelete"},
                "template": {
                    "metadata": {"labels": {"app": "agent"}},
                    "spec": {"containers": [{"name": "a", "image": "r.example.com/agent:1"}]},
                },
            },
        }
    )
    path = tmp_path / "fleet.json"
    SimCluster.init_file(path, fleet)
    return str(path)


def test_sim_show_json_lists_daemonsets_and_pods(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _fleet_file(tmp_path)
    assert cli(capsys, "sim", "tick", state)[0] == 0  # default 10 s: pods are Ready
    code, out, _ = cli(capsys, "sim", "show", state, "--format", "json")
    data: dict[str, Any] = json.loads(out)
    assert code == 0 and data["now"] == "2026-01-01T00:00:10Z"
    [ds] = data["daemonsets"]
    assert ds["namespace"] == "edge" and ds["name"] == "agent"
    assert ds["updateStrategy"] == "OnDelete" and len(ds["currentRevision"]) == 10
    assert (ds["desired"], ds["ready"], ds["updated"]) == (3, 3, 3)
    assert sorted(p["node"] for p in data["pods"]) == ["hz-01", "hz-02", "sh-01"]
    pod = data["pods"][0]
    assert pod["owner"] == "agent" and pod["revision"] == ds["currentRevision"]
    assert pod["ready"] is True and pod["deleting"] is False
    assert pod["conditions"] == [
        {
            "type": "Ready",
            "status": "True",
            "message": "",
            "lastTransitionTime": "2026-01-01T00:00:05Z",
        },
        {  # bound by the scheduler as soon as it was created (scheduling delay 0)
            "type": "PodScheduled",
            "status": "True",
            "message": "",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        },
    ]


def test_sim_show_text_is_aligned_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _fleet_file(tmp_path)
    cli(capsys, "sim", "node", state, "sh-01", "--not-ready")
    code, out, _ = cli(capsys, "sim", "show", state)
    assert code == 0
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("GROUP"))
    hz = next(line for line in lines if line.startswith("hz "))
    sh = next(line for line in lines if line.startswith("sh "))
    assert len(hz) <= len(header) and hz.split() == ["hz", "2", "2"]
    assert sh.split() == ["sh", "1", "0", "sh-01"]
    assert any(line.startswith("edge/agent ") for line in lines)
    assert "3 pods, 0 Terminating" in out


def test_sim_show_does_not_rewrite_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _fleet_file(tmp_path)
    before = Path(state).stat().st_mtime_ns, Path(state).read_bytes()
    assert cli(capsys, "sim", "show", state)[0] == 0
    assert (Path(state).stat().st_mtime_ns, Path(state).read_bytes()) == before


def test_sim_image_broken_then_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = _fleet_file(tmp_path)
    code, out, _ = cli(capsys, "sim", "image", state, "r.example.com/agent:1", "--broken")
    assert code == 0 and "r.example.com/agent:1 is broken" in out
    cli(capsys, "sim", "tick", state, "--seconds", "60")
    show = json.loads(cli(capsys, "sim", "show", state, "--format", "json")[1])
    assert not any(p["ready"] for p in show["pods"])
    code, out, _ = cli(capsys, "sim", "image", state, "r.example.com/agent:1", "--ok")
    assert code == 0 and "is ok" in out
    cli(capsys, "sim", "tick", state, "--seconds", "5")
    show = json.loads(cli(capsys, "sim", "show", state, "--format", "json")[1])
    assert all(p["ready"] for p in show["pods"])


def test_sim_init_group_labels_and_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(tmp_path / "f.json")
    code, _, _ = cli(
        capsys,
        "sim",
        "init",
        state,
        "--groups",
        "hz=2",
        "--group-label",
        "topology.example.com/region",
        "--group-label",
        "apps.openyurt.io/nodepool",
        "--ready-delay",
        "2",
    )
    assert code == 0
    with SimCluster.open(Path(state), read_only=True) as cluster:
        node = cluster.observe().nodes[0]
    assert node.labels["topology.example.com/region"] == "hz"
    assert node.labels["apps.openyurt.io/nodepool"] == "hz"
    assert node.labels["kubernetes.io/hostname"] == "hz-01"
    assert "node-role.kubernetes.io/edge" in node.labels
    assert node.edge_version.startswith("v1.29.5-kubeedge-")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["tick", "{f}", "--seconds", "-1"], "forward"),
        (["show", "{f}"], "not a simulated cluster"),
        (["node", "{f}", "hz-01", "--ready"], "not a simulated cluster"),
    ],
)
def test_sim_cli_bad_input_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    state = tmp_path / "f.json"
    if argv[0] == "tick":
        cli(capsys, "sim", "init", str(state), "--groups", "hz=2")
    else:
        state.write_text("{broken")
    code, out, err = cli(capsys, "sim", *(a.replace("{f}", str(state)) for a in argv))
    assert code == 2 and needle in err and out == ""


def test_sim_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    state = str(tmp_path / "f.json")
    with pytest.raises(SystemExit) as exc:
        main(["sim", "node", state, "hz-01"])  # neither --ready nor --not-ready
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["sim", "show", state, "--format", "yaml"])
    assert exc.value.code == 2
    capsys.readouterr()


def _delete_first_pod(state: str) -> str:
    with SimCluster.open(Path(state)) as cluster:
        pod = cluster.observe().pods[0]
        cluster.delete_pod(pod.namespace, pod.name, pod.uid)
        return pod.node


def test_sim_controller_stop_start_and_scheduler_delay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _fleet_file(tmp_path)
    code, out, _ = cli(capsys, "sim", "controller", state, "stop")
    assert code == 0 and "DaemonSet controller stopped" in out
    node = _delete_first_pod(state)
    cli(capsys, "sim", "tick", state, "--seconds", "60")
    show = json.loads(cli(capsys, "sim", "show", state, "--format", "json")[1])
    assert node not in {p["node"] for p in show["pods"]}  # not recreated
    code, out, _ = cli(capsys, "sim", "scheduler", state, "--delay", "30")
    assert code == 0 and "new pods wait 30 s for the scheduler" in out
    assert cli(capsys, "sim", "controller", state, "start")[0] == 0
    with SimCluster.open(Path(state), read_only=True) as cluster:
        (waiting,) = [p for p in cluster.observe().pods if p.node == node]
        assert not waiting.bound and not waiting.ready  # Pending, pinned to its node
    cli(capsys, "sim", "tick", state, "--seconds", "40")
    with SimCluster.open(Path(state), read_only=True) as cluster:
        (bound,) = [p for p in cluster.observe().pods if p.node == node]
        assert bound.bound and bound.ready


def test_sim_image_unschedulable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = _fleet_file(tmp_path)
    code, out, _ = cli(capsys, "sim", "image", state, "r.example.com/agent:1", "--unschedulable")
    assert code == 0 and "r.example.com/agent:1 is unschedulable" in out
    node = _delete_first_pod(state)
    cli(capsys, "sim", "tick", state, "--seconds", "60")
    with SimCluster.open(Path(state), read_only=True) as cluster:
        (waiting,) = [p for p in cluster.observe().pods if p.node == node]
        assert not waiting.bound
        assert waiting.condition("PodScheduled") is not None
    assert cli(capsys, "sim", "image", state, "r.example.com/agent:1", "--ok")[0] == 0
    cli(capsys, "sim", "tick", state, "--seconds", "10")
    with SimCluster.open(Path(state), read_only=True) as cluster:
        assert all(p.bound and p.ready for p in cluster.observe().pods)
