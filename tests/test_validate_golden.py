"""Golden repositories: every valid case validates clean; every invalid case yields exactly the
diagnostics in its `expected.txt` (file:line:col: path: message (hint)).

To review changed diagnostics after an intended change: `GOLDEN_UPDATE=1 pytest
tests/test_validate_golden.py`, then read the diff of the expected.txt files before committing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitops_edge.repository.diagnostics import has_errors, render_text
from gitops_edge.repository.validation import validate_repository

GOLDEN = Path(__file__).parent / "golden"
VALID = sorted(p for p in (GOLDEN / "valid").iterdir() if p.is_dir())
INVALID = sorted(p for p in (GOLDEN / "invalid").iterdir() if p.is_dir())


@pytest.mark.parametrize("case", VALID, ids=[p.name for p in VALID])
def test_valid_case(case: Path) -> None:
    result = validate_repository(case)
    assert render_text(result.diagnostics) == ""
    assert result.documents


@pytest.mark.parametrize("case", INVALID, ids=[p.name for p in INVALID])
def test_invalid_case(case: Path) -> None:
    result = validate_repository(case)
    actual = render_text(result.diagnostics) + "\n"
    expected_file = case / "expected.txt"
    if os.environ.get("GOLDEN_UPDATE"):
        expected_file.write_text(actual)
    assert has_errors(result.diagnostics)
    assert actual == expected_file.read_text()


def test_every_rule_has_an_invalid_case() -> None:
    rules = set()
    for case in INVALID:
        rules.update(d.rule for d in validate_repository(case).diagnostics)
    assert {
        "yaml",
        "kind",
        "schema",
        "unknown-field",
        "openyurt-ondelete",
        "openyurt-strategy",
        "max-unavailable",
        "selector",
        "image",
        "duplicate",
        "group-ref",
        "group-duplicate",
        "group-container",
        "generated-name",
        "job-targets",
        "failure-tolerate",
        "version-skew",
        "config",
        "status-path",
    } <= rules


def test_openyurt_mode_in_the_repository_config(tmp_path: Path) -> None:
    (tmp_path / "gitops-edge.yaml").write_text(
        "apiVersion: gitops-edge.io/v1alpha1\nkind: RepositoryConfig\nmetadata:\n  name: f\n"
        "spec:\n  openyurt:\n    annotatedDaemonSets: drive\n"
    )
    result = validate_repository(tmp_path)
    assert result.valid and result.config.drive_openyurt_annotated
