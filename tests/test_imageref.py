"""Image reference syntax."""

from __future__ import annotations

import pytest

from gitops_edge.model.imageref import parse_image

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("ref", "name", "tag", "digest"),
    [
        ("nginx", "nginx", None, None),
        ("nginx:1.19.4", "nginx", "1.19.4", None),
        ("kubeedge/installation-package", "kubeedge/installation-package", None, None),
        ("registry.example.com:5000/team/app:v1", "registry.example.com:5000/team/app", "v1", None),
        (f"docker.io/library/nginx@{DIGEST}", "docker.io/library/nginx", None, DIGEST),
        (f"nginx:1.25@{DIGEST}", "nginx", "1.25", DIGEST),
    ],
)
def test_valid(ref: str, name: str, tag: str | None, digest: str | None) -> None:
    parsed = parse_image(ref)
    assert (parsed.name, parsed.tag, parsed.digest) == (name, tag, digest)


@pytest.mark.parametrize(
    ("ref", "words"),
    [
        ("Nginx:1.0", "lowercase"),
        ("nginx@sha256:abc", "digest"),
        ("nginx:1.0;reboot", "not a valid reference"),
        ("", "empty"),
        (" nginx", "spaces"),
    ],
)
def test_invalid(ref: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_image(ref)
