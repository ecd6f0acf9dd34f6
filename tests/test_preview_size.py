"""The diff preview's Markdown (job summary and pull-request comment) stays within GitHub's
65,536-character comment limit at any fleet size and with hostile names, counted as
conservatively as `markdown_budget.github_length` does (UTF-8 bytes, line feeds twice); a small
preview is the full one, unchanged."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_edge.reports.diff import Change, DiffReport, Impact, render_markdown
from gitops_edge.reports.markdown_budget import (
    COMMENT_LIMIT,
    PREVIEW_BUDGET,
    fit_markdown,
    github_length,
)
from gitops_edge.reports.rollout_diagram import GroupStep

NAMES = {
    "plain": lambda i: (f"workload-{i // 100}", f"group-{i:05d}"),
    # every character that Markdown escaping or UTF-8 makes longer, and names far too long
    "hostile": lambda i: (
        f"w{i // 10}" + "<&|`*_[]\\~😀\n##[x" * 40,
        f"g{i}" + "&<>😀𝕏" * 60,
    ),
}


def report(groups: int, names: str, *, jobs: int = 0, status: bool = True) -> DiffReport:
    changes, steps = [], []
    for i in range(groups):
        workload, group = NAMES[names](i)
        image = f"registry.example.com/{workload}:{i}"
        changes.append(
            Change(
                kind=("added", "changed", "removed")[i % 3],
                namespace="edge",
                name=f"{workload}-{group}",
                workload=workload,
                group=group,
                details=tuple(f"image {image} → {image}.1 container {c}" for c in range(5)),
                images_before=(image,),
                images_after=(image + ".1",),
                impact=Impact(nodes=10, deferred=i % 4, max_down=2, passes=5) if status else None,
            )
        )
        steps.append(GroupStep(namespace="edge", workload=workload, group=group, wave=i % 3))
    return DiffReport(
        base="a" * 40,
        head="b" * 40,
        changes=tuple(changes),
        jobs=tuple(f"NodeUpgradeJob {NAMES[names](j)[1]} added" for j in range(jobs)),
        has_status=status,
        steps=tuple(steps),
    )


def balanced(markdown: str) -> None:
    assert markdown.count("<details>") == markdown.count("</details>")
    assert len(re.findall(r"^```", markdown, flags=re.MULTILINE)) % 2 == 0


@pytest.mark.parametrize("names", sorted(NAMES))
@pytest.mark.parametrize("groups", [2_000, 20_000])
def test_a_large_preview_is_shortened_within_the_comment_limit(groups: int, names: str) -> None:
    markdown = render_markdown(report(groups, names, jobs=groups // 4))
    assert github_length(markdown) <= PREVIEW_BUDGET < COMMENT_LIMIT
    balanced(markdown)
    assert f"**{groups:,} groups of " in markdown  # the totals are always there
    assert "**Per workload**" in markdown
    assert f"{groups * 10:,} nodes" in markdown
    shown = re.search(r"The first ([\d,]+) of ([\d,]+) changed groups", markdown)
    assert shown is not None and shown[2] == f"{groups:,}"
    rows = int(shown[1].replace(",", ""))
    assert rows >= (100 if names == "plain" else 10)  # a useful part of the detail is shown …
    assert f"+{groups - rows:,} more changed groups not shown here" in markdown  # … and counted
    assert "diff-json" in markdown  # where the whole list is
    assert "more node jobs" in markdown


def test_the_2000_group_preview_keeps_its_diagram_and_workload_totals() -> None:
    markdown = render_markdown(report(2_000, "plain"))
    assert "```mermaid" in markdown
    assert "| edge/workload-0 | 100 | 34 | 33 | 33 | 1000 | 150 |" in markdown
    assert "+" not in markdown.split("**Per workload**")[1].split("**Rollout order**")[0]


@pytest.mark.parametrize("groups", [0, 1, 30])
def test_a_small_preview_is_the_full_one(groups: int) -> None:
    full = render_markdown(report(groups, "plain", jobs=2), budget=10**9)
    assert render_markdown(report(groups, "plain", jobs=2)) == full
    assert "shortened" not in full


@settings(max_examples=50, deadline=None)
@given(
    groups=st.integers(min_value=0, max_value=3_000),
    jobs=st.integers(min_value=0, max_value=3_000),
    names=st.sampled_from(sorted(NAMES)),
    status=st.booleans(),
    budget=st.integers(min_value=8_000, max_value=PREVIEW_BUDGET),
)
def test_any_preview_fits_its_budget(
    groups: int, jobs: int, names: str, status: bool, budget: int
) -> None:
    markdown = render_markdown(report(groups, names, jobs=jobs, status=status), budget=budget)
    assert github_length(markdown) <= budget
    balanced(markdown)


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            st.text(max_size=300),
            st.sampled_from(["```", "````text", "~~~", "<details><summary>x</summary>", "|a|"]),
        ),
        max_size=200,
    ),
    limit=st.integers(min_value=300, max_value=20_000),
)
def test_fit_markdown_is_within_the_limit_and_closes_what_it_opened(
    lines: list[str], limit: int
) -> None:
    text = "\n".join(line.replace("\n", " ").replace("\r", " ") for line in lines)
    fitted = fit_markdown(text, limit=limit, note="… {lines} more lines: see the job summary")
    assert github_length(fitted) <= limit
    if fitted != text:
        assert fitted.endswith("more lines: see the job summary\n")


def test_fit_markdown_closes_the_code_block_and_details_it_cut() -> None:
    text = "# t\n<details><summary>x</summary>\n\n````text\n" + "line ```\n" * 1000 + "````"
    fitted = fit_markdown(text, limit=2_000, note="… {lines} more lines")
    assert github_length(fitted) <= 2_000
    kept, ending = fitted.split("\n````\n</details>\n\n… ")
    assert kept.split("\n")[-1] == "line ```"  # whole lines, then the fence and details closed
    assert ending == f"{len(text.split(chr(10))) - len(kept.split(chr(10)))} more lines\n"


def test_github_length_counts_bytes_and_line_feeds() -> None:
    assert github_length("a\nb") == 4
    assert github_length("😀") == 4 and github_length("é") == 2


def test_an_invalid_head_with_thousands_of_problems_stays_within_the_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gitops_edge.cli.main import main

    repo = tmp_path / "repo"
    shutil.copytree(Path(__file__).resolve().parent.parent / "example-repo", repo)
    git = ["git", "-c", "user.name=u", "-c", "user.email=u@x"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=repo, check=True)
    bad = "".join(
        f"---\napiVersion: gitops-edge.io/v1alpha1\nkind: NodeGroup\nmetadata:\n  name: g{i}\n"
        f"spec:\n  {'x' * 60}{i}: 1\n  selector: {{matchLabels: {{a: b}}}}\n"
        for i in range(3_000)
    )
    (repo / "groups" / "many.yaml").write_text(bad)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "bad"], cwd=repo, check=True)
    assert main(["diff", str(repo), "--base", "HEAD~1", "--format", "markdown"]) == 2
    captured = capsys.readouterr()
    assert len(captured.err) > 2 * PREVIEW_BUDGET  # every problem on stderr (the step log) …
    assert github_length(captured.out) <= PREVIEW_BUDGET  # … the Markdown within the budget
    assert "is invalid and would not be applied" in captured.out
    balanced(captured.out)
    assert re.search(r"… [\d,]+ more lines of problems: see the annotations", captured.out)
