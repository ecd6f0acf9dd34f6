"""kubectl's and flux's command-line conventions (issue 18 item 5): `version` (client, and the
server's with a cluster), `-o/--output` beside `--format`, `--kubeconfig` and `--context`
beside `--cluster kube:CONTEXT` (conflicts refused, an unknown context listing those that
exist), an example in every command's `--help`, and `plan`'s argument named SOURCE.
`completion` is in test_cli_completion.py, `diff --exit-code` in test_diff_exit_code.py."""

from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from kube_standin import SERVER_VERSION, StandIn, running
from ruamel.yaml import YAML

from gitops_edge.cli.examples import EXAMPLES, commands
from gitops_edge.cli.main import build_parser, main

EXAMPLE = Path(__file__).resolve().parent.parent / "example-repo"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def api(tmp_path: Path) -> Iterator[StandIn]:
    with running() as standin:
        yield standin


@pytest.fixture
def sim(tmp_path: Path) -> Path:
    state = tmp_path / "fleet.json"
    assert main(["sim", "init", str(state), "--groups", "hangzhou=2"]) == 0
    return state


# ── version ──────────────────────────────────────────────────────────────────────────────────


def test_version_prints_the_installed_packages_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "version")
    assert (code, err) == (0, "")
    assert out == f"Client Version: {metadata.version('gitops-edge')}\n"


@pytest.mark.parametrize("flag", ["-o", "--output", "--format"])
def test_version_as_json_and_yaml(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "version", flag, "json")
    assert code == 0
    found = json.loads(out)
    assert found["clientVersion"]["version"] == metadata.version("gitops-edge")
    assert "serverVersion" not in found
    code, out, _ = run(capsys, "version", flag, "yaml")
    assert code == 0
    assert out.startswith("clientVersion:\n  ")  # block style, as kubectl -o yaml
    assert YAML(typ="safe", pure=True).load(out) == found


def test_version_of_the_kubernetes_server(
    api: StandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(api.kubeconfig(tmp_path / "kubeconfig"))
    code, out, err = run(capsys, "version", "--kubeconfig", config, "-o", "json")
    assert (code, err) == (0, "")
    server = json.loads(out)["serverVersion"]
    assert server == {"kind": "kubernetes", **SERVER_VERSION, "server": api.url}
    code, out, _ = run(capsys, "version", "--kubeconfig", config, "--context", "standin")
    assert code == 0
    assert out.splitlines()[1] == f"Server Version: v1.28.15 ({api.url})"
    assert ("GET", "/version/", {}) in api.requests  # the client asks /version/


def test_version_of_the_simulated_cluster_says_what_it_is(
    sim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "version", "--cluster", f"sim:{sim}")
    assert code == 0
    assert out.splitlines()[1] == (
        f"Server: the simulated cluster in {sim} (gitops-edge's own model of nodes, a DaemonSet "
        "controller and pods; no Kubernetes version)"
    )
    code, out, _ = run(capsys, "version", "--cluster", f"sim:{sim}", "-o", "json")
    assert json.loads(out)["serverVersion"] == {"kind": "simulated", "stateFile": str(sim)}


def test_version_with_an_unreachable_server_prints_the_client_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "version", "--kubeconfig", str(tmp_path / "missing"))
    assert code == 2
    assert out.startswith("Client Version: ")
    assert f"--kubeconfig {tmp_path / 'missing'}: not a usable kubeconfig" in err


# ── -o/--output ──────────────────────────────────────────────────────────────────────────────


def test_every_format_option_has_the_short_and_long_output_forms() -> None:
    found = 0
    for path, parser in commands(build_parser()):
        for action in parser._actions:
            if "--format" in action.option_strings:
                found += 1
                assert action.option_strings == ["-o", "--output", "--format"], path
    assert found >= 8  # validate, diff, plan, reconcile, status, version, sim show, sim events


def test_output_selects_the_format(sim: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", str(EXAMPLE), "-o", "json")
    assert (code, json.loads(out)) == (0, [])
    code, out, _ = run(capsys, "plan", str(EXAMPLE), "--cluster", f"sim:{sim}", "--output", "json")
    assert code == 0 and "summary" in json.loads(out)
    code, out, _ = run(capsys, "sim", "show", str(sim), "-o", "json")
    assert code == 0 and json.loads(out)


# ── --kubeconfig and --context ───────────────────────────────────────────────────────────────


def seed(api: StandIn) -> None:
    api.job_versions = ["v1alpha1", "v1alpha2"]  # the example repository holds node jobs
    for group in ("hangzhou", "shanghai"):
        api.put(
            "nodes",
            {
                "metadata": {"name": f"{group}-0", "labels": {"apps.openyurt.io/nodepool": group}},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]},
            },
        )


@pytest.mark.parametrize(
    "cluster",
    [
        ["--kubeconfig", "K"],
        ["--kubeconfig", "K", "--context", "standin"],
        ["--cluster", "kube", "--kubeconfig", "K", "--context", "standin"],
        ["--cluster", "kube:standin", "--kubeconfig", "K"],
    ],
    ids=["kubeconfig", "kubeconfig-context", "cluster-kube-context", "cluster-context"],
)
def test_plan_with_kubeconfig_and_context(
    cluster: list[str],
    api: StandIn,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed(api)
    config = str(api.kubeconfig(tmp_path / "kubeconfig"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "not-this-one"))  # --kubeconfig wins
    argv = [config if a == "K" else a for a in cluster]
    code, out, err = run(capsys, "plan", str(EXAMPLE), *argv, "-o", "json")
    assert (code, err) == (0, "")
    assert json.loads(out)["summary"]["applies"] > 0


def test_an_unknown_context_lists_the_contexts_of_the_kubeconfig(
    api: StandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(api.kubeconfig(tmp_path / "kubeconfig"))
    code, _, err = run(capsys, "plan", str(EXAMPLE), "--kubeconfig", config, "--context", "prod")
    assert code == 2
    assert err == (
        f"gitops-edge: error: --context prod: no usable Kubernetes configuration: the "
        f"kubeconfig {config} has no context prod (it has: standin); name one of those, or use "
        "--cluster kube for its current context\n"
    )
    assert api.requests == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--cluster", "sim:fleet.json", "--context", "prod"],
            "--context applies to --cluster kube only, not --cluster sim:fleet.json: drop one "
            "of them",
        ),
        (
            ["--cluster", "sim:fleet.json", "--kubeconfig", "k"],
            "--kubeconfig applies to --cluster kube only, not --cluster sim:fleet.json: drop one "
            "of them",
        ),
        (
            ["--cluster", "kube:staging", "--context", "prod"],
            "--context prod and --cluster kube:staging name different contexts: give one, e.g. "
            "--cluster kube --context prod",
        ),
        ([], "the following arguments are required: --cluster (or --context/--kubeconfig)"),
    ],
    ids=["context-with-sim", "kubeconfig-with-sim", "two-contexts", "none"],
)
def test_conflicting_cluster_options_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "plan", str(EXAMPLE), *argv)
    assert (code, out, err) == (2, "", f"gitops-edge: error: {message}\n")


# ── --help ───────────────────────────────────────────────────────────────────────────────────


def all_commands() -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    return list(commands(build_parser()))


COMMAND_PATHS = [path for path, _ in all_commands()]


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=[" ".join(p) or "-" for p in COMMAND_PATHS])
def test_every_help_shows_an_example(path: tuple[str, ...]) -> None:
    parser = dict(all_commands())[path]
    text = parser.format_help()
    examples = text.split("\nExamples:\n", 1)
    assert len(examples) == 2, f"gitops-edge {' '.join(path)} --help has no Examples section"
    commands_shown = [line.strip() for line in examples[1].splitlines() if line.strip()]
    assert any(line.startswith(" ".join(("gitops-edge", *path))) for line in commands_shown)


def test_every_example_is_of_a_command_that_exists() -> None:
    assert set(EXAMPLES) == {path for path, _ in all_commands()}


def test_help_is_printed_with_its_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["plan", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: gitops-edge plan [-h]") and " SOURCE\n" in out
    assert "\npositional arguments:\n  SOURCE " in out
    assert "Examples:\n  # What a pass would do on a simulated fleet\n" in out


def test_example_commands_parse(tmp_path: Path) -> None:
    """Each example is a valid command line (its options exist, its values are accepted)."""
    for path, found in EXAMPLES.items():
        for _, command in found:
            words = shlex.split(command.replace("\\\n", " "), comments=True)
            if words[0] != "gitops-edge":  # `source <(gitops-edge completion bash)` …
                continue
            words = [w.replace("$(hostname)", "edge-01") for w in words[1:]]
            words = words[: words.index(">")] if ">" in words else words
            build_parser(words).parse_args(words)  # SystemExit on an unknown option
            assert words[: len(path)] == list(path)
