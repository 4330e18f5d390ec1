"""A token bucket for the Platform gateway: more than `rate` creates per second answer 429 with Retry-After."""

from __future__ import annotations

import math
import threading
import time


class RateLimit:
    """`rate` requests per second with a burst of `burst`; `take()` is 0 (allowed) or the seconds to wait."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._tokens = self.burst
        self._at = time.monotonic()
        self._lock = threading.Lock()
        self.refused = 0

    def take(self) -> float:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            self.refused += 1
            return (1 - self._tokens) / self.rate

    @staticmethod
    def retry_after(wait: float) -> str:
        """The header value: whole seconds, at least 1 (HTTP has no fractions)."""
        return str(max(1, math.ceil(wait)))
