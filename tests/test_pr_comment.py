"""`gitops-edge pr-comment` against a local stand-in for the GitHub REST API
(`github_standin`): one sticky comment per pull request and path, created on the first push and
updated in place on the next ones (found on any page), other comments untouched, every API error
reported with what to do, nothing posted outside a pull request, the token never printed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from github_standin import TOKEN, GitHubStandIn, github_standin

from gitops_edge.cli.main import main
from gitops_edge.reports.markdown_budget import COMMENT_LIMIT, github_length
from gitops_edge.reports.pr_comment import comment_body, is_preview_of, marker

REPO = "acme/fleet"


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubStandIn]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "synchronize", "pull_request": {"number": 7}}))
    with github_standin() as standin:
        for name, value in {
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_API_URL": standin.url,
            "GITHUB_SERVER_URL": "https://github.test",
            "GITHUB_RUN_ID": "42",
            "GITHUB_TOKEN": TOKEN,
        }.items():
            monkeypatch.setenv(name, value)
        yield standin


def post(tmp_path: Path, markdown: str, *args: str) -> int:
    body = tmp_path / "preview.md"
    body.write_text(markdown)
    return main(["pr-comment", "--body-file", str(body), *args])


def calls(api: GitHubStandIn) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in api.requests]


def test_first_push_creates_the_comment_and_the_next_updates_it(
    tmp_path: Path, api: GitHubStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    other = api.add(REPO, 7, "LGTM")
    assert post(tmp_path, "### preview one\n") == 0
    assert capsys.readouterr().out.startswith("created https://github.test/acme/fleet/pull/7#")
    assert post(tmp_path, "### preview two\n") == 0
    assert capsys.readouterr().out.startswith("updated ")
    comments = api.comments[(REPO, 7)]
    assert comments[0]["id"] == other and len(comments) == 2  # no duplicate
    assert comments[0]["body"] == "LGTM"
    body = comments[1]["body"]
    assert body.startswith(marker(".") + "\n### preview two\n")
    assert "[The run](https://github.test/acme/fleet/actions/runs/42)" in body
    path = "/repos/acme/fleet/issues/7/comments"
    assert calls(api) == [
        ("GET", path),
        ("POST", path),
        ("GET", path),
        ("PATCH", f"/repos/acme/fleet/issues/comments/{comments[1]['id']}"),
    ]
    assert api.requests[0].query["per_page"] == ["100"]


def test_the_comment_is_found_on_a_later_page(tmp_path: Path, api: GitHubStandIn) -> None:
    for i in range(150):
        api.add(REPO, 7, f"comment {i}")
    api.comments[(REPO, 7)].insert(120, {"id": 5, "body": marker(".") + "\nold"})
    api.add(REPO, 7, "> " + marker(".") + "\nquoted in a reply: not the preview")
    assert post(tmp_path, "new\n") == 0
    assert [(r.method, r.query.get("page")) for r in api.requests] == [
        ("GET", None),
        ("GET", ["2"]),
        ("PATCH", None),
    ]
    assert api.requests[-1].path == "/repos/acme/fleet/issues/comments/5"
    assert len(api.comments[(REPO, 7)]) == 152


def test_each_path_keeps_its_own_comment(tmp_path: Path, api: GitHubStandIn) -> None:
    assert post(tmp_path, "fleet a\n", "--key", "fleet-a") == 0
    assert post(tmp_path, "fleet b\n", "--key", "./fleet-b/") == 0
    assert post(tmp_path, "fleet a again\n", "--key", "fleet-a/") == 0
    bodies = api.bodies(REPO, 7)
    assert len(bodies) == 2
    assert is_preview_of(bodies[0], "fleet-a") and "fleet a again" in bodies[0]
    assert is_preview_of(bodies[1], "fleet-b") and "fleet b" in bodies[1]


@pytest.mark.parametrize(
    ("method", "status", "answer", "expected"),
    [
        (
            "POST",
            403,
            {"message": "Resource not accessible by integration"},
            "permissions: pull-requests: write",
        ),
        ("GET", 404, {"message": "Not Found"}, "was not found, or the token cannot see it"),
        (
            "POST",
            422,
            {"message": "Validation Failed", "errors": [{"message": "Body is too long"}]},
            "Validation Failed; Body is too long",
        ),
        ("GET", 401, {"message": "Bad credentials"}, "the token is not valid"),
    ],
    ids=["403-read-only-token", "404", "422", "401"],
)
def test_an_api_error_says_what_happened_and_how_to_fix_it(
    tmp_path: Path,
    api: GitHubStandIn,
    capsys: pytest.CaptureFixture[str],
    method: str,
    status: int,
    answer: dict[str, object],
    expected: str,
) -> None:
    api.fail[(method, "/repos/acme/fleet/issues/7/comments")] = (status, answer)
    assert post(tmp_path, "x\n") == 1
    err = capsys.readouterr().err
    assert f"/repos/acme/fleet/issues/7/comments answered {status}" in err
    assert expected in err and "pull request #7" in err
    assert TOKEN not in err
    assert post(tmp_path, "x\n", "--format", "github") == 1
    out = capsys.readouterr().out
    assert out.startswith("::warning title=gitops-edge comment::not posted on pull request #7")
    assert out.count("\n") == 1 and expected in out and TOKEN not in out


def test_an_unreachable_api_is_an_error(
    tmp_path: Path, api: GitHubStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")  # discard port: refused
    assert post(tmp_path, "x\n") == 1


def test_a_next_link_to_another_origin_is_not_followed(
    tmp_path: Path, api: GitHubStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(101):
        api.add(REPO, 7, f"comment {i}")
    monkeypatch.setattr(api, "url", "http://elsewhere.test")  # where the next link points
    assert post(tmp_path, "x\n") == 0
    path = "/repos/acme/fleet/issues/7/comments"
    assert calls(api) == [("GET", path), ("POST", path)]  # page 2 is on another origin


def test_outside_a_pull_request_nothing_is_posted(
    tmp_path: Path,
    api: GitHubStandIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    event = tmp_path / "push.json"
    event.write_text(json.dumps({"ref": "refs/heads/main"}))
    monkeypatch.setenv("GITHUB_EVENT_NAME", "push")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    assert post(tmp_path, "x\n", "--format", "github") == 0
    assert capsys.readouterr().out.startswith(
        "::notice title=gitops-edge comment::skipped: the push event is not for a pull request"
    )
    assert api.requests == []


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("GITHUB_TOKEN", "", "GITHUB_TOKEN is not set"),
        ("GITHUB_REPOSITORY", "not a repo", "is not OWNER/NAME"),
        ("GITHUB_EVENT_PATH", "/no/such/event.json", "cannot read the event payload"),
    ],
)
def test_a_missing_environment_is_a_usage_error(
    tmp_path: Path,
    api: GitHubStandIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(name, value)
    assert post(tmp_path, "x\n") == 2
    assert message in capsys.readouterr().err
    assert api.requests == []


def test_the_body_stays_within_the_limit_and_the_marker_cannot_be_closed() -> None:
    body = comment_body("| row |\n" * 50_000, key="a-->b", run_url="https://x/runs/1")
    assert github_length(body) <= COMMENT_LIMIT
    assert "more lines are not in this comment" in body
    first = body.split("\n", 1)[0]
    assert first == "<!-- gitops-edge:preview path=a%2D%2D%3Eb -->"
    assert first.count("--") == 2 and is_preview_of(body, "a-->b")
    assert not is_preview_of(body, "a")
