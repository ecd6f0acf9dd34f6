"""The leader election's Lease for a simulated cluster: a `LeaseStore` kept beside its state file.

The simulated API server's Leases live in `<state file>.leases.json` (not in the state file
itself: a renewal every retry period must not load and rewrite a whole fleet, nor wait for a
pass holding the state file's lock), with a file lock of their own, and behave as the API
server's: every write gets a new resourceVersion, a create of an existing Lease and an update
from a stale resourceVersion are refused (409), as is an update of a Lease that does not exist
(404). The lock is waited for at most a second (then the try fails and is retried).
Side effects: reads and writes that file and its `.lock`.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from gitops_edge.cluster.base import ClusterError, NotFoundError, TransientClusterError
from gitops_edge.model.lease import Lease, LeaseRecord

LOCK_TIMEOUT = 1.0


def leases_file(state: Path) -> Path:
    return state.with_name(f"{state.name}.leases.json")


class SimLeaseStore:
    """One Lease, `namespace/name`, of the simulated cluster whose state file is `state`."""

    def __init__(self, state: Path, *, namespace: str, name: str) -> None:
        self.path = leases_file(state)
        self.lock = FileLock(f"{self.path}.lock", timeout=LOCK_TIMEOUT)
        self.key = f"{namespace}/{name}"

    @property
    def describe(self) -> str:
        return self.key

    def close(self) -> None:
        """Nothing to let go of: every request opens the file anew."""

    def _read(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"version": 0, "leases": {}}
        except ValueError as exc:
            raise ClusterError(f"{self.path}: not a leases file ({exc})") from None
        return data

    def _write(self, data: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _locked(self, what: str) -> Any:
        try:
            return self.lock.acquire()
        except Timeout:
            raise TransientClusterError(
                f"{what}: {self.path} is locked by another process"
            ) from None

    def get(self) -> Lease | None:
        with self._locked(f"get Lease {self.key}"):
            entry = self._read()["leases"].get(self.key)
        return None if entry is None else _lease(entry)

    def create(self, record: LeaseRecord) -> Lease:
        with self._locked(f"create Lease {self.key}"):
            data = self._read()
            if self.key in data["leases"]:
                raise ClusterError(f"create Lease {self.key}: 409 it already exists")
            return self._store(data, record)

    def update(self, current: Lease, record: LeaseRecord) -> Lease:
        with self._locked(f"update Lease {self.key}"):
            data = self._read()
            entry = data["leases"].get(self.key)
            if entry is None:
                raise NotFoundError(f"update Lease {self.key}: not found")
            if entry["version"] != current.version:
                raise ClusterError(
                    f"update Lease {self.key}: 409 the object has been modified (version "
                    f"{current.version}, now {entry['version']})"
                )
            return self._store(data, record)

    def _store(self, data: dict[str, Any], record: LeaseRecord) -> Lease:
        data["version"] = int(data.get("version") or 0) + 1
        entry = {"record": asdict(record), "version": str(data["version"])}
        data["leases"][self.key] = entry
        self._write(data)
        return _lease(entry)


def _lease(entry: dict[str, Any]) -> Lease:
    return Lease(LeaseRecord(**entry["record"]), str(entry["version"]))
