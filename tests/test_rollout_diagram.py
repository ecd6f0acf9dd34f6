"""The rollout as a Mermaid diagram in the Markdown of `plan` and `diff`: waves left to right
with their groups, the bake time between waves, maintenance windows, held, halted and deferred
groups; repository text cannot leave its label or the code block; the diagram stays small for
any fleet size."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from test_rollout_policy import WAVES, WINDOW, fleet, passes, write

from gitops_edge.cli.main import main
from gitops_edge.model.maintenance import parse_window
from gitops_edge.reconciler.reconcile import load_desired, plan_once
from gitops_edge.reports import plan_format
from gitops_edge.reports.diff import compare, render_markdown
from gitops_edge.reports.rollout_diagram import (
    MAX_BOXES,
    MAX_WAVES,
    MAX_WORKLOADS,
    GroupStep,
    mermaid_block,
    mermaid_label,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "example-repo"
LABEL = re.compile(r'\["([^"]*)"\]')


def diagram_of(markdown: str) -> str:
    """The one ```mermaid block of a Markdown text, fences included."""
    start = markdown.index("```mermaid\n")
    end = markdown.index("\n```", start + 1) + len("\n```")
    assert markdown.count("```mermaid") == 1
    return markdown[start:end]


def waves_repo(root: Path, *, image: str) -> None:
    """The README's waves example: a canary wave baking 10 minutes, then north (with a nightly
    maintenance window) and south."""
    policy = WAVES.format(bake=600, rollback="true", wait="false")
    write(root, image=image, rollout=policy, windows={"north": WINDOW})


def test_plan_markdown_draws_the_waves_bake_window_and_holds(tmp_path: Path) -> None:
    cluster = fleet()  # 2026-01-01T00:00:00Z: north's window (02:00 for 1h) is closed
    repo = tmp_path / "repo"
    waves_repo(repo, image="1")
    passes(load_desired(repo, revision="r1"), cluster, 3)
    waves_repo(repo, image="2")
    desired = load_desired(repo, revision="r2")
    passes(desired, cluster, 2)  # the DaemonSets are updated, the canary moves
    plan = plan_once(desired, cluster)
    diagram = diagram_of(plan_format.render(plan, "markdown"))
    assert diagram.splitlines()[:2] == ["```mermaid", "flowchart LR"]
    assert '  subgraph w0["edge/agent"]' in diagram
    assert '    subgraph w0v0["wave 1/2"]' in diagram
    assert '      w0v0g0["canary<br>2/2 current"]' in diagram
    assert '    subgraph w0v1["wave 2/2"]' in diagram
    assert (
        '      w0v1g0["north<br>0/3 current<br>window 0 2 * * * (UTC) for 1h<br>'
        'held: window opens 2026-01-01T02:00:00Z"]' in diagram
    )
    assert (
        '      w0v1g1["south<br>0/3 current<br>'
        'waits: group canary is baking until 2026-01-01T00:10:45Z"]' in diagram
    )
    assert '    w0v0 -->|"settled, then bake 10m"| w0v1' in diagram
    assert "  class w0v1g0 held" in diagram and "  class w0v1g1 waiting" in diagram
    # the diagram comes before the tables: order first, details after
    markdown = plan_format.render(plan, "markdown")
    assert markdown.index("```mermaid") < markdown.index("| DaemonSet |")


def test_plan_markdown_shows_a_halted_canary_and_deferred_nodes(tmp_path: Path) -> None:
    cluster = fleet()
    repo = tmp_path / "repo"
    waves_repo(repo, image="1")
    passes(load_desired(repo, revision="r1"), cluster, 3)
    cluster.set_node_ready("north-01", False)
    cluster.set_image_broken("registry.example.com/agent:2", True)
    waves_repo(repo, image="2")
    desired = load_desired(repo, revision="r2")
    passes(desired, cluster, 20)
    diagram = diagram_of(plan_format.render(plan_once(desired, cluster), "markdown"))
    canary = next(label for label in LABEL.findall(diagram) if label.startswith("canary"))
    assert canary.startswith("canary<br>2/2 current<br>rolled back ")  # autoRollback
    south = next(label for label in LABEL.findall(diagram) if label.startswith("south"))
    assert south == "south<br>0/3 current<br>waits: group canary is halted"
    north = next(label for label in LABEL.findall(diagram) if label.startswith("north"))
    assert "1 NotReady: deferred" in north
    assert "  class w0v0g0 halted" in diagram


def test_plan_and_diff_markdown_of_the_example_repo_include_the_diagram(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "fleet.json"
    assert main(["sim", "init", str(state), "--groups", "hangzhou=4,shanghai=5,beijing=3"]) == 0
    capsys.readouterr()
    assert main(["plan", str(EXAMPLE), "--cluster", f"sim:{state}", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    diagram = diagram_of(out)
    assert '["edge-system/log-agent"]' in diagram
    assert re.search(r'w\d+v0g0\["hangzhou<br>no pods yet"\]', diagram)

    repo = tmp_path / "repo"
    waves_repo(repo, image="1")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    waves_repo(repo, image="2")
    subprocess.run([*git, "commit", "-qam", "two"], check=True)
    assert main(["diff", str(repo), "--base", "HEAD~1", "--format", "markdown"]) == 0
    diagram = diagram_of(capsys.readouterr().out)
    assert '    w0v0 -->|"settled, then bake 10m"| w0v1' in diagram
    assert '      w0v1g0["north<br>window 0 2 * * * (UTC) for 1h"]' in diagram


def test_diff_draws_only_the_groups_that_change_in_their_waves(tmp_path: Path) -> None:
    base, head = tmp_path / "base", tmp_path / "head"
    waves_repo(base, image="1")
    waves_repo(head, image="2")
    report = compare(load_desired(base, revision="b"), load_desired(head, revision="h"), {})
    diagram = diagram_of(render_markdown(report))
    assert [label.split("<br>")[0] for label in LABEL.findall(diagram)] == [
        "edge/agent",
        "wave 1/2",
        "canary",
        "wave 2/2",
        "north",
        "south",
    ]
    unchanged = compare(load_desired(head, revision="h"), load_desired(head, revision="h"), {})
    assert "```mermaid" not in render_markdown(unchanged)


HOSTILE = (
    'x"]\nclick w0 call alert(1)\n```\n<img src=x onerror=alert(1)>`%%{init: {"theme":"dark"}}%%'
    "#quot; &lt; \\n<br/>##[error]x ::error::y end"
)


def test_hostile_names_stay_inside_their_label_and_the_code_block() -> None:
    steps = (
        GroupStep(namespace=HOSTILE, workload=HOSTILE, group=HOSTILE, lines=(HOSTILE,)),
        GroupStep(namespace="ns", workload="w", group="g", wave=0, waves=2, bake_seconds=60),
        GroupStep(namespace="ns", workload="w", group=HOSTILE, wave=1, waves=2),
    )
    block = mermaid_block(steps)
    lines = block.split("\n")
    assert lines[0] == "```mermaid" and lines[-1] == "```"
    assert block.count("`") == 6  # the two fences, nothing else
    label = r'"(?:[A-Za-z0-9 #;:/.,()*+=@_-]|<br>|[→…])*"'
    allowed = [
        r"flowchart LR",
        rf"subgraph w\d+(?:v\d+)?\[{label}\]",
        rf"w[0-9a-z]+\[{label}\]",
        r"end",
        rf"w\d+v\d+ -->\|{label}\| w[0-9a-z]+",
        r"classDef [a-z]+ [a-z0-9:#,-]+",
        r"class [a-z0-9,]+ [a-z]+",
    ]
    for line in lines[1:-1]:
        assert any(re.fullmatch(pattern, line.strip()) for pattern in allowed), line
    assert sum(line.strip().startswith("w") and "[" in line for line in lines) == 3
    assert mermaid_label('a"b') == "a#quot;b"
    assert mermaid_label("<script>") == "#60;script#62;"
    assert mermaid_label("#quot;") == "#35;quot#59;"
    assert mermaid_label("`") == "#96;"
    assert mermaid_label("a\nb") == "a#92;nb"  # shown as the two characters \n, not a break
    assert mermaid_label("x" * 200) == "x" * 99 + "…"
    assert mermaid_label('"' * 200) == "#quot;" * 16 + "…"


def test_the_diagram_stays_small_at_2000_groups() -> None:
    one_workload = tuple(
        GroupStep(
            namespace="edge",
            workload="agent",
            group=f"group-{i:04d}",
            wave=i % 4,
            waves=4,
            bake_seconds=600,
            state="held" if i % 7 == 0 else "",
            lines=(f"{i}/{i} current",),
        )
        for i in range(2000)
    )
    many_workloads = tuple(
        GroupStep(namespace="edge", workload=f"app-{i:04d}", group="g") for i in range(2000)
    )
    many_waves = tuple(
        GroupStep(namespace="edge", workload="agent", group=f"g{i}", wave=i, waves=2000)
        for i in range(2000)
    )
    hostile = tuple(
        GroupStep(
            namespace="\u2028" * 300,
            workload=f"{i}" + "\u4e2d" * 300,
            group=f"{i}" + '"' * 300,
            wave=i % 3,
            waves=3,
            window=parse_window("0 2 * * *", "1h", "UTC"),
            state="held",
            lines=("<" * 300,),
            note="`" * 300,
        )
        for i in range(2000)
    )
    for steps in (one_workload, many_workloads, many_waves, hostile):
        block = mermaid_block(steps)
        assert len(block) < 25_000  # whatever the names: far below a comment's 65,536
        drawn = len(re.findall(r'w\d+v\d+g\d+\["', block))
        assert drawn <= MAX_BOXES
        folded = sum(int(n) for n in re.findall(r'"\+(\d+) more groups', block))
        folded += sum(int(n) for n in re.findall(r"\((\d+) groups\)", block))
        assert drawn + folded == 2000  # every group is drawn or counted
    more = 2000 - MAX_WORKLOADS
    assert f'"+{more} more workloads ({more} groups)"' in mermaid_block(many_workloads)
    more = 2000 - MAX_WAVES
    assert f"+{more} more waves ({more} groups)" in mermaid_block(many_waves)
    assert "held" in mermaid_block(one_workload)


def test_window_steps_from_the_model_use_its_description() -> None:
    window = parse_window("0 2 * * *", "1h", "UTC")
    block = mermaid_block((GroupStep(namespace="n", workload="w", group="g", window=window),))
    assert '["g<br>window 0 2 * * * (UTC) for 1h"]' in block
