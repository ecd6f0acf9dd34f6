"""`diff` warns when a change goes to a NodeGroup that matched no node at the reconciler's last
pass (`groupMatchesNoNode` in the status rows), in text, Markdown and JSON (issue 18 item 6)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from gitops_edge.cluster.sim import SimCluster
from gitops_edge.reconciler.reconcile import load_desired, plan_once
from gitops_edge.reports.diff import compare, render_json, render_markdown, render_text
from gitops_edge.source.status import status_rows

EXAMPLE = Path(__file__).resolve().parent.parent / "example-repo"


def test_a_change_to_a_group_that_matches_no_node_is_a_warning(tmp_path: Path) -> None:
    head_root = tmp_path / "head"
    shutil.copytree(EXAMPLE, head_root)
    workload = head_root / "workloads" / "ota-updater.yaml"
    workload.write_text(workload.read_text().replace("ota-updater:2.3.0", "ota-updater:2.4.0"))
    base = load_desired(EXAMPLE, revision="b")
    head = load_desired(head_root, revision="h")
    cluster = SimCluster.create(  # no shenzhen node: that group matches nothing
        groups=[("hangzhou", 2), ("shanghai", 2)], group_label_keys=("apps.openyurt.io/nodepool",)
    )
    rows = status_rows(base, plan_once(base, cluster))
    shenzhen = next(r for r in rows if r["group"] == "shenzhen")
    assert shenzhen["groupMatchesNoNode"] is True
    assert next(r for r in rows if r["group"] == "hangzhou")["groupMatchesNoNode"] is False
    status = {(r["workload"], r["group"]): r for r in rows}
    report = compare(base, head, status)
    assert len(report.warnings) == 1
    warning = report.warnings[0]
    assert warning.startswith(
        "NodeGroup shenzhen (groups/shenzhen.yaml:4) matched no node at the last pass: "
        "edge-apps/ota-updater-shenzhen would run on no node (hint: "
    )
    assert f"warning: {warning}" in render_text(report).splitlines()
    assert "**Warnings**" in render_markdown(report) and "NodeGroup shenzhen" in render_markdown(
        report
    )
    assert json.loads(render_json(report))["warnings"] == [warning]
    quiet = compare(base, head, {k: {**r, "groupMatchesNoNode": False} for k, r in status.items()})
    assert quiet.warnings == () and json.loads(render_json(quiet))["warnings"] == []
