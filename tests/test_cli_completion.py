"""`gitops-edge completion bash|zsh|fish` (issue 18 item 5): scripts generated from the parser.
The bash script is checked by bash itself and its function run as bash's programmable
completion runs it (COMP_WORDS, COMP_CWORD → COMPREPLY); zsh loads the same function through
bashcompinit; zsh and fish are syntax-checked when installed (skipped otherwise)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gitops_edge.cli.main import main

BASH = shutil.which("bash")


def script(shell: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["completion", shell]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


@pytest.fixture
def bash_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "gitops-edge.bash"
    path.write_text(script("bash", capsys))
    return path


def complete(bash_script: Path, line: str) -> list[str]:
    """COMPREPLY for the command line `line` (the cursor at its end; a trailing space starts
    a new, empty word), as bash's completion calls the function."""
    words = line.split(" ")
    program = (
        f"source {bash_script}\n"
        f"COMP_WORDS=({' '.join(repr(w) for w in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        "_gitops_edge\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    assert BASH is not None
    done = subprocess.run(
        [BASH, "--norc", "--noprofile", "-c", program],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stderr == ""
    return [w for w in done.stdout.splitlines() if w]


pytestmark = pytest.mark.skipif(BASH is None, reason="bash is not installed")


def test_bash_script_is_valid_bash(bash_script: Path) -> None:
    assert BASH is not None
    subprocess.run([BASH, "-n", str(bash_script)], check=True, timeout=60)


def test_bash_completes_the_commands(bash_script: Path) -> None:
    assert complete(bash_script, "gitops-edge ") == [
        "validate",
        "diff",
        "pr-comment",
        "plan",
        "reconcile",
        "status",
        "sim",
        "agent",
        "version",
        "completion",
    ]
    assert complete(bash_script, "gitops-edge re") == ["reconcile"]
    assert complete(bash_script, "gitops-edge sim ")[:3] == ["init", "node", "add-node"]
    assert complete(bash_script, "gitops-edge sim set") == ["set-image"]


def test_bash_completes_options_and_their_choices(bash_script: Path) -> None:
    assert complete(bash_script, "gitops-edge plan example-repo --ou") == ["--output"]
    assert complete(bash_script, "gitops-edge plan example-repo -o ") == [
        "text",
        "json",
        "markdown",
    ]
    assert complete(bash_script, "gitops-edge validate --format j") == ["json"]
    assert complete(bash_script, "gitops-edge diff --exit") == ["--exit-code"]
    assert complete(bash_script, "gitops-edge completion ") == ["bash", "zsh", "fish"]
    assert complete(bash_script, "gitops-edge sim controller fleet.json ") == ["stop", "start"]
    # an option's value is not taken for a command, nor a SOURCE for a subcommand
    assert complete(bash_script, "gitops-edge plan --cluster sim:f.json --con") == ["--context"]
    assert complete(bash_script, "gitops-edge sim show f.json --") == [
        "--help",
        "--output",
        "--format",
    ]


def test_bash_leaves_file_names_to_the_shell(bash_script: Path) -> None:
    """A SOURCE or a --kubeconfig PATH: no word offered, so `complete -o default` completes
    file names."""
    assert complete(bash_script, "gitops-edge plan ex") == []
    assert complete(bash_script, "gitops-edge plan --kubeconfig ") == []


def test_zsh_script_loads_the_function_through_bashcompinit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = script("zsh", capsys)
    assert "bashcompinit" in text and "complete -o bashdefault -o default -F _gitops_edge" in text
    zsh = shutil.which("zsh")
    if zsh is None:
        pytest.skip("zsh is not installed")
    path = tmp_path / "gitops-edge.zsh"
    path.write_text(text)
    subprocess.run([zsh, "-n", str(path)], check=True, timeout=60)


def test_fish_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = script("fish", capsys)
    assert (
        "complete -c gitops-edge -n 'not __fish_seen_subcommand_from validate diff "
        "pr-comment plan reconcile status sim agent version completion' -f -a plan -d "
        "'show what a reconcile pass would do (changes nothing)'" in text
    )
    assert (
        "complete -c gitops-edge -n '__fish_seen_subcommand_from plan' -s o -l output -l format "
        "-x -a 'text json markdown'" in text
    )
    fish = shutil.which("fish")
    if fish is None:
        pytest.skip("fish is not installed")
    path = tmp_path / "gitops-edge.fish"
    path.write_text(text)
    subprocess.run([fish, "--no-execute", str(path)], check=True, timeout=60)
    offered = subprocess.run(  # what fish offers at the end of these command lines
        [
            fish,
            "--no-config",
            "-c",
            f"source {path}; complete -C 'gitops-edge sim se'; "
            "complete -C 'gitops-edge plan x -o '",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert [line.split("\t")[0] for line in offered.splitlines()] == [
        "set-image",
        "json",
        "markdown",
        "text",
    ]


def test_unknown_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["completion", "powershell"])
    assert done.value.code == 2
    assert "invalid choice: 'powershell'" in capsys.readouterr().err
