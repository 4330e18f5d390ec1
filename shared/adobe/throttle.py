"""Adobe's rate limit, as a worker's threads share it: a slow start, Retry-After, and a paced release.

- Slow start: calls of one kind in flight at once are at most `SLOW_START` plus half of those Adobe accepted
  in the last `RECENT` seconds, so a burst after a quiet spell sends a few calls first and learns from their
  answers instead of sending everything at once (most of it to be refused); the window grows by half at
  each round trip, and a steady flow keeps it wide.
- After a 429, calls of that kind wait until the time Adobe gave; then they leave one by one, each in its
  own slot, spaced by an estimate of the rate Adobe allowed (this worker's calls of that kind accepted in
  the last second), instead of all at once to find the limit again (a stampede: most of them 429 again,
  and a few lose every round until their attempts run out). A paced call refused again spaces them anew by
  the calls accepted in the last second (what this worker got of the limit, other workers' share left out),
  not by doubling: doubled at every refusal, a steady flow (whose slots are never unused) would fall to a
  fraction of the limit for good. Pacing ends when a slot goes unused.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from ..retry import Deadline

SLOW_START: Final = 4  # calls of one kind in flight at once after a quiet spell
RECENT: Final = 10.0  # seconds of accepted calls that widen the slow start (half a call each)
RATE_WINDOW: Final = 1.0  # seconds of accepted calls that estimate the allowed rate after a 429
POLL: Final = 0.005  # seconds between two looks at a full window
ACCEPTED_KEPT: Final = 4096  # accepted calls remembered per kind (memory bound)


@dataclass
class _Kind:
    """What the worker knows of one kind of call."""

    accepted: deque[float] = field(default_factory=lambda: deque(maxlen=ACCEPTED_KEPT))  # when, oldest first
    in_flight: int = 0
    resume: float = 0.0  # no call before this instant (Retry-After)
    interval: float = 0.0  # seconds between two paced calls; 0: never paced
    next_slot: float = 0.0  # the first slot not yet taken
    since: float = 0.0  # when the first 429 of the current pacing came back
    refusals: int = 0  # 429s seen: a waiter whose slot was given before a newer one looks again

    def accepted_since(self, instant: float) -> int:
        count = 0
        for at in reversed(self.accepted):
            if at < instant:
                break
            count += 1
        return count

    def window(self, now: float) -> float:
        """How many calls may be in flight at once (when not paced)."""
        while self.accepted and self.accepted[0] < now - RECENT:
            self.accepted.popleft()
        return SLOW_START + len(self.accepted) / 2


class Throttle:
    """When each kind of call (method and route) may go to Adobe.

    Every `wait` that returns 0 must be followed by one `release` once the call is answered (or failed).
    `jitter` (a number in [0, 1)) shifts the first slot after a 429 by a fraction of the interval, so
    workers told the same Retry-After do not start their paced releases at the same instant. `slowest` is
    the longest interval between two paced calls (when nothing was accepted lately).
    """

    def __init__(
        self,
        monotonic: Callable[[], float],
        sleep: Callable[[float], None],
        jitter: Callable[[], float],
        *,
        max_wait: float,
        slowest: float = 1.0,
    ) -> None:
        self._monotonic = monotonic
        self._sleep = sleep
        self._jitter = jitter
        self._max_wait = max_wait
        self._slowest = slowest
        self._kinds: dict[str, _Kind] = {}
        self._lock = threading.Lock()

    def wait(self, kind: str, deadline: Deadline) -> float:
        """Sleep until this call may go and return 0 (it then counts as in flight until `release`); when that
        is past the invocation's budget, sleep no more and return the seconds still asked for."""
        while True:
            with self._lock:
                state = self._kinds.setdefault(kind, _Kind())
                now = self._monotonic()
                if self._paced(state, now):
                    pause = self._take_slot(state, now, deadline)
                    if pause is None:
                        return max(state.resume, state.next_slot) - now
                    refusals = state.refusals
                elif state.in_flight < state.window(now):
                    state.in_flight += 1
                    return 0.0
                elif deadline.expired():
                    return POLL
                else:
                    pause, refusals = -1.0, -1
            if pause < 0:  # the window is full: look again when a call may have been answered
                self._sleep(POLL)
                continue
            if pause > 0:
                self._sleep(pause)
            with self._lock:  # a 429 answered while this call slept moves it behind the new Retry-After
                if state.refusals == refusals or state.resume <= self._monotonic():
                    state.in_flight += 1
                    return 0.0

    def release(self, kind: str) -> None:
        """A call that `wait` let go is answered (or failed without an answer)."""
        with self._lock:
            self._kinds[kind].in_flight -= 1

    def accepted(self, kind: str) -> None:
        """Adobe answered a call of `kind` with something other than 429."""
        now = self._monotonic()
        with self._lock:
            self._kinds.setdefault(kind, _Kind()).accepted.append(now)

    def refused(self, kind: str, retry_after: float | None, sent_at: float) -> None:
        """Adobe answered a call of `kind`, sent at `sent_at` (monotonic), with 429 and this Retry-After."""
        if not retry_after:  # none, or 0: nothing to wait for (the retry policy's backoff spreads the calls)
            return
        wait = min(retry_after, self._max_wait)
        with self._lock:
            now = self._monotonic()
            state = self._kinds.setdefault(kind, _Kind())
            paced = self._paced(state, now)
            if not paced or sent_at >= state.since:
                # The first 429 of a burst, or a paced call refused (too fast, or other workers share the limit):
                # pace at the rate Adobe accepted lately. (A call sent before the first 429 came back says nothing
                # of the pace.)
                recent = state.accepted_since(now - RATE_WINDOW)
                state.interval = min(self._slowest, RATE_WINDOW / max(1, recent))
            if not paced:
                state.since, state.next_slot = now, 0.0
            state.refusals += 1
            until = now + wait
            if until > state.resume:
                state.resume = until
                state.next_slot = max(state.next_slot, until + self._jitter() * state.interval)

    @staticmethod
    def _paced(state: _Kind, now: float) -> bool:
        """Calls of this kind still wait for Retry-After, or leave in slots (until a slot goes unused)."""
        return state.interval > 0 and (now < state.resume or now < state.next_slot + state.interval)

    @staticmethod
    def _take_slot(state: _Kind, now: float, deadline: Deadline) -> float | None:
        """The seconds until this call's slot (taken), or None when it is past the budget (not taken)."""
        slot = max(now, state.resume, state.next_slot)
        if slot - now > deadline.remaining():
            return None
        state.next_slot = slot + state.interval
        return slot - now
