"""A SOURCE given on the command line in a form git would misread is normalised or refused with a
hint, never mistaken for a missing local folder: an upper-case scheme (`HTTP://`) and stray
spaces are what git accepts once normalised; pip's `git+https://`, an unknown scheme and the
scp-like `user:password@host:path` (which git cannot use) are usage errors that say what to
write instead and never show the password."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_git_source import EXAMPLE, Remote

from gitops_edge.cli.main import main
from gitops_edge.source.gitsource import SourceAddressError, is_git_url, source_address


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("HTTP://git.example.com/fleet.git", "http://git.example.com/fleet.git"),
        ("Https://git.example.com/fleet.git", "https://git.example.com/fleet.git"),
        ("  https://git.example.com/fleet.git\n", "https://git.example.com/fleet.git"),
        ("SSH://git@git.example.com/fleet.git", "ssh://git@git.example.com/fleet.git"),
        ("git+ssh://git@git.example.com/fleet.git", "git+ssh://git@git.example.com/fleet.git"),
        (" git@github.com:org/fleet.git", "git@github.com:org/fleet.git"),
        ("example-repo", "example-repo"),
        (" folder with spaces ", " folder with spaces "),  # a local folder is taken as given
        ("C:/fleet", "C:/fleet"),
    ],
)
def test_source_addresses_are_normalised_as_git_reads_them(given: str, expected: str) -> None:
    assert source_address(given) == expected
    assert is_git_url(expected) == ("://" in expected or "@" in expected)


@pytest.mark.parametrize(
    ("given", "hint"),
    [
        ("git+https://git.example.com/fleet.git", "write https://git.example.com/fleet.git"),
        ("git+http://git.example.com/fleet.git", "write http://git.example.com/fleet.git"),
        ("s3://bucket/fleet", "https://, ssh://, git:// or file://"),
        ("deploy:s3cretpw@git.example.com:org/fleet.git", "https://deploy:TOKEN@"),
    ],
)
def test_unusable_source_addresses_are_refused_with_a_hint(given: str, hint: str) -> None:
    with pytest.raises(SourceAddressError) as raised:
        source_address(given)
    assert hint in str(raised.value)
    assert "s3cretpw" not in str(raised.value)


@pytest.mark.parametrize("command", ["plan", "reconcile", "status"])
@pytest.mark.parametrize(
    "given", ["git+https://git.example.com/f.git", "deploy:s3cretpw@git.example.com:org/f.git"]
)
def test_every_source_command_refuses_them_as_usage_errors(
    command: str, given: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, given, "--cluster", "sim:/nonexistent.json"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "no such file or folder" not in err and "s3cretpw" not in err
    assert "argument SOURCE:" in err


def test_an_upper_case_scheme_with_spaces_reaches_the_repository(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    remote = Remote(tmp_path)
    shutil.copytree(EXAMPLE, remote.work / "fleet")
    remote.commit("fleet")
    state = f"{tmp_path}/fleet.json"
    assert main(["sim", "init", state, "--groups", "hangzhou=2"]) == 0
    shouted = " FILE" + remote.url[len("file") :] + " "
    argv = ["--cluster", f"sim:{state}", "--path", "fleet", "--cache-dir", f"{state}.cache"]
    assert main(["plan", shouted, *argv, "--format", "json"]) == 0
    assert '"revision"' in capsys.readouterr().out
