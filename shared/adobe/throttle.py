"""Adobe's Retry-After, shared by a worker's threads: after a 429, calls of the same kind wait until the
time Adobe gave, instead of each thread finding the limit again (and a few losing to the others every time).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..retry import Deadline


class Throttle:
    """When each kind of call (method and route) may go to Adobe again."""

    def __init__(self, monotonic: Callable[[], float], sleep: Callable[[float], None], *, max_wait: float) -> None:
        self._monotonic = monotonic
        self._sleep = sleep
        self._max_wait = max_wait
        self._resume: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, kind: str, deadline: Deadline) -> float:
        """Sleep until calls of `kind` may go again and return 0; when that is past the invocation's budget,
        sleep not at all and return the seconds Adobe still asks for."""
        with self._lock:
            resume = self._resume.get(kind)
        if resume is None:
            return 0.0
        pause = resume - self._monotonic()
        if pause <= 0:
            return 0.0
        if pause > deadline.remaining():
            return pause
        self._sleep(pause)
        return 0.0

    def refused(self, kind: str, retry_after: float | None) -> None:
        """Adobe answered a call of `kind` with 429 and this Retry-After (seconds)."""
        if not retry_after:  # none, or 0: nothing to wait for
            return
        until = self._monotonic() + min(retry_after, self._max_wait)
        with self._lock:
            if until > self._resume.get(kind, 0.0):
                self._resume[kind] = until
