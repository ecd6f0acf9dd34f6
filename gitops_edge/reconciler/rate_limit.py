"""The client-side rate limit of the apply: a token bucket of `qps` tokens a second holding at
most `burst` (`TokenBucket`), full at the start, as client-go's default limiter
(`flowcontrol.NewTokenBucketRateLimiter`, over golang.org/x/time/rate).

Defaults (`DEFAULT_QPS`, `DEFAULT_BURST`): controller-runtime's, which sets QPS 20 / Burst 30
on a config that sets none (client-go's own defaults are `rest.DefaultQPS` 5 / `DefaultBurst`
10). Side effects: `acquire` sleeps (through the injected `sleep`) until a token is due.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

DEFAULT_QPS = 20.0
DEFAULT_BURST = 30


class TokenBucket:
    """`acquire()` takes one token, waiting until one is due. Thread-safe: each caller reserves
    its token under a lock and sleeps outside it, so N callers are served at `qps` after the
    first `burst`, in the order they asked. `clock` and `sleep` are injectable (tests)."""

    def __init__(
        self,
        *,
        qps: float = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError(f"a token bucket needs qps > 0 and burst ≥ 1 (got {qps}, {burst})")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take a token; returns the seconds waited for it (0.0 when one was there)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
            self._last = now
            self._tokens -= 1.0  # reserved: below zero, the next ones wait longer
            wait = -self._tokens / self.qps if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait
