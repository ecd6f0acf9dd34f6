"""A git source's pass bookkeeping: load it at its spec revision (remembering an invalid newer
revision) and write the status back after a pass.

Side effects: git (through GitSource), reading the checkout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gitops_edge.desired import DesiredState
from gitops_edge.diagnostics import Diagnostic
from gitops_edge.gitsource import GitSource
from gitops_edge.loop import Loaded
from gitops_edge.plan import Plan
from gitops_edge.reconcile import InvalidRevisionError, load_desired_at
from gitops_edge.redaction import redact
from gitops_edge.status import Drift, headline, status_files


@dataclass
class GitPublisher:
    """Loads a git source at its spec revision and writes status back after each pass."""

    source: GitSource
    log: Any
    enabled: bool = True
    invalid: tuple[str, tuple[Diagnostic, ...]] | None = None
    # Status folders written to: never a spec change, whatever the revision's own config says
    # (an invalid revision may name another folder; the last good one's is where status goes).
    written_to: set[str] = field(default_factory=set)

    def load(self) -> Loaded:
        checkout = self.source.sync()
        if checkout.forced:
            self.log(
                "warning",
                "the branch was force-pushed: following the rewritten history",
                revision=checkout.revision,
            )
        try:
            desired = load_desired_at(
                checkout.root,
                revision_for=lambda c: self.source.spec_revision(
                    c.status_path, *sorted(self.written_to)
                ),
            )
        except InvalidRevisionError as exc:
            self.invalid = (exc.revision, exc.diagnostics)
            return Loaded(revision=exc.revision, desired=None, diagnostics=exc.diagnostics)
        if self.invalid is not None and self.invalid[0] != desired.revision:
            self.invalid = None
        return Loaded(revision=desired.revision, desired=desired)

    def publish(
        self, desired: DesiredState, after: Plan, *, drift: Drift | None = None
    ) -> str | None:
        """Commit and push the status; the new commit, or None when nothing changed. `drift`:
        the fields the pass found drifted (and restored), by DaemonSet."""
        if not self.enabled:
            return None
        # Committed to git for all to read: no credential (e.g. quoted by a diagnostic).
        files = status_files(desired, after, invalid=self.invalid, drift=drift)
        files = {name: redact(text) for name, text in files.items()}
        self.written_to.add(desired.config.status_path)
        message = f"status: {headline(after, drift=drift)} (spec {desired.revision[:12]})"
        pushed = self.source.write_status(
            files,
            status_dir=desired.config.status_path,
            message=message,
            status_branch=desired.config.status_branch,
        )
        if pushed:
            self.log("info", "status pushed", commit=pushed, headline=headline(after, drift=drift))
        return pushed
