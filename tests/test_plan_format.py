"""Plan rendering: JSON shape, text blocks (progress bar, budget, reasons, compressed
deferrals, quiet DaemonSets folded), Markdown table for pull requests."""

from __future__ import annotations

import json

import pytest
from planner_fixtures import desired_ds, fleet, observed, state

from gitops_edge.model.desired import UpdateModel
from gitops_edge.model.plan import Plan
from gitops_edge.planner import plan
from gitops_edge.reports.plan_format import plan_to_dict, progress_bar, render, render_text


@pytest.fixture
def busy() -> Plan:
    nodes, pods = fleet(10, not_ready=(1, 2, 3, 4, 5, 6, 7))
    return plan(state(desired_ds(max_unavailable="30%")), observed(nodes, pods))


def test_json_shape_is_stable_and_serialisable(busy: Plan) -> None:
    data = json.loads(render(busy, "json"))
    assert data == plan_to_dict(busy)
    assert set(data) == {
        "revision",
        "now",
        "summary",
        "daemonsets",
        "owner",
        "prunes",
        "pruneErrors",
        "orphans",
        "jobs",
        "namespaces",
        "namespacePrunes",
        "namespaceNotes",
        "warnings",
    }
    assert data["warnings"] == [] and data["summary"]["warnings"] == 0
    ds = data["daemonsets"][0]
    assert ds["model"] == "AdvancedRollingUpdate"
    assert ds["budget"] == {
        "maxUnavailable": 3,
        "unavailable": 0,
        "deletions": 3,
        "spec": "30%",
    }
    assert ds["progress"]["deferred"] == 7
    assert {a["type"] for a in ds["actions"]} == {"deletePod"}
    assert all(a["reason"].startswith("delete pod edge/") for a in ds["actions"])
    assert data["summary"]["deletions"] == 3 and data["summary"]["deferred"] == 7
    assert data["now"].endswith("Z")


def test_text_block(busy: Plan) -> None:
    text = render_text(busy)
    assert "edge/app  (app, plain DaemonSet, AdvancedRollingUpdate, revision newhash)" in text
    assert "[----------] 0/10 current, 10 outdated, 7 deferred (NotReady)" in text
    assert "budget 3 (30% of 10): 0 unavailable, 3 deletions this pass" in text
    assert "  - delete pod edge/app-n00-old on node n00" in text
    assert text.count("  deferred n0") == 5 and "+2 more NotReady nodes" in text
    assert render_text(busy, verbose=True).count("  deferred n0") == 7
    assert text.splitlines()[-1].startswith("plan for revision rev")


def test_quiet_daemonsets_share_one_line_unless_verbose() -> None:
    nodes, pods = fleet(3, revision="newhash")
    done = plan(state(desired_ds()), observed(nodes, pods))
    assert "up to date, nothing to do: edge/app" in render_text(done)
    assert "edge/app  (app" in render_text(done, verbose=True)


def test_markdown_table_and_details(busy: Plan) -> None:
    md = render(busy, "markdown")
    assert "| DaemonSet | workload | group | wave | model | progress | actions | deferred |" in md
    assert "| `edge/app` | app | — | — | AdvancedRollingUpdate | 0/10 current | 3 | 7 |" in md
    assert "<details><summary><code>edge/app</code>" in md and "</details>" in md


def test_markdown_escapes_pipes_in_names() -> None:
    nodes, pods = fleet(1)
    result = plan(state(desired_ds(model=UpdateModel.OTA, workload="a|b")), observed(nodes, pods))
    assert "a\\|b" in render(result, "markdown")


def test_progress_bar_edges() -> None:
    assert progress_bar(0, 0) == "[----------] 0/0 current"
    assert progress_bar(5, 10) == "[#####-----] 5/10 current"


def test_unknown_format_is_refused(busy: Plan) -> None:
    with pytest.raises(ValueError, match="use one of"):
        render(busy, "yaml")


@pytest.mark.parametrize(
    ("written", "line"),
    [
        (0, "budget 1 (10% of 10): 0 unavailable, 1 deletions this pass"),
        ("0%", "budget 1 (10% of 10): 0 unavailable, 1 deletions this pass"),
        (2, "budget 2 (of 10 nodes): 0 unavailable, 2 deletions this pass"),
    ],
)
def test_budget_line_says_where_the_budget_comes_from(written: int | str, line: str) -> None:
    nodes, pods = fleet(10)
    assert line in render_text(
        plan(state(desired_ds(max_unavailable=written)), observed(nodes, pods))
    )
