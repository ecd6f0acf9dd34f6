"""The "Examples:" section of every command's `--help` (as kubectl and flux show them), and the
walk over the parser's commands that it and `completion` share (`commands`).

Kept in one place so each command module stays about its options. No side effects.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Iterator

# Command path (the words after `gitops-edge`) → (what it does, the command line) pairs.
EXAMPLES: dict[tuple[str, ...], tuple[tuple[str, str], ...]] = {
    (): (
        ("Check a desired-state repository", "gitops-edge validate example-repo"),
        (
            "Preview a rollout on a simulated fleet",
            "gitops-edge plan example-repo -o text \\\n      --cluster sim:fleet.json",
        ),
    ),
    ("validate",): (
        ("Check a repository", "gitops-edge validate example-repo"),
        (
            "Check two files within their repository, as JSON",
            "gitops-edge validate example-repo/workloads/log-agent.yaml \\\n"
            "      example-repo/groups/hangzhou.yaml -o json",
        ),
    ),
    ("diff",): (
        (
            "Preview what the last commit rolls out where (Markdown)",
            "gitops-edge diff example-repo --base HEAD~1",
        ),
        (
            "Exit 1 when something changes, as kubectl diff does",
            "gitops-edge diff example-repo --base origin/main -o text --exit-code",
        ),
    ),
    ("pr-comment",): (
        (
            "Post (or update) a diff preview as the pull request's one sticky comment",
            "gitops-edge pr-comment --body-file preview.md --key fleet",
        ),
    ),
    ("plan",): (
        (
            "What a pass would do on a simulated fleet",
            "gitops-edge plan example-repo --cluster sim:fleet.json",
        ),
        (
            "The same on Kubernetes, with a context of your kubeconfig, as JSON",
            "gitops-edge plan example-repo --context prod -o json",
        ),
    ),
    ("reconcile",): (
        (
            "One pass over a simulated fleet",
            "gitops-edge reconcile example-repo --cluster sim:fleet.json --once",
        ),
        (
            "Loop over a git repository every 5 minutes",
            "gitops-edge reconcile https://git.example.com/fleet.git --branch main \\\n"
            "      --cluster kube --interval 300",
        ),
    ),
    ("status",): (
        (
            "Progress from the status files the reconciler committed",
            "gitops-edge status example-repo",
        ),
        (
            "Progress from the cluster, redrawn until Ctrl-C",
            "gitops-edge status example-repo --cluster sim:fleet.json --watch",
        ),
    ),
    ("agent",): (
        (
            "Serve the OTA API for node edge-01 of a simulated fleet",
            "gitops-edge agent --node edge-01 --cluster sim:fleet.json",
        ),
        (
            "On the node, with the kubelet's identity",
            'gitops-edge agent --node "$(hostname)" --kubeconfig /etc/kubernetes/kubelet.conf',
        ),
    ),
    ("version",): (
        ("The client's version", "gitops-edge version"),
        (
            "The client's and the API server's, as JSON",
            "gitops-edge version --cluster kube -o json",
        ),
    ),
    ("completion",): (
        ("Bash, for this shell", "source <(gitops-edge completion bash)"),
        (
            "Zsh: this line in ~/.zshrc, after compinit",
            "source <(gitops-edge completion zsh)",
        ),
        ("Fish", "gitops-edge completion fish > ~/.config/fish/completions/gitops-edge.fish"),
    ),
    ("sim",): (
        (
            "A fleet of 24 nodes in three groups, two of them NotReady",
            "gitops-edge sim init fleet.json --groups hangzhou=8,shanghai=10,beijing=6 "
            "--not-ready 2",
        ),
    ),
    ("sim", "init"): (
        ("Three groups of nodes", "gitops-edge sim init fleet.json --groups a=3,b=2"),
    ),
    ("sim", "node"): (("A link drops", "gitops-edge sim node fleet.json shanghai-07 --not-ready"),),
    ("sim", "add-node"): (
        (
            "An edge node in pool hangzhou",
            "gitops-edge sim add-node fleet.json edgenode1 --label "
            "apps.openyurt.io/nodepool=hangzhou",
        ),
    ),
    ("sim", "checks"): (
        (
            "Fail the disk pre-check of a node job",
            "gitops-edge sim checks fleet.json edge-01 --fail disk",
        ),
    ),
    ("sim", "job-versions"): (
        ("Serve only v1alpha1 node jobs", "gitops-edge sim job-versions fleet.json v1alpha1"),
    ),
    ("sim", "upgrade-fails"): (
        (
            "Make a node's v1alpha2 Upgrade fail (RollBack runs)",
            "gitops-edge sim upgrade-fails fleet.json edge-01 --fail",
        ),
    ),
    ("sim", "confirm"): (
        (
            "Confirm a requireConfirmation job on one waiting node",
            "gitops-edge sim confirm fleet.json upgrade-v1-16 --node edge-01",
        ),
    ),
    ("sim", "config-fails"): (
        (
            "Make a ConfigUpdateJob fail on a node when it sets a field",
            "gitops-edge sim config-fails fleet.json edge-01 --fields modules.edged.maxPods",
        ),
    ),
    ("sim", "tick"): (("Pods start", "gitops-edge sim tick fleet.json --seconds 30"),),
    ("sim", "image"): (
        (
            "An image whose pods never turn Ready",
            "gitops-edge sim image fleet.json registry.example.com/log-agent:1.5.0 --broken",
        ),
    ),
    ("sim", "controller"): (
        ("Stop the DaemonSet controller", "gitops-edge sim controller fleet.json stop"),
    ),
    ("sim", "scheduler"): (
        ("New pods wait 20 s unbound", "gitops-edge sim scheduler fleet.json --delay 20"),
    ),
    ("sim", "set-image"): (
        (
            "A hand edit the next pass reports as drift",
            "gitops-edge sim set-image fleet.json edge-system/log-agent-shanghai \\\n"
            "      log-agent=registry.example.com/log-agent:9.9",
        ),
    ),
    ("sim", "show"): (
        ("Nodes, DaemonSets and pods as JSON", "gitops-edge sim show fleet.json -o json"),
    ),
    ("sim", "events"): (("Events recorded", "gitops-edge sim events fleet.json"),),
}


class ExampleHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Prose paragraphs wrapped to the terminal; a paragraph with indented lines (the examples,
    lists) kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        blocks = []
        for block in text.split("\n\n"):
            lines = block.splitlines()
            if any(line.startswith(" ") for line in lines):
                blocks.append("\n".join(indent + line for line in lines))
            else:
                blocks.append(
                    textwrap.fill(
                        " ".join(block.split()),
                        width,
                        initial_indent=indent,
                        subsequent_indent=indent,
                    )
                )
        return "\n\n".join(blocks)


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """`parser` and every subcommand's parser under it, depth first, with its command path."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from commands(child, (*path, name))


def examples_text(path: tuple[str, ...]) -> str:
    """The "Examples:" section of the command at `path` ("" when it has none)."""
    found = EXAMPLES.get(path, ())
    lines = [f"  # {what}\n  {command}" for what, command in found]
    return "Examples:\n" + "\n\n".join(lines) if lines else ""


def add_examples(parser: argparse.ArgumentParser) -> None:
    """Put each command's examples first in its epilog (help text it already has after them)."""
    for path, command in commands(parser):
        text = examples_text(path)
        if text:
            command.epilog = f"{text}\n\n{command.epilog}" if command.epilog else text
        command.formatter_class = ExampleHelpFormatter
