"""The simulated edge cluster: the `Cluster` protocol over an in-process model, persisted to one
JSON file (DESIGN §5). The embedded default for the demo, the tests and the benchmarks.

Owns: creating a fleet and the file (atomic save, a file lock so two processes never
interleave). The protocol operations are `sim_protocol`'s, the simulation controls (node
readiness, clock, broken images, hand edits of DaemonSets) and inspection `sim_controls`'s;
the controllers live in `sim_controller`. Side effects: `open`/`save`/`init_file` read and
write the state file and its `.lock` beside it; everything else is in memory. While an `open`
block runs, the objects alive when the state was loaded are frozen out of the cyclic garbage
collector (`gc.freeze`, undone when the block exits): a large fleet is millions of acyclic
dicts, and full collections walking them made a pass several times slower.
"""

from __future__ import annotations

import gc
import json
import os
import random
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from gitops_edge.cluster.sim_controls import SimControls
from gitops_edge.cluster.sim_state import (
    SimState,
)

POOL_LABEL = "apps.openyurt.io/nodepool"
LOCK_TIMEOUT = 30.0


class SimCluster(SimControls):
    """A simulated cluster. Its protocol operations are thread-safe (`sim_protocol`); one
    process at a time through `open`."""

    def __init__(self, state: SimState) -> None:
        self._raw = state
        self._lock = threading.RLock()

    # ── creating, loading, saving ──────────────────────────────────────────────────────────

    @classmethod
    def create(
        cls,
        *,
        groups: Sequence[tuple[str, int]],
        not_ready: int = 0,
        seed: int = 0,
        ready_delay: float = 5.0,
        group_label_keys: Sequence[str] = (POOL_LABEL,),
        openyurt_installed: bool = False,
        namespaces: Sequence[str] = (),
    ) -> SimCluster:
        """A fleet of `<group>-<nn>` nodes, each labelled with its group under every key of
        `group_label_keys`; `not_ready` of them (picked with `seed`) are NotReady. Its
        namespaces: Kubernetes' own (default, kube-system, …) and `namespaces`."""
        cluster = cls(
            SimState(seed=seed, ready_delay=ready_delay, openyurt_installed=openyurt_installed)
        )
        for namespace in namespaces:
            if namespace not in cluster._state.namespaces:
                cluster.add_namespace(namespace)
        for group, count in groups:
            width = max(2, len(str(count)))
            for i in range(1, count + 1):
                labels = {key: group for key in group_label_keys}
                cluster.add_node(f"{group}-{i:0{width}d}", labels)
        names = sorted(cluster._state.nodes)
        if not 0 <= not_ready <= len(names):
            raise ValueError(f"--not-ready {not_ready}: the fleet has {len(names)} nodes")
        for name in random.Random(seed).sample(names, not_ready):
            cluster.set_node_ready(name, False)
        return cluster

    @classmethod
    def load(cls, path: Path) -> SimCluster:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(
                f"{path}: no simulated cluster here; create one with "
                f"`gitops-edge sim init {path} --groups a=6,b=4`"
            ) from None
        with _gc_paused():  # a fleet is millions of small acyclic objects: 4x faster without GC
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: not a simulated cluster state file ({exc})") from None
            return cls(SimState.from_json(data, source=str(path)))

    def save(self, path: Path) -> None:
        """Write the state atomically: a temporary file in the same folder, fsync, rename."""
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            # json.dumps, not json.dump: only the one-shot path uses the C encoder (5x faster).
            text = json.dumps(self._state.to_json(), separators=(",", ":"))
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @staticmethod
    @contextmanager
    def locked(path: Path) -> Iterator[None]:
        lock_path = f"{path}.lock"
        try:
            with FileLock(lock_path, timeout=LOCK_TIMEOUT):
                yield
        except Timeout:
            raise TimeoutError(
                f"{path}: another gitops-edge process holds {lock_path} (waited "
                f"{LOCK_TIMEOUT:.0f} s); wait for it to finish"
            ) from None

    @classmethod
    @contextmanager
    def open(cls, path: Path, *, read_only: bool = False) -> Iterator[SimCluster]:
        """Lock, load, yield; save only when the block ends without an exception (and never
        when `read_only`: changes made in the block are then dropped)."""
        with cls.locked(path):
            cluster = cls.load(path)
            gc.freeze()
            try:
                yield cluster
                if not read_only:
                    cluster.save(path)
            finally:
                gc.unfreeze()

    @classmethod
    def init_file(cls, path: Path, cluster: SimCluster, *, force: bool = False) -> None:
        with cls.locked(path):
            if path.exists() and not force:
                raise FileExistsError(f"{path} exists; pass --force to replace it")
            cluster.save(path)


@contextmanager
def _gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
