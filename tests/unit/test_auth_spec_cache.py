"""The per-sandbox auth-spec cache of the Flow Service client is pruned: expired reads dropped, size bounded."""

from __future__ import annotations

from shared.adobe.client import MAX_CACHED_SPECS, SPEC_TTL_SECONDS
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
