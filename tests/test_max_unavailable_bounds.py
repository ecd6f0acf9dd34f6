"""Budgets are bounded (issue 14 item 3): whatever max-unavailable validation accepts — the
`apps.openyurt.io/max-unavailable` annotation of a plain DaemonSet, an EdgeDaemonSet's
`spec.strategy.maxUnavailable`, `spec.defaults.maxUnavailable` of gitops-edge.yaml — is at most
100% or a 32-bit integer, and resolving it into a budget never raises.

A hypothesis property over the accepted syntax and its near misses (huge numbers, hex and octal
literals, decimals, signs, spaces, booleans), written into real repositories and validated.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops_edge.model.desired import UpdateModel
from gitops_edge.model.openyurt import resolve_max_unavailable
from gitops_edge.reconciler.reconcile import InvalidRevisionError, load_desired
from gitops_edge.repository.diagnostics import ERROR
from gitops_edge.repository.validation import validate_repository

INT32_MAX = 2**31 - 1

CONFIG = """apiVersion: gitops-edge.io/v1alpha1
kind: RepositoryConfig
metadata:
  name: fleet
spec:
  defaultNamespace: edge
{defaults}"""

GROUP = """apiVersion: gitops-edge.io/v1alpha1
kind: NodeGroup
metadata:
  name: pool
spec:
  selector:
    matchLabels:
      apps.openyurt.io/nodepool: pool
"""

EDGE = """apiVersion: gitops-edge.io/v1alpha1
kind: EdgeDaemonSet
metadata:
  name: agent
spec:
  strategy:
    type: AdvancedRollingUpdate
{field}  template:
    metadata:
      labels: {{app: agent}}
    spec:
      containers:
        - name: agent
          image: registry.example.com/edge/agent:1.0
  groups:
    - name: pool
"""

PLAIN = """apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: web
  annotations:
    apps.openyurt.io/update-strategy: AdvancedRollingUpdate
    apps.openyurt.io/max-unavailable: {value}
spec:
  selector:
    matchLabels: {{app: web}}
  updateStrategy: {{type: OnDelete}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
        - name: web
          image: nginx:1.19.4
"""

_DIGITS = st.text("0123456789", min_size=1, max_size=24)
_NEAR_MISSES = st.sampled_from(
    [
        "0x7FFFFFFF",
        "0x80000000",
        "0xFFFFFFFFFFFFFFFFFF",
        "0o17",
        "0b101",
        "1e3",
        "3.0",
        "2.5",
        ".inf",
        "true",
        "+3",
        "-0",
        "-1",
        " 3",
        "3 ",
        "%",
        "10 %",
        "٣",
        "3\n",
        "1_000",
    ]
)
TOKENS = st.one_of(
    _DIGITS,
    _DIGITS.map(lambda d: d + "%"),
    st.integers(min_value=-3, max_value=2**70).map(str),
    st.integers(min_value=-3, max_value=10**22).map(lambda n: f"{n}%"),
    st.sampled_from([str(INT32_MAX), str(INT32_MAX + 1), "100%", "101%", "0", "0%"]),
    _NEAR_MISSES,
)


def _scalar(token: str, quoted: bool) -> str:
    """The token as a YAML scalar: quoted (always a string) or plain (YAML decides the type)."""
    return json.dumps(token) if quoted or "\n" in token else token


def _repository(root: Path, *, where: str, scalar: str) -> None:
    defaults = f"  defaults:\n    maxUnavailable: {scalar}\n" if where == "defaults" else ""
    (root / "gitops-edge.yaml").write_text(CONFIG.format(defaults=defaults))
    (root / "groups.yaml").write_text(GROUP)
    field = f"    maxUnavailable: {scalar}\n" if where == "edge" else ""
    (root / "edge.yaml").write_text(EDGE.format(field=field))
    if where == "annotation":
        (root / "plain.yaml").write_text(PLAIN.format(value=scalar))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    token=TOKENS,
    quoted=st.booleans(),
    where=st.sampled_from(["annotation", "edge", "defaults"]),
    nodes=st.integers(min_value=0, max_value=100_000),
)
def test_whatever_validation_accepts_resolves_to_a_bounded_budget(
    token: str, quoted: bool, where: str, nodes: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _repository(root, where=where, scalar=_scalar(token, quoted))
        try:
            desired = load_desired(root, revision="r")
        except InvalidRevisionError as exc:
            assert {d.rule for d in exc.diagnostics} <= {"max-unavailable", "schema", "yaml"}
            return
    rolling = [d for d in desired.daemonsets if d.model is UpdateModel.ADVANCED_ROLLING_UPDATE]
    assert rolling
    for ds in rolling:
        budget = resolve_max_unavailable(ds.max_unavailable, nodes)  # must not raise
        assert 0 <= budget <= INT32_MAX
        if isinstance(ds.max_unavailable, str) and ds.max_unavailable.endswith("%"):
            assert budget <= nodes  # at most 100%


def test_the_golden_cases_name_every_place_a_budget_is_written() -> None:
    """The annotation, the EdgeDaemonSet field and the repository default are each checked."""
    golden = Path(__file__).parent / "golden" / "invalid"
    plain = validate_repository(golden / "max-unavailable-range").diagnostics
    edge = validate_repository(golden / "edge-max-unavailable-range").diagnostics
    assert {d.file for d in plain if d.severity == ERROR} == {"over-100.yaml", "not-int32.yaml"}
    assert {d.file for d in edge if d.severity == ERROR} == {
        "gitops-edge.yaml",
        "hex-literal.yaml",
        "decimal.yaml",
    }
