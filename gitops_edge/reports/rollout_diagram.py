"""The rollout as a picture: a Mermaid flowchart (GitHub renders ```mermaid code blocks) of
each workload's waves from left to right, the groups of each wave, the bake time between waves,
the groups' maintenance windows, and which groups are held, waiting, halted or have NotReady
nodes deferred. The Markdown of `plan` and of `diff` (the Action's job summary) include it.

Repository text (names, windows) goes only into quoted labels, escaped with `mermaid_label`, so
it can neither end its label, start a Mermaid statement, open HTML or Markdown, nor close the
code block. The diagram is bounded at any fleet size: at most MAX_WORKLOADS workloads,
MAX_WAVES waves per workload, MAX_PER_WAVE groups per wave and MAX_BOXES groups in all; the
rest are folded into "+N more" boxes that count them.
Pure: builds strings from values, no side effects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gitops_edge.model.desired import DesiredDaemonSet
from gitops_edge.model.maintenance import Window, format_duration, next_start
from gitops_edge.model.plan import DaemonSetPlan, Plan, held_by_window
from gitops_edge.planner.words import rfc3339
from gitops_edge.reports.workflow_text import inline

MAX_WORKLOADS = 6
MAX_WAVES = 5
MAX_PER_WAVE = 6
MAX_BOXES = 40
MAX_LABEL = 100  # characters of one line of a label, escaped

# Drawn as they are in a label; anything else becomes a Mermaid entity code (`#34;`).
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_./:()*+=,@")
_NAMED = {'"': "#quot;"}
_STYLES = {  # state → Mermaid classDef style
    "halted": "fill:#f8d7da,stroke:#c62828,color:#000",
    "held": "fill:#fff3cd,stroke:#b08800,color:#000",
    "waiting": "fill:#eeeeee,stroke:#888888,color:#000",
    "done": "fill:#d4edda,stroke:#2e7d32,color:#000",
}


@dataclass(frozen=True, slots=True)
class GroupStep:
    """One group's place in its workload's rollout, as drawn."""

    namespace: str
    workload: str
    group: str  # the node group, or the DaemonSet's name when it is a plain one
    wave: int = 0  # 0-based
    waves: int = 1
    bake_seconds: int = 0  # after this group's wave settles, before the next wave starts
    window: Window | None = None  # the group's maintenance window
    state: str = ""  # "" (moving or nothing known) | halted | held | waiting | done
    lines: tuple[str, ...] = ()  # more lines of its label: progress, deferred nodes
    note: str = ""  # the last line of its label: why it is held, waiting or halted


def mermaid_label(text: str) -> str:
    """Text for inside a quoted Mermaid label: one line (`workflow_text.inline`), every
    character but letters, digits and plain punctuation as an entity code (`"` → `#quot;`, `<`
    → `#60;`, `#` → `#35;`, backtick → `#96;`), so it cannot end the label, open HTML or a
    Markdown string, start a line break or an entity of its own; cut (`…`) so that it is at
    most MAX_LABEL characters long once escaped."""
    out: list[str] = []
    size = 0
    for char in inline(text):
        code = char if char in _SAFE else _NAMED.get(char) or f"#{ord(char)};"
        if size + len(code) > MAX_LABEL - 1:
            out.append("…")
            break
        out.append(code)
        size += len(code)
    return "".join(out)


def _label(*pieces: str) -> str:
    """A quoted label of escaped lines."""
    return '"' + "<br>".join(mermaid_label(p) for p in pieces if p) + '"'


def _wave_of(ds: DaemonSetPlan) -> tuple[int, int]:
    wave, _, waves = ds.wave.partition("/")
    return (int(wave) - 1, int(waves)) if wave.isdigit() and waves.isdigit() else (0, 1)


def _plan_state(ds: DaemonSetPlan, *, now: float) -> tuple[str, str]:
    """(state, why) of one DaemonSet of a plan."""
    if ds.errors:
        return "halted", "plan error: nothing is done"
    if ds.halted:
        return "halted", "HALTED"
    if ds.rolled_back:
        return "halted", f"rolled back {ds.rolled_back}"
    if ds.held and held_by_window(ds.held):
        upcoming = next_start(ds.window, now) if ds.window is not None else None
        return "held", f"held: window opens {rfc3339(upcoming)}" if upcoming else "held"
    if ds.held:  # "wave 2/3 waits: group canary is baking until …"
        return "waiting", "waits: " + ds.held.partition(" waits: ")[2]
    p = ds.progress
    return ("done" if p.nodes and p.current == p.nodes and not ds.actions else ""), ""


def steps_of_plan(plan: Plan) -> tuple[GroupStep, ...]:
    """Each DaemonSet of a plan: its wave, progress, deferred nodes and hold."""
    steps = []
    for ds in plan.daemonsets:
        wave, waves = _wave_of(ds)
        state, why = _plan_state(ds, now=plan.now)
        p = ds.progress
        lines = [f"{p.current}/{p.nodes} current" if p.nodes else "no pods yet"]
        if p.deferred or p.not_ready:  # a held group defers its NotReady nodes when it moves
            lines.append(f"{p.deferred or p.not_ready} NotReady: deferred")
        steps.append(
            GroupStep(
                namespace=ds.namespace,
                workload=ds.workload,
                group=ds.group or ds.name,
                wave=wave,
                waves=waves,
                bake_seconds=ds.bake_seconds,
                window=ds.window,
                state=state,
                lines=tuple(lines),
                note=why,
            )
        )
    return tuple(steps)


def step_of_desired(ds: DesiredDaemonSet, *, lines: tuple[str, ...] = ()) -> GroupStep:
    """A desired DaemonSet's place in its rollout (no cluster state: `diff`)."""
    policy = ds.rollout
    return GroupStep(
        namespace=ds.namespace,
        workload=ds.workload,
        group=ds.group or ds.name,
        wave=policy.wave if policy is not None else 0,
        waves=policy.waves if policy is not None else 1,
        bake_seconds=policy.bake_seconds if policy is not None else 0,
        window=ds.window,
        lines=lines,
    )


def _grouped(steps: Iterable[GroupStep]) -> list[tuple[str, dict[int, list[GroupStep]]]]:
    """(namespace/workload, wave → its steps), workloads and waves in the order met."""
    out: dict[str, dict[int, list[GroupStep]]] = {}
    for step in steps:
        out.setdefault(f"{step.namespace}/{step.workload}", {}).setdefault(step.wave, [])
        out[f"{step.namespace}/{step.workload}"][step.wave].append(step)
    return [(name, dict(sorted(waves.items()))) for name, waves in out.items()]


def _counted(steps: Sequence[GroupStep]) -> str:
    """`3 held, 1 halted`: the states of folded groups."""
    counts: dict[str, int] = {}
    for step in steps:
        if step.state and step.state != "done":
            counts[step.state] = counts.get(step.state, 0) + 1
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


@dataclass(slots=True)
class _Drawing:
    """The diagram being built (a private builder, not a value): its lines, how many group
    boxes may still be drawn, the boxes drawn per styled state."""

    lines: list[str]
    boxes_left: int
    styled: dict[str, list[str]]

    def box(self, step: GroupStep, *, node: str, indent: str) -> None:
        window = f"window {step.window.describe()}" if step.window is not None else ""
        label = _label(step.group, *step.lines, window, step.note)
        self.lines.append(f"{indent}{node}[{label}]")
        self.boxes_left -= 1
        if step.state in _STYLES:
            self.styled.setdefault(step.state, []).append(node)

    def fold(self, folded: Sequence[GroupStep], *, node: str, text: str, indent: str) -> None:
        self.lines.append(f"{indent}{node}[{_label(text, _counted(folded))}]")

    def wave(self, steps: Sequence[GroupStep], *, node: str, indent: str) -> None:
        shown = steps[: max(0, min(MAX_PER_WAVE, self.boxes_left))]
        for j, step in enumerate(shown):
            self.box(step, node=f"{node}g{j}", indent=indent)
        rest = steps[len(shown) :]
        if rest:
            text = f"+{len(rest)} more {'group' if len(rest) == 1 else 'groups'}"
            self.fold(rest, node=f"{node}more", text=text, indent=indent)


def _edge(step: GroupStep) -> str:
    bake = f", then bake {format_duration(step.bake_seconds)}" if step.bake_seconds else ""
    return _label(f"settled{bake}")


def _workload(drawing: _Drawing, *, i: int, name: str, waves: dict[int, list[GroupStep]]) -> None:
    drawing.lines.append(f"  subgraph w{i}[{_label(name)}]")
    numbers = list(waves)
    if numbers == [0] and waves[0][0].waves <= 1:  # no waves: the groups move together
        drawing.wave(waves[0], node=f"w{i}v0", indent="    ")
        drawing.lines.append("  end")
        return
    shown = numbers[:MAX_WAVES]
    for k, number in enumerate(shown):
        steps = waves[number]
        drawing.lines.append(
            f"    subgraph w{i}v{k}[{_label(f'wave {number + 1}/{steps[0].waves}')}]"
        )
        drawing.wave(steps, node=f"w{i}v{k}", indent="      ")
        drawing.lines.append("    end")
    for k in range(1, len(shown)):
        drawing.lines.append(f"    w{i}v{k - 1} -->|{_edge(waves[shown[k - 1]][0])}| w{i}v{k}")
    rest = [step for number in numbers[len(shown) :] for step in waves[number]]
    if rest:
        more = len(numbers) - len(shown)
        text = f"+{_plural(more, 'more wave')} ({_plural(len(rest), 'group')})"
        drawing.fold(rest, node=f"w{i}more", text=text, indent="    ")
        last = waves[shown[-1]][0]
        drawing.lines.append(f"    w{i}v{len(shown) - 1} -->|{_edge(last)}| w{i}more")
    drawing.lines.append("  end")


def mermaid_lines(steps: Sequence[GroupStep]) -> list[str]:
    """The flowchart's lines (without the code fence); empty when there is nothing to draw."""
    if not steps:
        return []
    drawing = _Drawing(lines=["flowchart LR"], boxes_left=MAX_BOXES, styled={})
    workloads = _grouped(steps)
    drawn = 0
    for i, (name, waves) in enumerate(workloads):
        if i >= MAX_WORKLOADS or drawing.boxes_left <= 0:
            break
        _workload(drawing, i=i, name=name, waves=waves)
        drawn += 1
    rest = [step for _, waves in workloads[drawn:] for wave in waves.values() for step in wave]
    if rest:
        more = len(workloads) - drawn
        text = f"+{more} more {'workload' if more == 1 else 'workloads'}"
        text += f" ({_plural(len(rest), 'group')})"
        drawing.fold(rest, node="more", text=text, indent="  ")
    for state, nodes in drawing.styled.items():
        drawing.lines.append(f"  classDef {state} {_STYLES[state]}")
        drawing.lines.append(f"  class {','.join(nodes)} {state}")
    return drawing.lines


def mermaid_block(steps: Sequence[GroupStep]) -> str:
    """The diagram as a ```mermaid code block ("" when there is nothing to draw). No label
    holds a backtick, so the fence cannot be closed from inside."""
    lines = mermaid_lines(steps)
    return "\n".join(["```mermaid", *lines, "```"]) if lines else ""
