"""The worker's share of Adobe's rate limit (shared/adobe/throttle.py), on a fake clock: Retry-After, a paced
release after it (each waiter its own slot, at the rate Adobe accepted), and the slow start of a burst."""

from collections.abc import Callable

import pytest

from shared.adobe.throttle import SLOW_START, Throttle
from shared.retry import Deadline
from tests.unit.fakes import FakeTime

CREATE = "POST /connections"


def throttle(time: FakeTime, jitter: Callable[[], float] = lambda: 0.0) -> Throttle:
    return Throttle(time.monotonic, time.sleep, jitter, max_wait=20)


def send(throttle: Throttle, time: FakeTime, budget: float = 40) -> float:
    """One call through the throttle, answered at once (accepted): the instant it left."""
    assert throttle.wait(CREATE, Deadline(time.monotonic, budget)) == 0
    left = time.t
    throttle.accepted(CREATE)
    throttle.release(CREATE)
    return left


def burst_refused(throttle: Throttle, time: FakeTime, accepted: int, retry_after: float = 1.0) -> None:
    """`accepted` calls accepted, then one refused with this Retry-After (all at the current instant)."""
    for _ in range(accepted):
        send(throttle, time)
    assert throttle.wait(CREATE, Deadline(time.monotonic, 40)) == 0
    throttle.refused(CREATE, retry_after, sent_at=time.t)
    throttle.release(CREATE)


def test_a_429_holds_back_calls_of_the_same_kind_until_its_retry_after() -> None:
    time = FakeTime()
    t = throttle(time)
    budget = Deadline(time.monotonic, 10)
    assert t.wait(CREATE, budget) == 0 and time.sleeps == []
    t.release(CREATE)
    t.refused(CREATE, 2.0, sent_at=0)
    t.refused(CREATE, 1.0, sent_at=0)  # an earlier time never shortens the wait
    t.refused("POST /flows", None, sent_at=0)  # no Retry-After: nothing held
    assert t.wait("GET /connections/{id}/explore", budget) == 0 and time.sleeps == []
    assert t.wait("POST /flows", budget) == 0 and time.sleeps == []
    assert t.wait(CREATE, budget) == 0 and time.sleeps == [2.0]


def test_a_retry_after_past_the_budget_is_owed_not_slept_and_capped() -> None:
    time = FakeTime()
    t = throttle(time)
    t.refused(CREATE, 120.0, sent_at=0)
    assert t.wait(CREATE, Deadline(time.monotonic, 6)) == pytest.approx(20.0)
    assert time.sleeps == []
    time.advance(15)
    assert t.wait(CREATE, Deadline(time.monotonic, 6)) == 0 and time.sleeps == [pytest.approx(5.0)]


def test_after_a_429_the_waiters_leave_one_by_one_at_the_rate_adobe_accepted() -> None:
    """5 calls accepted in the last second, then a 429 with Retry-After 1: the waiters leave 0.2 s apart from
    the Retry-After instant on, not all at that instant."""
    time = FakeTime()
    t = throttle(time)
    burst_refused(t, time, accepted=5)
    left = [send(t, time) for _ in range(8)]
    assert left == pytest.approx([1.0 + 0.2 * i for i in range(8)])


def test_waiters_in_parallel_get_distinct_slots() -> None:
    """Slots are handed out when a call asks, before it sleeps: the fourth caller is told 0.6 s after the first."""
    time = FakeTime()
    t = throttle(time)
    burst_refused(t, time, accepted=5)
    waits: list[float] = []
    t._sleep = waits.append  # record each caller's pause without moving the clock: they ask at the same instant
    for _ in range(4):
        assert t.wait(CREATE, Deadline(time.monotonic, 40)) == 0
    assert waits == pytest.approx([1.0, 1.2, 1.4, 1.6])


def test_jitter_shifts_the_first_slot_within_one_interval() -> None:
    time = FakeTime()
    t = throttle(time, jitter=lambda: 0.5)
    burst_refused(t, time, accepted=5)
    assert [send(t, time) for _ in range(3)] == pytest.approx([1.1, 1.3, 1.5])


def test_a_paced_call_refused_again_is_paced_by_what_adobe_accepted_since_an_earlier_one_is_not() -> None:
    time = FakeTime()
    t = throttle(time)
    burst_refused(t, time, accepted=5)
    t.refused(CREATE, 1.0, sent_at=-0.01)  # sent before the first 429 came back: the pace stands
    assert send(t, time) == pytest.approx(1.0)
    assert t.wait(CREATE, Deadline(time.monotonic, 40)) == 0 and time.t == pytest.approx(1.2)
    t.refused(CREATE, 1.0, sent_at=time.t)  # a paced call refused: one call accepted in the last second
    t.release(CREATE)
    assert [send(t, time) for _ in range(3)] == pytest.approx([2.2, 3.2, 4.2])


def test_a_steady_flow_refused_while_paced_keeps_the_rate_adobe_accepts() -> None:
    """Paced at 0.2 s, a refusal after 5 calls accepted in the last second keeps 0.2 s: the flow is not slowed
    for good (its slots are never unused, so the pacing never ends by itself)."""
    time = FakeTime()
    t = throttle(time)
    burst_refused(t, time, accepted=5)
    assert [send(t, time) for _ in range(6)] == pytest.approx([1.0, 1.2, 1.4, 1.6, 1.8, 2.0])
    assert t.wait(CREATE, Deadline(time.monotonic, 40)) == 0 and time.t == pytest.approx(2.2)
    t.refused(CREATE, 1.0, sent_at=time.t)
    t.release(CREATE)
    assert [send(t, time) for _ in range(4)] == pytest.approx([3.2, 3.4, 3.6, 3.8])


def test_a_waiter_whose_slot_came_before_a_newer_429_waits_for_it() -> None:
    time = FakeTime()
    t = throttle(time)
    burst_refused(t, time, accepted=5)
    refused_while_asleep = False

    def sleep(seconds: float) -> None:
        nonlocal refused_while_asleep
        time.sleep(seconds)
        if not refused_while_asleep:  # another thread's paced call is refused while this one sleeps
            refused_while_asleep = True
            t.refused(CREATE, 3.0, sent_at=time.t)

    t._sleep = sleep
    assert t.wait(CREATE, Deadline(time.monotonic, 40)) == 0
    assert time.t >= 4.0


def test_pacing_ends_when_a_slot_goes_unused() -> None:
    time = FakeTime()
    t = throttle(time)
    burst_refused(t, time, accepted=5)
    send(t, time), send(t, time)
    time.advance(5)
    before = list(time.sleeps)
    assert send(t, time) == 5 + 1.2 and time.sleeps == before  # no wait at all


def test_a_slot_past_the_budget_is_not_taken() -> None:
    time = FakeTime()
    t = throttle(time)
    burst_refused(t, time, accepted=5)
    assert t.wait(CREATE, Deadline(time.monotonic, 0.5)) == pytest.approx(1.0)  # owed: nothing slept or taken
    assert time.sleeps == [] and send(t, time) == pytest.approx(1.0)


def test_a_burst_after_a_quiet_spell_starts_with_a_few_calls_in_flight() -> None:
    """The slow start: SLOW_START calls go at once; the next one waits until an answer comes back."""
    time = FakeTime()
    t = throttle(time)
    budget = Deadline(time.monotonic, 40)
    for _ in range(SLOW_START):
        assert t.wait(CREATE, budget) == 0
    polls = 0

    def sleep(seconds: float) -> None:
        nonlocal polls
        polls += 1
        time.sleep(seconds)
        if polls == 3:  # one of the calls in flight is answered
            t.accepted(CREATE)
            t.release(CREATE)

    t._sleep = sleep
    assert t.wait(CREATE, budget) == 0 and polls == 3
    assert t.wait("GET /connections/{id}/explore", budget) == 0  # another kind has its own window


def test_accepted_calls_widen_the_window_and_an_expired_budget_is_owed() -> None:
    time = FakeTime()
    t = throttle(time)
    for _ in range(10):
        send(t, time)  # 10 accepted lately: SLOW_START + 5 may be in flight
    budget = Deadline(time.monotonic, 40)
    for _ in range(SLOW_START + 5):
        assert t.wait(CREATE, budget) == 0
    spent = Deadline(time.monotonic, 1)
    time.advance(2)
    assert t.wait(CREATE, spent) > 0  # full window, budget spent: owed, nothing sent
    time.advance(30)  # the accepted calls are old now: only the slow start again
    for _ in range(SLOW_START + 5):
        t.release(CREATE)
    for _ in range(SLOW_START):
        assert t.wait(CREATE, budget) == 0
    spent = Deadline(time.monotonic, 1)
    time.advance(2)
    assert t.wait(CREATE, spent) > 0
