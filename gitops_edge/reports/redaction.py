"""Credential masking: the one function (`redact`) every text goes through before it leaves the
program (printed, logged, committed as status, exported as a metric label).

Masked, anywhere in a text (`***`):
- the user-info of a URL with a scheme, in any case and with any scheme (`https://`, `HTTP://`,
  `git+http://`, `ssh://`; also `https:/…` as a path shows it): everything before the LAST `@`
  of the authority, so a token alone (`https://TOKEN@host`) and a password holding a raw `@`
  (`https://u:p@ss@host/`) are masked whole; a password holding a raw `/`, `?` or `#`
  (`https://u:p/w@host`, an invalid URL) is masked up to the word's last `@` when the colon
  after the user name is not followed by a port;
- every query value of such a URL (`?token=…&ref=…` → `?token=***&ref=***`);
- the password of `user:password@host` without a scheme (scp-like `user:pw@host:path` →
  `user:***@host:path`); `user@host:path` has no password and is kept, and so is an image
  reference with a digest (`nginx:1.25@sha256:…`);
- the value of `…NAME=value` when NAME ends in `token`, `password`, `passwd`, `pwd`, `secret`,
  `apikey`/`api_key`, `signature` or `credential` (`access_token=`, `private_token=`, …);
- an `Authorization:` header's credentials and a `Bearer` token.
Masking is idempotent and linear in the length of the text. Pure: no I/O.
"""

from __future__ import annotations

import re

MASK = "***"

_STOP = "\\s'\"<>`"  # characters that end a URL or a word in running text
# A word that may hold a credential: it contains `@`, `=` or `?` (checked from its start only,
# so a long word costs one scan).
_WORD = re.compile(rf"(?<![^{_STOP}])[^{_STOP}@=?]*+[@=?][^{_STOP}]*+")
_SCHEME = r"\b[A-Za-z][A-Za-z0-9+.-]{0,31}:/{1,3}"
_USERINFO = re.compile(rf"({_SCHEME})[^/?#]*@")  # the authority's last `@` ends the user-info
_USER_NOT_PORT = re.compile(rf"({_SCHEME})[^/?#@:\[]+:(?!\d*+(?:[/?#]|$))")
_HAS_SCHEME = re.compile(_SCHEME)
_SEGMENT = re.compile(r"[^/]++")
_DIGEST = re.compile(r"sha(?:256|384|512):")
_USER_START = re.compile(r"[(=,;\[]")
_NAMED = re.compile(
    r"(?i)((?:token|passw(?:or)?d|pwd|secret|api[_-]?key|signature|credential)s?=)[^&;#,)]+"
)
_AUTHORIZATION = re.compile(r"(?i)\b(authorization:\s*(?:[a-z]+\s+)?)[^\s'\"]+")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/-]{8,}=*")


def redact(text: str) -> str:
    """`text` with every credential masked, so it can be printed, logged or committed."""
    text = _WORD.sub(_redact_word, text)
    lowered = text.lower()
    if "authorization" in lowered:
        text = _AUTHORIZATION.sub(rf"\g<1>{MASK}", text)
    if "bearer" in lowered:
        text = _BEARER.sub(rf"\g<1>{MASK}", text)
    return text


def _redact_word(match: re.Match[str]) -> str:
    word = match.group()
    if "@" in word and ":/" in word:
        word = _USERINFO.sub(rf"\g<1>{MASK}@", _raw_password(word))
    if "?" in word:
        word = _query(word)
    if "@" in word and ":" in word:
        word = _SEGMENT.sub(_scp_password, word)
    if "=" in word:
        word = _NAMED.sub(rf"\g<1>{MASK}", word)
    return word


def _raw_password(word: str) -> str:
    """`scheme://user:pa/ss@host`: no `@` in the authority, a colon that is no port."""
    last_at = word.rfind("@")
    found = _USER_NOT_PORT.search(word, 0, last_at) if last_at > 0 else None
    if found is None or "@" in re.split(r"[/?#]", word[found.end(1) :], maxsplit=1)[0]:
        return word  # a `@` in the authority: the user-info rule masks it
    return word[: found.end(1)] + MASK + word[last_at:]


def _query(word: str) -> str:
    """Every value of the query of a URL with a scheme."""
    start = word.find("?")
    if start < 0 or not _HAS_SCHEME.search(word, 0, start):
        return word
    query, hash_, fragment = word[start + 1 :].partition("#")
    params = re.split(r"([&;])", query)
    masked = [_mask_param(p) for p in params]
    return word[: start + 1] + "".join(masked) + hash_ + fragment


def _mask_param(param: str) -> str:
    if param in ("", "&", ";"):
        return param
    name, equals, _ = param.partition("=")
    return f"{name}={MASK}" if equals else MASK


def _scp_password(match: re.Match[str]) -> str:
    """`user:password@host` (a path segment, no scheme): the password up to the last `@`."""
    segment = match.group()
    at = segment.rfind("@")
    host = segment[at + 1 :]
    if at < 0 or (not host[:1].isalnum() and not host.startswith("[")) or _DIGEST.match(host):
        return segment
    colon = segment.find(":", 0, at)
    if colon < 0:
        return segment
    starts = [m.end() for m in _USER_START.finditer(segment, 0, colon)]
    if colon - (starts[-1] if starts else 0) < 1 or colon + 1 == at:
        return segment
    return segment[: colon + 1] + MASK + segment[at:]
