"""The per-sandbox auth-spec cache of the Flow Service client: pruned (expired reads dropped, size bounded), one read
per sandbox at a time (a read under way, another create's, is joined)."""

from __future__ import annotations

import threading
from typing import Any

import requests

from shared.adobe.client import MAX_CACHED_SPECS, SPEC_RETRY_SECONDS, SPEC_TTL_SECONDS
from shared.credentials import SAS_SPEC
from shared.retry import Deadline
from tests.unit.fakes import FakeTime
from tests.unit.test_adobe_errors import TOKEN, ScriptedSession, client, reply

SPEC = {"items": [{"authSpec": [{"name": SAS_SPEC, "spec": {"properties": {"sasKey": {}, "sasKeyName": {}}}}]}]}


def test_expired_spec_reads_are_dropped_and_the_cache_is_bounded() -> None:
    clock = FakeTime()
    session = ScriptedSession(token=[reply(200, TOKEN)], other=[reply(200, SPEC)])
    adobe = client(session, clock)

    def read(sandbox: str) -> str:
        return adobe.auth_spec_name(sandbox, SAS_SPEC, ("sasKey", "sasKeyName"), Deadline(clock.monotonic, 30))

    for index in range(MAX_CACHED_SPECS + 40):
        assert read(f"sandbox-{index}") == SAS_SPEC
    assert len(adobe._specs) == MAX_CACHED_SPECS
    assert f"sandbox-{MAX_CACHED_SPECS + 39}" in adobe._specs  # the newest kept, the oldest dropped
    assert "sandbox-0" not in adobe._specs

    reads = session.count("other")
    assert read(f"sandbox-{MAX_CACHED_SPECS + 39}") == SAS_SPEC
    assert session.count("other") == reads  # a live entry is still reused

    clock.advance(SPEC_TTL_SECONDS + 1)
    read("prod")
    assert list(adobe._specs) == ["prod"]  # every expired read went


# -- a read under way is joined, not repeated ------------------------------------------------------------------

RENAMED = "Basic Authentication for Event Hubs"
RENAMED_SPEC = {"items": [{"authSpec": [{"name": RENAMED, "spec": {"properties": {"sasKey": {}, "sasKeyName": {}}}}]}]}
PARAMS = ("sasKey", "sasKeyName")


class GatedSession(ScriptedSession):
    """A scripted session whose spec reads wait until `gate` is set (a slow Adobe), counting them as they start."""

    def __init__(self, **scripts: list[requests.Response]) -> None:
        super().__init__(**scripts)
        self.gate = threading.Event()
        self.spec_reads_started = threading.Semaphore(0)

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        if "/connectionSpecs/" in url:
            self.spec_reads_started.release()
            assert self.gate.wait(10), "the test never opened the gate"
        return super().request(method, url, **kwargs)


def in_background(adobe: Any, sandbox: str, clock: FakeTime) -> tuple[threading.Thread, list[str]]:
    """Another create of the worker asking for the sandbox's auth spec."""
    answer: list[str] = []
    thread = threading.Thread(
        target=lambda: answer.append(adobe.auth_spec_name(sandbox, SAS_SPEC, PARAMS, Deadline(clock.monotonic, 30)))
    )
    thread.start()
    return thread, answer


def test_a_read_under_way_is_joined_and_its_answer_used() -> None:
    clock = FakeTime()
    session = GatedSession(token=[reply(200, TOKEN)], other=[reply(200, RENAMED_SPEC)])
    adobe = client(session, clock)
    first, first_answer = in_background(adobe, "prod", clock)
    assert session.spec_reads_started.acquire(timeout=5)  # under way
    second, second_answer = in_background(adobe, "prod", clock)
    second.join(0.2)
    assert second.is_alive() and not second_answer  # waits for the read under way instead of reading again
    session.gate.set()
    first.join(5)
    second.join(5)
    assert first_answer == second_answer == [RENAMED]
    assert session.count("other") == 1


def test_a_failed_read_falls_back_to_documented_names_for_a_minute_in_that_sandbox_only() -> None:
    clock = FakeTime()
    missing = reply(404, {"error_code": "1400-404", "message": "no such spec"})
    session = ScriptedSession(token=[reply(200, TOKEN)], other=[missing, reply(200, RENAMED_SPEC)])
    adobe = client(session, clock)
    assert adobe.auth_spec_name("dev", SAS_SPEC, PARAMS, Deadline(clock.monotonic, 30)) == SAS_SPEC
    assert adobe.auth_spec_name("dev", SAS_SPEC, PARAMS, Deadline(clock.monotonic, 30)) == SAS_SPEC  # cached
    assert session.count("other") == 1
    assert adobe.auth_spec_name("prod", SAS_SPEC, PARAMS, Deadline(clock.monotonic, 30)) == RENAMED
    clock.advance(SPEC_RETRY_SECONDS + 1)
    assert adobe.auth_spec_name("dev", SAS_SPEC, PARAMS, Deadline(clock.monotonic, 30)) == RENAMED
    assert session.count("other") == 3


def test_a_read_under_way_when_the_spec_is_forgotten_is_not_cached() -> None:
    clock = FakeTime()
    session = GatedSession(token=[reply(200, TOKEN)], other=[reply(200, SPEC), reply(200, RENAMED_SPEC)])
    adobe = client(session, clock)
    first, _ = in_background(adobe, "prod", clock)
    assert session.spec_reads_started.acquire(timeout=5)
    adobe.forget_auth_specs("prod")  # Adobe answered 1415-400 meanwhile: the names the read brings may be stale
    session.gate.set()
    first.join(5)  # the old read ended (with SPEC)
    assert "prod" not in adobe._specs
    assert adobe.auth_spec_name("prod", SAS_SPEC, PARAMS, Deadline(clock.monotonic, 30)) == RENAMED
    assert session.count("other") == 2
