"""The one retry policy for outbound calls.

`decide()` is a pure function of the attempt and what came back; `call_with_retry()` is the loop,
with clock, sleep and randomness passed in so tests never sleep for real.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Final, TypeVar

from .errors import DependencyUnavailable
from .logs import log

RETRYABLE_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})

T = TypeVar("T")


class Failure(Enum):
    """How a call failed without a response."""

    NOT_SENT = "not_sent"  # connection refused / connect timeout: the server surely never saw it
    UNCERTAIN = "uncertain"  # read timeout / dropped connection: the server may have acted


@dataclass(frozen=True)
class CallResult:
    """What one attempt produced: a status (with Retry-After) or a failure without a response."""

    status: int | None = None
    failure: Failure | None = None
    retry_after: str | None = None

    @property
    def outcome_unknown(self) -> bool:
        """The server may have acted on the request (uncertain failure or a 5xx)."""
        return self.failure is Failure.UNCERTAIN or (self.status is not None and self.status >= 500)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of the retry loop."""

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 20.0


@dataclass(frozen=True)
class Decision:
    """Whether to try again, after how long, and whether to look the resource up first."""

    retry: bool
    delay: float = 0.0
    lookup_first: bool = False


class Deadline:
    """The time budget of one invocation, shared by every call it makes."""

    def __init__(self, clock: Callable[[], float], budget: float) -> None:
        self._clock = clock
        self._end = clock() + budget
        self._budget = budget

    def remaining(self) -> float:
        return max(0.0, self._end - self._clock())

    def expired(self) -> bool:
        """The budget is spent: no new call may start (a budget of 0 means one attempt each)."""
        return self._budget > 0 and self._clock() >= self._end

    def share(self, fraction: float) -> Deadline:
        """A deadline with `fraction` of what remains: for optional work that must leave time for the rest."""
        return Deadline(self._clock, self.remaining() * fraction)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


def decide(
    policy: RetryPolicy,
    attempt: int,
    result: CallResult,
    *,
    idempotent: bool,
    remaining: float,
    now: datetime,
    jitter: float,
) -> Decision:
    """Decide the next step after attempt number `attempt` (1-based) produced `result`.

    Retried: failures without a response, 408, 429 and 5xx. A non-idempotent call (a create POST)
    is repeated directly only when it surely never reached the server (not sent, or 429); after
    an uncertain outcome the caller must look it up first. `jitter` is a number in [0, 1).
    """
    if result.failure is None and result.status not in RETRYABLE_STATUSES:
        return Decision(retry=False)
    if attempt >= policy.max_attempts:
        return Decision(retry=False)
    retry_after = parse_retry_after(result.retry_after, now)
    if retry_after is not None:
        delay = min(retry_after, policy.max_retry_after)
    else:
        backoff = min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
        delay = backoff * (0.5 + jitter / 2)  # "equal jitter": never less than half the backoff
    if delay > remaining:
        return Decision(retry=False, delay=delay)
    must_look_up = not idempotent and result.outcome_unknown and result.status != 429
    return Decision(retry=True, delay=delay, lookup_first=must_look_up)


@dataclass
class Retrier:
    """The retry loop: clock, sleep and jitter injected."""

    policy: RetryPolicy
    monotonic: Callable[[], float]
    wall_clock: Callable[[], datetime]
    sleep: Callable[[float], None]
    jitter: Callable[[], float]

    def deadline(self, budget: float) -> Deadline:
        return Deadline(self.monotonic, budget)

    def call(
        self,
        attempt_once: Callable[[], tuple[CallResult, T]],
        *,
        dependency: str,
        deadline: Deadline,
        idempotent: bool = True,
        before_retry: Callable[[Decision], None] | None = None,
    ) -> T:
        """Run `attempt_once` until it needs no retry; return its value.

        `attempt_once` returns (what happened, value to return if final). When retries are
        exhausted on a retryable result, raise DependencyUnavailable. `before_retry` sees each
        decision to repeat (a create uses it to look itself up first after an uncertain outcome).
        """
        attempt = 0
        while True:
            attempt += 1
            result, value = attempt_once()
            decision = decide(
                self.policy,
                attempt,
                result,
                idempotent=idempotent,
                remaining=deadline.remaining(),
                now=self.wall_clock(),
                jitter=self.jitter(),
            )
            if not decision.retry:
                if result.failure is None and result.status not in RETRYABLE_STATUSES:
                    return value
                raise unavailable(dependency, result, attempt, decision.delay)
            log.info(
                "%s: %s on attempt %d; retrying in %.1f s (%.0f s of the budget left)",
                dependency,
                _describe(result),
                attempt,
                decision.delay,
                deadline.remaining(),
            )
            self.sleep(decision.delay)
            if before_retry is not None:
                before_retry(decision)


def _describe(result: CallResult) -> str:
    if result.status is not None:
        return f"HTTP {result.status}"
    return (
        "no response (connection failed)"
        if result.failure is Failure.NOT_SENT
        else "no response (timed out or dropped)"
    )


def unavailable(dependency: str, result: CallResult, attempts: int, delay: float) -> DependencyUnavailable:
    """The error after giving up; Retry-After is the last delay asked for (at least a few seconds)."""
    what = _describe(result)
    err = DependencyUnavailable(
        f"{dependency} is unavailable: {what} after {attempts} attempt{'s' if attempts != 1 else ''}.",
        dependency=dependency,
        retry_after=max(5, math.ceil(delay)),
    )
    err.outcome_unknown = result.outcome_unknown
    return err
