"""The smallest valid `gitops-edge.yaml`, for tests that build a desired-state folder: a
folder without one is not a valid revision (issue 14)."""

from __future__ import annotations

from pathlib import Path

CONFIG = """apiVersion: gitops-edge.io/v1alpha1
kind: RepositoryConfig
metadata:
  name: {name}
spec: {{}}
"""


def write_config(root: Path, *, name: str = "test-repo") -> Path:
    """Write `root/gitops-edge.yaml` (owner identity `name`) and return its path."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "gitops-edge.yaml"
    path.write_text(CONFIG.format(name=name))
    return path
