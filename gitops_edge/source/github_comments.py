"""The GitHub REST API calls of the sticky pull-request comment, with the standard library
(urllib): list a pull request's issue comments (`GET /repos/{owner}/{repo}/issues/{n}/comments`,
100 a page, following the `Link: <…>; rel="next"` header), create one (`POST` to the same path)
and update one (`PATCH /repos/{owner}/{repo}/issues/comments/{id}`), with the headers GitHub
documents (`Accept: application/vnd.github+json`, `Authorization: Bearer …`,
`X-GitHub-Api-Version: 2022-11-28`).

Side effects: HTTP requests to the API URL given, and to nowhere else: a `next` link to another
origin is not followed, nor is any redirect (urllib would resend the token with it). The token is
only ever in the Authorization header, never in an error message.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gitops_edge.reports.pr_comment import is_preview_of
from gitops_edge.reports.redaction import redact
from gitops_edge.reports.workflow_text import inline

API_VERSION = "2022-11-28"
PER_PAGE = 100
MAX_PAGES = 100  # 10,000 comments: a pull request with more is not searched further
TIMEOUT = 30.0  # seconds, per request

_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')

_HINTS = {
    401: "the token is not valid (expired or revoked): pass a valid one as the github-token "
    "input (default: the workflow's GITHUB_TOKEN)",
    403: "the token may not write pull-request comments: give the job `permissions: "
    "pull-requests: write` (a pull request from a fork gets a read-only token on "
    "`pull_request` events: the preview is still in the job summary)",
    404: "the repository or pull request was not found, or the token cannot see it: check "
    "GITHUB_REPOSITORY and that the token may read it (`permissions: pull-requests: write`)",
    422: "GitHub refused the comment's content (see its message)",
}


class GitHubApiError(Exception):
    """A request GitHub answered with an error status, or could not be made."""

    def __init__(self, *, method: str, path: str, status: int | None, message: str) -> None:
        self.method, self.path, self.status, self.message = method, path, status, message
        answered = f"answered {status}" if status is not None else "failed"
        hint = _HINTS.get(status or 0, "check GITHUB_API_URL and the runner's network")
        super().__init__(
            redact(inline(f"GitHub API {method} {path} {answered}: {message} (hint: {hint})"))
        )


@dataclass(frozen=True, slots=True)
class CommentResult:
    action: str  # created | updated
    comment_id: int
    url: str  # the comment on github.com (html_url)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None  # the 3xx answer is raised as an HTTPError: reported, not followed


_OPENER = urllib.request.build_opener(_NoRedirect)


def _message(raw: bytes) -> str:
    """GitHub's error message (`message` and each of `errors[].message`), at most 500 chars."""
    try:
        data = json.loads(raw)
    except ValueError:
        return raw[:500].decode("utf-8", "replace") or "no message"
    if not isinstance(data, dict):
        return "no message"
    parts = [str(data.get("message") or "no message")]
    for error in data.get("errors") or ():
        if isinstance(error, dict) and error.get("message"):
            parts.append(str(error["message"]))
    return "; ".join(parts)[:500]


@dataclass(frozen=True, slots=True)
class GitHubApi:
    """The REST API at `api_url` (`GITHUB_API_URL`, e.g. https://api.github.com or a GitHub
    Enterprise Server's `https://HOST/api/v3`) with `token`."""

    api_url: str
    token: str
    timeout: float = TIMEOUT

    def _request(
        self, method: str, url: str, *, body: dict[str, Any] | None = None
    ) -> tuple[Any, str]:
        """The decoded JSON answer and the next page's URL ('' when none)."""
        path = urlsplit(url).path
        request = urllib.request.Request(
            url,
            method=method,
            data=None if body is None else json.dumps(body).encode("utf-8"),
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self.token}",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "gitops-edge",
                **({"Content-Type": "application/json"} if body is not None else {}),
            },
        )
        try:
            with _OPENER.open(request, timeout=self.timeout) as answer:
                data = json.loads(answer.read() or b"null")
                link = answer.headers.get("Link") or ""
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            exc.close()
            raise GitHubApiError(
                method=method, path=path, status=exc.code, message=_message(raw)
            ) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise GitHubApiError(
                method=method, path=path, status=None, message=str(reason)
            ) from None
        found = _NEXT.search(link)
        return data, found[1] if found else ""

    def _url(self, path: str) -> str:
        return self.api_url.rstrip("/") + path

    def _same_origin(self, url: str) -> bool:
        api, other = urlsplit(self.api_url), urlsplit(url)
        return (api.scheme, api.netloc) == (other.scheme, other.netloc)

    def list_comments(self, *, repository: str, number: int) -> list[dict[str, Any]]:
        """Every issue comment of the pull request, oldest first, page by page."""
        url = self._url(f"/repos/{repository}/issues/{number}/comments?per_page={PER_PAGE}")
        comments: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            page, url = self._request("GET", url)
            comments += [c for c in page or () if isinstance(c, dict)]
            if not url or not self._same_origin(url):
                break
        return comments

    def create_comment(self, *, repository: str, number: int, body: str) -> dict[str, Any]:
        url = self._url(f"/repos/{repository}/issues/{number}/comments")
        data, _ = self._request("POST", url, body={"body": body})
        return dict(data)

    def update_comment(self, *, repository: str, comment_id: int, body: str) -> dict[str, Any]:
        url = self._url(f"/repos/{repository}/issues/comments/{comment_id}")
        data, _ = self._request("PATCH", url, body={"body": body})
        return dict(data)


def upsert_preview(
    api: GitHubApi, *, repository: str, number: int, key: str, body: str
) -> CommentResult:
    """Update the pull request's preview comment for `key` (the first one whose marker matches)
    or create it when there is none."""
    existing = next(
        (
            c
            for c in api.list_comments(repository=repository, number=number)
            if isinstance(c.get("body"), str) and is_preview_of(c["body"], key)
        ),
        None,
    )
    if existing is None:
        data = api.create_comment(repository=repository, number=number, body=body)
        action = "created"
    else:
        comment_id = int(existing["id"])
        data = api.update_comment(repository=repository, comment_id=comment_id, body=body)
        action = "updated"
    return CommentResult(action=action, comment_id=int(data["id"]), url=str(data.get("html_url")))
