"""Rendering KubeEdge node jobs (`JobPlan`) for people and scripts: one headline, text lines,
Markdown (a per-node table) and the stable JSON shape shared by `plan --format json` and the
per-job status files:

`{kind, name, apiVersion, source, purpose, phase, final, reason, counts: {nodes, successful,
failed, unknown, inProgress, pending}, nodes: [{node, phase, step, reason, time, images:
[{image, ok, reason}]}], actions: [{type, kind, name, apiVersion, reason}], errors: [...],
notes: [...]}`
(a status file lists only the nodes not successful, see status_detail.job_status_dict).

Pure: returns strings and dicts, prints nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitops_edge.model import nodejobs as nj
from gitops_edge.model.observed import NodeJobStatus
from gitops_edge.model.plan import CreateNodeJob, DeleteNodeJob, JobPlan

SHOWN_NODES = 20  # per-node rows in text output without --verbose


def node_job_action_to_dict(action: CreateNodeJob | DeleteNodeJob) -> dict[str, Any]:
    return {
        "type": "createNodeJob" if isinstance(action, CreateNodeJob) else "deleteNodeJob",
        "kind": action.kind,
        "name": action.name,
        "apiVersion": action.api_version,
        "reason": action.reason,
    }


def job_counts(job: JobPlan) -> dict[str, int]:
    return {
        "nodes": len(job.nodes),
        "successful": job.count(nj.NODE_SUCCESSFUL),
        "failed": job.count(nj.NODE_FAILURE),
        "unknown": job.count(nj.NODE_UNKNOWN),
        "inProgress": job.count(nj.NODE_IN_PROGRESS),
        "pending": job.count(nj.NODE_PENDING),
    }


def job_to_dict(job: JobPlan) -> dict[str, Any]:
    return {
        "kind": job.kind,
        "name": job.name,
        "apiVersion": job.api_version,
        "source": job.source,
        "purpose": job.purpose,
        "phase": job.phase,
        "final": nj.job_final(
            kind=job.kind, version=nj.version_of(job.api_version), phase=job.phase
        ),
        "reason": job.reason,
        "counts": job_counts(job),
        "nodes": [
            {
                "node": n.node,
                "phase": n.phase,
                "step": n.step,
                "reason": n.reason,
                "time": n.time,
                "images": [{"image": i.image, "ok": i.ok, "reason": i.reason} for i in n.images],
            }
            for n in sorted(job.nodes, key=lambda n: n.node)
        ],
        "actions": [
            node_job_action_to_dict(a)
            for a in job.actions
            if isinstance(a, CreateNodeJob | DeleteNodeJob)
        ],
        "errors": list(job.errors),
        "notes": list(job.notes),
    }


# Not successful, worst first: a failure before a timeout before work still going on.
_WORST_FIRST = {nj.NODE_FAILURE: 0, nj.NODE_UNKNOWN: 1, nj.NODE_IN_PROGRESS: 2, nj.NODE_PENDING: 3}


def exception_nodes(job: JobPlan) -> list[NodeJobStatus]:
    """The job's nodes whose task is not successful, worst first, then by name."""
    return sorted(
        (n for n in job.nodes if n.phase != nj.NODE_SUCCESSFUL),
        key=lambda n: (_WORST_FIRST.get(n.phase, len(_WORST_FIRST)), n.node),
    )


def count_words(counts: Mapping[str, int]) -> list[str]:
    """`["1 failed", "2 pending"]`: the nodes not successful, from `job_counts` (or a job status
    file's `counts`)."""
    return [f"{counts[key]} {label}" for key, label in _NOT_SUCCESSFUL if counts.get(key)]


_NOT_SUCCESSFUL = (
    ("failed", "failed"),
    ("unknown", "timed out"),
    ("inProgress", "in progress"),
    ("pending", "pending"),
)


def job_headline(job: JobPlan) -> str:
    """`NodeUpgradeJob upgrade-example (v1alpha1): Completed, 3/4 nodes successful, 1 failed`."""
    c = job_counts(job)
    if job.errors:
        state = "not created (error)"
    elif any(isinstance(a, CreateNodeJob) for a in job.actions):
        state = "to be created"
    else:
        state = job.phase or "created, not started yet"
        version_ = nj.version_of(job.api_version)
        if job.phase == nj.JOB_FAILURE and not nj.job_final(
            kind=job.kind, version=version_, phase=job.phase
        ):
            state += " (not final: node results still arriving can turn it Completed)"
    words = [f"{c['successful']}/{c['nodes']} nodes successful"] if c["nodes"] else []
    words += count_words(c)
    version = nj.version_of(job.api_version) or job.api_version
    tail = ", ".join([state, *words])
    return f"{job.kind} {job.name} ({version}): {tail}"


def _node_words(n: Any) -> str:
    step = f" at {n.step}" if n.step and n.phase not in nj.NODE_FINAL else ""
    reason = f": {n.reason}" if n.reason else ""
    failed_images = [i.image for i in n.images if not i.ok]
    images = f" (failed images: {', '.join(failed_images)})" if failed_images else ""
    return f"{n.node} {n.phase}{step}{reason}{images}"


def job_text_lines(job: JobPlan, *, verbose: bool = False) -> list[str]:
    lines = [job_headline(job)]
    if job.purpose:
        lines.append(f"  {job.purpose}")
    if job.reason:
        lines.append(f"  reason: {job.reason}")
    lines += [f"  ERROR: {e}" for e in job.errors]
    lines += [f"  - {a.reason}" for a in job.actions]
    nodes = sorted(job.nodes, key=lambda n: (n.phase == nj.NODE_SUCCESSFUL, n.node))
    shown = nodes if verbose else nodes[:SHOWN_NODES]
    lines += [f"  node {_node_words(n)}" for n in shown]
    if len(nodes) > len(shown):
        lines.append(f"  +{len(nodes) - len(shown)} more nodes (-v shows all)")
    lines += [f"  note: {n}" for n in job.notes]
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def job_markdown_lines(job: JobPlan, *, limit: int | None = None) -> list[str]:
    """A collapsible block: the headline, then a node | phase | step | reason table (with
    `limit`: of at most that many nodes whose task is not successful, worst first, the others
    counted in a last line)."""
    lines = ["<details><summary>" + _cell(job_headline(job)) + "</summary>", ""]
    if job.source:
        lines.append(f"From `{job.source}`.")
    if job.purpose:
        lines.append(_cell(job.purpose) + ".")
    if job.reason:
        lines.append(f"Reason: {_cell(job.reason)}")
    lines += [f"- **error**: {_cell(e)}" for e in job.errors]
    lines += [f"- {_cell(a.reason)}" for a in job.actions]
    lines += [f"- note: {_cell(n)}" for n in job.notes]
    nodes = sorted(job.nodes, key=lambda n: n.node) if limit is None else exception_nodes(job)
    shown = nodes if limit is None else nodes[:limit]
    if shown:
        lines += ["", "| node | phase | step | reason |", "|---|---|---|---|"]
        for n in shown:
            reason = n.reason
            failed_images = [i for i in n.images if not i.ok]
            if failed_images:
                reason = "; ".join([reason, *(f"{i.image}: {i.reason}" for i in failed_images)])
            lines.append(f"| `{n.node}` | {n.phase} | {n.step or '—'} | {_cell(reason) or '—'} |")
    if len(job.nodes) > len(shown):
        more = len(nodes) - len(shown)
        successful = job.count(nj.NODE_SUCCESSFUL)
        words = [f"{more} more not successful"] if more else []
        words += [f"{successful} successful"] if successful else []
        lines += ["", "Not listed: " + ", ".join(words) + " (counts above)."]
    lines += ["", "</details>"]
    return lines
