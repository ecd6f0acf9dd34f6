"""The Action's `comment: true` run as a runner runs it (`test_action.run_action`) against the
GitHub API stand-in: the first push of a pull request creates the preview comment, the next
updates it; an invalid change is commented too and still fails the Action; a comment GitHub
refuses (a fork's read-only token) is a warning that leaves the preview and the result alone; a
bad `comment` input fails the Action; outside a pull request nothing is posted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from github_standin import TOKEN, GitHubStandIn, github_standin
from test_action import error_annotations, git, normalised, run_action, workspace

from gitops_edge.reports.pr_comment import marker

REPO = "acme/fleet"
COMMENTS = "/repos/acme/fleet/issues/3/comments"


@pytest.fixture
def api() -> Iterator[GitHubStandIn]:
    with github_standin() as standin:
        yield standin


def runner(tmp: Path, api: GitHubStandIn, *, event: dict[str, Any], name: str) -> dict[str, str]:
    path = tmp / f"event-{name}.json"
    path.write_text(json.dumps(event))
    return {
        "GITHUB_EVENT_NAME": name,
        "GITHUB_EVENT_PATH": str(path),
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": api.url,
        "GITHUB_SERVER_URL": "https://github.test",
        "GITHUB_RUN_ID": "99",
    }


def pull_request(tmp: Path, api: GitHubStandIn) -> dict[str, str]:
    event = {"action": "synchronize", "pull_request": {"number": 3}}
    return runner(tmp, api, event=event, name="pull_request")


def annotations(result: dict[str, Any], level: str) -> list[str]:
    prefix = f"::{level} title=gitops-edge comment::"
    return [
        line.removeprefix(prefix)
        for _, _, out, _ in result["logs"]
        for line in out.splitlines()
        if line.startswith(prefix)
    ]


def test_the_first_push_creates_the_comment_and_the_next_updates_it(
    tmp_path: Path, api: GitHubStandIn
) -> None:
    repo = workspace(tmp_path, "bump")
    inputs = {"base-ref": "HEAD~1", "comment": "true"}
    first = run_action(tmp_path, repo, inputs, pull_request(tmp_path, api))
    assert not first["failed"]
    assert [step for step, *_ in first["logs"]] == ["validate", "diff", "comment", "report"]
    assert first["action_outputs"]["comment"] == "created"
    assert annotations(first, "notice")[0].startswith("created https://github.test/acme/fleet/")
    (body,) = first_body = api.bodies(REPO, 3)
    assert body.startswith(marker(".") + "\n### gitops-edge diff ")
    assert normalised(first["summary"]).rstrip("\n") in normalised(body)  # the same preview
    assert "log-agent:1.4.3" in body
    assert "[The run](https://github.test/acme/fleet/actions/runs/99)" in body
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in api.requests)

    workload = repo / "workloads" / "log-agent.yaml"  # the next push to the pull request
    workload.write_text(workload.read_text().replace("log-agent:1.4.3", "log-agent:1.4.4"))
    git("commit", "-qam", "again", cwd=repo)
    second = run_action(
        tmp_path, repo, {**inputs, "base-ref": "HEAD~2"}, pull_request(tmp_path, api)
    )
    assert not second["failed"]
    assert second["action_outputs"]["comment"] == "updated"
    (body,) = api.bodies(REPO, 3)  # still one comment, now the new preview
    assert [body] != first_body and "log-agent:1.4.4" in body
    assert second["summary"].rstrip("\n") in body
    assert [(r.method, r.path) for r in api.requests][-2:] == [
        ("GET", COMMENTS),
        ("PATCH", f"/repos/acme/fleet/issues/comments/{api.comments[(REPO, 3)][0]['id']}"),
    ]
    assert TOKEN not in "".join(out for _, _, out, _ in first["logs"] + second["logs"])


def test_an_invalid_change_is_commented_and_fails_the_action(
    tmp_path: Path, api: GitHubStandIn
) -> None:
    repo = workspace(tmp_path, "invalid")
    result = run_action(
        tmp_path, repo, {"base-ref": "HEAD~1", "comment": "true"}, pull_request(tmp_path, api)
    )
    assert result["failed"] and result["logs"][-1][:2] == ("report", 1)
    assert result["action_outputs"]["comment"] == "created"
    (body,) = api.bodies(REPO, 3)
    assert "is invalid and would not be applied" in body
    assert "maxUnavailable" in body


def test_a_refused_comment_is_a_warning_and_the_preview_stays(
    tmp_path: Path, api: GitHubStandIn
) -> None:
    api.fail[("POST", COMMENTS)] = (403, {"message": "Resource not accessible by integration"})
    repo = workspace(tmp_path, "bump")
    result = run_action(
        tmp_path, repo, {"base-ref": "HEAD~1", "comment": "true"}, pull_request(tmp_path, api)
    )
    assert not result["failed"]  # documented: a comment failure does not fail the Action
    assert result["action_outputs"]["comment"] == "failed"
    assert result["action_outputs"]["error"] == ""
    (warning,) = annotations(result, "warning")
    assert "answered 403: Resource not accessible by integration" in warning
    assert "permissions: pull-requests: write" in warning
    assert "log-agent:1.4.3" in result["summary"]  # the preview is still in the job summary
    assert result["action_outputs"]["changed"] == "log-agent/beijing,log-agent/shanghai"


def test_a_bad_comment_input_fails_the_action(tmp_path: Path, api: GitHubStandIn) -> None:
    repo = workspace(tmp_path, "bump")
    result = run_action(
        tmp_path, repo, {"base-ref": "HEAD~1", "comment": "yes"}, pull_request(tmp_path, api)
    )
    assert result["failed"]
    message = 'the comment input must be "true" or "false", not "yes"'
    assert message in error_annotations(result)
    assert message in result["action_outputs"]["error"]
    assert api.requests == []


def test_outside_a_pull_request_nothing_is_posted(tmp_path: Path, api: GitHubStandIn) -> None:
    repo = workspace(tmp_path, "bump")
    push = runner(tmp_path, api, event={"ref": "refs/heads/main"}, name="push")
    result = run_action(tmp_path, repo, {"base-ref": "HEAD~1", "comment": "true"}, push)
    assert not result["failed"]
    assert result["action_outputs"]["comment"] == "skipped"
    assert annotations(result, "notice")[0].startswith("skipped: the push event is not for a")
    assert api.requests == []


def test_comment_is_off_by_default(tmp_path: Path, api: GitHubStandIn) -> None:
    repo = workspace(tmp_path, "bump")
    result = run_action(tmp_path, repo, {"base-ref": "HEAD~1"}, pull_request(tmp_path, api))
    assert result["action_outputs"]["comment"] == "disabled"
    assert api.requests == []
