"""Log lines for long-running commands (`--log-format text|json`), on stderr.

The message and every field (name and value) pass through `redaction.redact`, so no credential
reaches a log.
Side effects: writes to stderr.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from gitops_edge.redaction import redact


def make_logger(fmt: str) -> Callable[..., None]:
    def log(level: str, message: str, **fields: Any) -> None:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        clean = {redact(k): redact(str(v)) if v is not None else None for k, v in fields.items()}
        if fmt == "json":
            line = json.dumps({"time": now, "level": level, "msg": redact(message), **clean})
        else:
            extra = " ".join(f"{k}={v}" for k, v in clean.items())
            line = f"{now} {level:7} {redact(message)}" + (f" {extra}" if extra else "")
        print(line, file=sys.stderr, flush=True)

    return log
