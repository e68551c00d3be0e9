"""Rate limits per caller: a token bucket each (`rate` requests per second on average, bursts of
up to `burst`). Pure: the caller passes the time."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field


@dataclass
class RateLimits:
    rate: float
    burst: int
    max_callers: int = 100_000  # beyond this many, full buckets are forgotten (memory bound)
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # tokens, at
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, caller: str, now: float) -> float | None:
        """Spend one request of `caller`'s at `now` (seconds); None when allowed, else the
        seconds until one is."""
        with self._lock:
            tokens, at = self._buckets.get(caller, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens < 1.0:
                self._buckets[caller] = (tokens, now)
                return (1.0 - tokens) / self.rate
            self._buckets[caller] = (tokens - 1.0, now)
            if len(self._buckets) > self.max_callers:
                self._forget_full(now)
            return None

    def _forget_full(self, now: float) -> None:
        """Drop callers whose bucket has refilled: forgetting them changes nothing."""
        full = [
            caller
            for caller, (tokens, at) in self._buckets.items()
            if tokens + (now - at) * self.rate >= self.burst
        ]
        for caller in full:
            del self._buckets[caller]


def retry_after(seconds: float) -> str:
    """An HTTP Retry-After value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
