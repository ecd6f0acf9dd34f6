"""Container image reference syntax (the distribution/reference grammar, sha256 digests only).

Pure functions. No side effects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
_REFERENCE = re.compile(
    rf"^(?P<name>(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
MAX_NAME_LENGTH = 255


@dataclass(frozen=True, slots=True)
class ImageRef:
    name: str
    tag: str | None
    digest: str | None


def parse_image(ref: str) -> ImageRef:
    """Parse `[registry/]path[:tag][@sha256:<64 hex>]`; ValueError says what is wrong."""
    if not ref or ref != ref.strip():
        raise ValueError(f"image {ref!r} is empty or has surrounding spaces")
    m = _REFERENCE.match(ref)
    if m is None:
        if "@" in ref and not re.search(r"@sha256:[0-9a-f]{64}$", ref):
            raise ValueError(f"image {ref!r} has a malformed digest: use @sha256:<64 hex digits>")
        if any(c.isupper() for c in ref.split("/")[-1]):
            raise ValueError(f"image {ref!r}: repository names must be lowercase")
        raise ValueError(
            f"image {ref!r} is not a valid reference: use [registry/]path[:tag][@sha256:digest]"
        )
    name = m.group("name")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"image name is longer than {MAX_NAME_LENGTH} characters")
    return ImageRef(name=name, tag=m.group("tag"), digest=m.group("digest"))
