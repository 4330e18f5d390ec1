"""The retry decision is a pure function of the attempt and the result."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import DependencyUnavailable
from shared.retry import CallResult, Deadline, Failure, Retrier, RetryPolicy, decide, parse_retry_after
from tests.unit.fakes import FakeTime

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=8.0, max_retry_after=20.0)


def d(result: CallResult, attempt: int = 1, *, idempotent: bool = True, remaining: float = 100, jitter: float = 0.5):
    return decide(POLICY, attempt, result, idempotent=idempotent, remaining=remaining, now=NOW, jitter=jitter)


@pytest.mark.parametrize("status", [200, 201, 204, 400, 401, 403, 404, 409, 412, 422])
def test_final_statuses_are_not_retried(status: int) -> None:
    assert d(CallResult(status=status)).retry is False


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(status: int) -> None:
    assert d(CallResult(status=status)).retry is True


def test_exponential_backoff_with_equal_jitter() -> None:
    assert d(CallResult(status=503), 1, jitter=0.0).delay == 0.5
    assert d(CallResult(status=503), 1, jitter=0.999).delay == pytest.approx(1.0, abs=0.01)
    assert d(CallResult(status=503), 3, jitter=0.0).delay == 2.0
    assert d(CallResult(status=503), 4, jitter=0.999).delay == pytest.approx(8.0, abs=0.01)
    assert d(CallResult(status=503), 4, jitter=0.0).delay == 4.0  # capped at max_delay 8, halved


def test_retry_after_seconds_and_date_are_honoured_up_to_the_cap() -> None:
    assert d(CallResult(status=429, retry_after="3")).delay == 3.0
    http_date = (NOW + timedelta(seconds=7)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert d(CallResult(status=503, retry_after=http_date)).delay == pytest.approx(7.0)
    assert d(CallResult(status=429, retry_after="3600")).delay == 20.0
    assert parse_retry_after("garbage", NOW) is None
    assert parse_retry_after("-5", NOW) == 0.0


def test_gives_up_after_max_attempts_or_outside_the_budget() -> None:
    assert d(CallResult(status=503), 5).retry is False
    assert d(CallResult(status=429, retry_after="10"), remaining=5).retry is False


def test_create_post_is_repeated_directly_only_when_surely_not_received() -> None:
    assert d(CallResult(failure=Failure.NOT_SENT), idempotent=False) == d(CallResult(failure=Failure.NOT_SENT))
    assert d(CallResult(failure=Failure.NOT_SENT), idempotent=False).lookup_first is False
    assert d(CallResult(status=429), idempotent=False).lookup_first is False
    for uncertain in (CallResult(failure=Failure.UNCERTAIN), CallResult(status=500), CallResult(status=504)):
        decision = d(uncertain, idempotent=False)
        assert decision.retry and decision.lookup_first
        assert d(uncertain, idempotent=True).lookup_first is False


def retrier(time: FakeTime) -> Retrier:
    return Retrier(POLICY, monotonic=time.monotonic, wall_clock=lambda: NOW, sleep=time.sleep, jitter=lambda: 0.0)


def test_loop_retries_then_returns_without_real_sleep() -> None:
    time = FakeTime()
    results = iter([CallResult(status=503), CallResult(status=429, retry_after="2"), CallResult(status=200)])
    value = retrier(time).call(lambda: (next(results), "ok"), dependency="Adobe", deadline=Deadline(time.monotonic, 60))
    assert value == "ok"
    assert time.sleeps == [0.5, 2.0]


def test_loop_gives_up_with_503_and_retry_after() -> None:
    time = FakeTime()
    with pytest.raises(DependencyUnavailable) as caught:
        retrier(time).call(
            lambda: (CallResult(status=503), None), dependency="Adobe", deadline=Deadline(time.monotonic, 60)
        )
    assert "after 5 attempts" in caught.value.message
    assert caught.value.retry_after is not None and caught.value.retry_after >= 5
    assert len(time.sleeps) == 4
    assert time.t < 60


def test_each_retry_says_what_failed_and_when_it_tries_again(caplog: pytest.LogCaptureFixture) -> None:
    """No silent waits (issue 22, item 4): one INFO line per retry (`--verbose` shows them in the CLI)."""
    time = FakeTime()
    results = iter([CallResult(failure=Failure.NOT_SENT), CallResult(status=503), CallResult(status=200)])
    with caplog.at_level("INFO", logger="eventhubs_connector"):
        retrier(time).call(lambda: (next(results), "ok"), dependency="Adobe", deadline=Deadline(time.monotonic, 60))
    lines = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(lines) == 2
    assert lines[0].startswith("Adobe: no response (connection failed) on attempt 1; retrying in 0.5 s")
    assert "HTTP 503 on attempt 2" in lines[1]
