"""An API server that cannot be reached or refuses the credentials, a kubeconfig that does not
exist and a context it does not have: `plan`, `reconcile --once`, `status --cluster` and
`agent` say so in one line, as kubectl would, and exit 2 (a usage or I/O error), with no
traceback and no credentials in the message."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kube_standin import running, write_kubeconfig

from gitops_edge.cli.main import main
from gitops_edge.cluster import kube

EXAMPLE = Path(__file__).resolve().parent.parent / "example-repo"
TOKEN = "not-a-secret"  # the stand-in kubeconfig's token: must never be shown


@dataclass(frozen=True)
class Case:
    kubeconfig: Path
    cluster: str  # the --cluster value
    expected: str  # the one line on stderr


def closed_port() -> int:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(params=["unreachable", "unauthorized", "no-kubeconfig", "no-such-context"])
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Case]:
    config = tmp_path / "kubeconfig"
    if request.param == "unreachable":
        port = closed_port()
        write_kubeconfig(config, f"http://127.0.0.1:{port}")
        yield Case(
            config,
            "kube",
            f"gitops-edge: error: cannot reach the Kubernetes API at http://127.0.0.1:{port}: "
            "connection refused — is the cluster running and is the kubeconfig right?",
        )
    elif request.param == "unauthorized":
        with running() as api:
            api.reject_credentials = True
            api.kubeconfig(config)
            yield Case(
                config,
                "kube",  # the kubeconfig's current context, named in the message
                "gitops-edge: error: 401 Unauthorized: the credentials in context standin were "
                f"refused by {api.url} — log in again or renew them in the kubeconfig, or pick "
                "another context with --cluster kube:CONTEXT",
            )
    elif request.param == "no-kubeconfig":
        missing = tmp_path / "no-such-kubeconfig"
        yield Case(
            missing,
            "kube:prod",
            f"gitops-edge: error: --cluster kube:prod: no usable Kubernetes configuration: the "
            f"kubeconfig {missing} does not exist; set KUBECONFIG to your cluster's kubeconfig "
            "file",
        )
    else:
        write_kubeconfig(config, "http://127.0.0.1:1")
        yield Case(
            config,
            "kube:prod",
            f"gitops-edge: error: --cluster kube:prod: no usable Kubernetes configuration: the "
            f"kubeconfig {config} has no context prod (it has: standin); name one of those, or "
            "use --cluster kube for its current context",
        )


def argv(command: str, cluster: str, tmp_path: Path) -> list[str]:
    return {
        "plan": ["plan", str(EXAMPLE), "--cluster", cluster],
        "reconcile": ["reconcile", str(EXAMPLE), "--cluster", cluster, "--once"],
        "status": ["status", str(EXAMPLE), "--cluster", cluster],
        "agent": [
            "agent",
            "--node",
            "n1",
            "--cluster",
            cluster,
            "--listen",
            "127.0.0.1:0",
            "--cache-dir",
            str(tmp_path / "agent-cache"),
        ],
    }[command]


@pytest.mark.parametrize("command", ["plan", "reconcile", "status"])
def test_api_errors_are_one_line_and_exit_2(
    command: str,
    case: Case,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(case.kubeconfig))
    monkeypatch.setattr(kube, "MAX_ATTEMPTS", 1)  # retries only delay the same message
    code = main(argv(command, case.cluster, tmp_path))
    captured = capsys.readouterr()
    assert (code, captured.err.splitlines()) == (2, [case.expected])
    assert TOKEN not in captured.err + captured.out


def run_cli(args: list[str], kubeconfig: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    return subprocess.run(
        [sys.executable, "-m", "gitops_edge", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_agent_refuses_to_start_without_a_usable_api(case: Case, tmp_path: Path) -> None:
    """As a process (a wrong agent would otherwise serve forever): exit 2, one line, no
    traceback, with the retries of a real run."""
    done = run_cli(argv("agent", case.cluster, tmp_path), case.kubeconfig)
    assert (done.returncode, done.stderr.splitlines()) == (2, [case.expected])
    assert "Traceback" not in done.stderr and TOKEN not in done.stderr + done.stdout


def test_plan_as_a_process_prints_no_traceback(tmp_path: Path) -> None:
    port = closed_port()
    config = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}")
    done = run_cli(["plan", str(EXAMPLE), "--cluster", "kube"], config)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"gitops-edge: error: cannot reach the Kubernetes API at http://127.0.0.1:{port}: "
        "connection refused — is the cluster running and is the kubeconfig right?"
    ]


def test_an_offline_agent_with_cached_pods_keeps_serving_them(tmp_path: Path) -> None:
    """DESIGN §2: the agent answers from its cache while the cloud is unreachable, restarts
    included; only an agent with nothing to serve refuses to start."""
    from gitops_edge.agent.cache import PodCache

    cache = tmp_path / "agent-cache"
    PodCache(cache / "n1.pods.json").save([{"metadata": {"name": "cached"}}])
    port = closed_port()
    config = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}")
    env = {**os.environ, "KUBECONFIG": str(config)}
    args = ["agent", "--node", "n1", "--cluster", "kube", "--listen", "127.0.0.1:0"]
    with subprocess.Popen(
        [sys.executable, "-m", "gitops_edge", *args, "--cache-dir", str(cache)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as agent:
        assert agent.stdout is not None
        listening = agent.stdout.readline()  # printed once it serves
        agent.terminate()
        _, err = agent.communicate(timeout=30)
    warning = err.splitlines()[0] if err else ""
    assert re.sub(r"^time=\S+ ", "", warning) == (  # the agent's log line (logfmt)
        f'level=warning msg="cannot reach the Kubernetes API at http://127.0.0.1:{port}: '
        "connection refused — is the cluster running and is the kubeconfig right? Serving the "
        'pods cached for n1 until it can be reached"'
    )
    assert listening.startswith("agent for node n1 listening on http://127.0.0.1:")
