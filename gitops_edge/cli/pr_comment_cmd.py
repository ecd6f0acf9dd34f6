"""`gitops-edge pr-comment --body-file FILE [--key PATH] [--format text|github]`: post a preview
(the Markdown of `gitops-edge diff`) as one sticky comment on the pull request a GitHub Actions
run is for, updated in place on the next push (found by its hidden marker, one per `--key`).

It reads the run's environment as the runner sets it: `GITHUB_EVENT_NAME` and the event payload
at `GITHUB_EVENT_PATH` (the pull request's number), `GITHUB_REPOSITORY`, `GITHUB_API_URL`
(default https://api.github.com), `GITHUB_SERVER_URL` and `GITHUB_RUN_ID` (the run's link in the
footer), and the token from `GITHUB_TOKEN` (never from the command line, never printed).

Side effects: reads FILE and the event payload; HTTP requests to the GitHub API
(`source.github_comments`); prints one line (text) or one annotation (github). Exit codes: 0
comment created or updated, or nothing to do (not a pull request); 1 GitHub refused or could not
be reached; 2 usage (no token, no repository, unreadable FILE or event payload).
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path
from typing import Any

from gitops_edge.cli.common import EXIT_INVALID, EXIT_OK, EXIT_USAGE, add_format, fail
from gitops_edge.reports.pr_comment import comment_body
from gitops_edge.reports.redaction import redact
from gitops_edge.reports.workflow_text import escape_data, escape_property, inline
from gitops_edge.source.github_comments import GitHubApi, GitHubApiError, upsert_preview

TITLE = "gitops-edge comment"
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "pr-comment",
        help="post a diff preview as one sticky pull-request comment (GitHub Actions)",
        description="Post FILE (the Markdown of `gitops-edge diff`) as the pull request's "
        "preview comment, or update the one posted before for the same --key. Reads the "
        "GitHub Actions environment (GITHUB_EVENT_PATH, GITHUB_REPOSITORY, GITHUB_API_URL) and "
        "the token from GITHUB_TOKEN. Outside a pull request it posts nothing and exits 0.",
        epilog="example: gitops-edge diff fleet --base origin/main > preview.md && "
        "GITHUB_TOKEN=… gitops-edge pr-comment --body-file preview.md --key fleet",
    )
    parser.add_argument("--body-file", required=True, metavar="FILE", help="the Markdown")
    parser.add_argument(
        "--key",
        default=".",
        metavar="PATH",
        help="which preview this is (the desired-state path, default .): one comment per key",
    )
    add_format(parser, ("text", "github"))
    parser.set_defaults(func=run)


class _Usage(Exception):
    """The environment or the input is not what the command needs."""


def _pull_request(environ: dict[str, str]) -> int | None:
    """The pull request's number from the event payload; None when the event is not for one."""
    path = environ.get("GITHUB_EVENT_PATH", "")
    if not path:
        raise _Usage("GITHUB_EVENT_PATH is not set (hint: run this in a GitHub Actions job)")
    try:
        event: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _Usage(f"cannot read the event payload {path}: {exc}") from None
    if not isinstance(event, dict):
        return None
    pull = event.get("pull_request")
    issue = event.get("issue")
    if isinstance(pull, dict) and isinstance(pull.get("number"), int):
        return int(pull["number"])
    if isinstance(issue, dict) and issue.get("pull_request"):
        number = issue.get("number")  # issue_comment on a pull request
        return number if isinstance(number, int) else None
    return None


def _say(args: argparse.Namespace, *, level: str, text: str) -> None:
    if args.format == "github":
        print(f"::{level} title={escape_property(TITLE)}::{escape_data(redact(text))}")
    else:
        print(redact(inline(text)))


def run(args: argparse.Namespace) -> int:
    environ = dict(os.environ)
    try:
        number = _pull_request(environ)
        if number is None:
            event = environ.get("GITHUB_EVENT_NAME") or "unknown"
            _say(
                args,
                level="notice",
                text=f"skipped: the {event} event is not for a pull request, no comment posted "
                "(the preview is in the job summary)",
            )
            return EXIT_OK
        token = environ.get("GITHUB_TOKEN", "")
        if not token:
            raise _Usage(
                "GITHUB_TOKEN is not set (hint: pass a token, e.g. the Action's github-token "
                "input, default the workflow's token)"
            )
        repository = environ.get("GITHUB_REPOSITORY", "")
        if not _REPOSITORY.match(repository):
            raise _Usage(
                f"GITHUB_REPOSITORY {repository!r} is not OWNER/NAME (hint: run this in a "
                "GitHub Actions job, or set it)"
            )
        try:
            markdown = Path(args.body_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _Usage(f"cannot read the preview {args.body_file}: {exc}") from None
    except _Usage as exc:
        if args.format == "github":
            _say(args, level="warning", text=f"not posted: {exc}")
            return EXIT_USAGE
        return fail(str(exc))
    server, run_id = environ.get("GITHUB_SERVER_URL", ""), environ.get("GITHUB_RUN_ID", "")
    run_url = f"{server}/{repository}/actions/runs/{run_id}" if server and run_id else ""
    api = GitHubApi(api_url=environ.get("GITHUB_API_URL") or "https://api.github.com", token=token)
    try:
        result = upsert_preview(
            api,
            repository=repository,
            number=number,
            key=args.key,
            body=comment_body(markdown, key=args.key, run_url=run_url),
        )
    except GitHubApiError as exc:
        if args.format == "github":
            _say(args, level="warning", text=f"not posted on pull request #{number}: {exc}")
            return EXIT_INVALID
        return fail(f"not posted on pull request #{number}: {exc}", EXIT_INVALID)
    _say(args, level="notice", text=f"{result.action} {result.url}")
    return EXIT_OK
