"""The exactly-once protocol and the connection operations over in-memory fakes: no sockets, no sleeping.

Claim, wait, takeover, adopt, verify and deletion, each under the interleaving that would break it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from shared.adobe import connection_body
from shared.claims import Claim, Claims, converge
from shared.clock import Clock
from shared.errors import ConnectionBeingCreated
from shared.identity import connection_identity
from shared.models import AuthType, ConnectionKey, ConnectionRecord, ConnectionRequest, Source, State
from shared.retry import Deadline
from shared.rotation import SecretEvents
from shared.service import ConnectionService
from shared.settings import Settings
from tests.unit.fakes import FakeAdobe, FakeObject, FakeRecords, FakeSecrets, FakeTime, FakeVerifies, NoEvents

NS = "contoso-unit"
KEY = ConnectionKey("prod", NS)
SAS = f"Endpoint=sb://{NS}.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=q0V9fXk2Lr8TnY4bW1cZ7mP3sJ6hG5dA0eQ2uR8vN4k="
ADOBE = {"adobe-client-id": "client", "adobe-client-secret": "p8e-Jx81KqL0vBn2Xc7Zs4Ta", "adobe-org-id": "ORG@AdobeOrg"}
HTTP = Source("http", "req-1")


def body(name: str, namespace: str = NS, event_hub: str | None = None) -> dict[str, object]:
    """A base connection's create body as the service sends it (what the content identity checks)."""
    params = {"sasKeyName": "Root", "namespace": namespace, **({"eventHubName": event_hub} if event_hub else {})}
    return connection_body(name, "d", "Azure EventHub authentication credentials", params)


def settings(**extra: str) -> Settings:
    env = {
        "KEY_VAULT_URL": "https://127.0.0.1:1/",
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "CLAIM_LEASE_SECONDS": "30",
        "CLAIM_WAIT_SECONDS": "5",
        "RETRY_BUDGET_SECONDS": "10",
        **extra,
    }
    return Settings.from_env(env)


class World:
    """The service over fakes, with the fakes at hand."""

    def __init__(self, *, script: list[str] | None = None, **env: str) -> None:
        self.time = FakeTime()
        self.records = FakeRecords(self.time.now)  # storage's own clock: the true time
        self.adobe = FakeAdobe(script=list(script or []))
        self.secrets = FakeSecrets({**ADOBE, f"eventhubs-sas-{NS}": SAS})
        self.verifies = FakeVerifies()
        self.events = NoEvents()
        self.service = ConnectionService(
            settings(**env),
            secrets=self.secrets,
            adobe=self.adobe,
            records=self.records,
            events=self.events,
            verifies=self.verifies,
            clock=self.time.clock(),
        )

    def create(self, source: Source = HTTP) -> tuple[ConnectionRecord, bool]:
        outcome = self.service.create_or_get(ConnectionRequest(NS, "prod"), source)
        return outcome.record, outcome.created

    def event(self, minutes: int) -> Source:
        return Source("event", f"e{minutes}", self.time.start - timedelta(hours=1) + timedelta(minutes=minutes))


def test_happy_path_is_one_create_and_no_verify() -> None:
    world = World()
    record, created = world.create()
    assert created and record.state is State.READY
    assert world.adobe.posts == 1 and world.adobe.lists == 0
    assert world.verifies.scheduled == []
    assert world.records.operations == 3  # read, claim, complete
    again, created_again = world.create()
    assert not created_again and again.connection_id == record.connection_id and world.adobe.posts == 1


def test_a_lost_answer_is_adopted_and_verified_later() -> None:
    world = World(script=["lost"])
    record, created = world.create()
    assert not created  # adopted after the lookup: never a 201 for it
    assert [o.id for o in world.adobe.in_adobe()] == [record.connection_id]
    assert world.verifies.scheduled == [(KEY, 120.0)]


def test_a_late_commit_is_removed_by_the_verify() -> None:
    world = World(script=["late"])
    record, created = world.create()
    assert created  # the lookup saw nothing; the second POST created one
    world.adobe.land_late()  # Adobe commits the first POST after the client gave up
    assert len(world.adobe.in_adobe()) == 2
    [(key, _)] = world.verifies.scheduled
    verified = world.service.verify(key, Source("queue", "verify-1"))
    assert verified is not None and verified.connection_id == record.connection_id
    assert [o.id for o in world.adobe.in_adobe()] == [record.connection_id]


def test_verify_recreates_a_ready_connection_that_is_gone() -> None:
    world = World()
    record, _ = world.create()
    world.adobe.objects.clear()
    verified = world.service.verify(KEY, Source("queue", "v"))
    assert verified is not None and verified.state is State.READY and verified.connection_id != record.connection_id
    assert len(world.adobe.in_adobe()) == 1


def test_verify_of_a_failed_record_with_nothing_in_adobe_leaves_it_failed() -> None:
    world = World(script=["503", "503", "503", "503"])
    with pytest.raises(Exception, match="unavailable"):
        world.create()
    assert world.records.record(KEY).state is State.FAILED and world.records.record(KEY).may_exist
    assert world.verifies.scheduled  # the 5xx may have reached Adobe
    verified = world.service.verify(KEY, Source("queue", "v"))
    assert verified is not None and verified.state is State.FAILED and world.adobe.in_adobe() == []
    assert world.records.record(KEY).lease_until is None


def test_converge_keeps_the_recorded_one_else_the_oldest() -> None:
    adobe = FakeAdobe()
    deadline = Deadline(lambda: 0.0, 10)
    for _ in range(3):
        adobe.create("prod", "connections", body("n"), deadline, look_up_first=False, lookup=lambda: None)
    ids = [o.id for o in adobe.in_adobe()]
    identity = connection_identity(KEY, "n")
    kept = converge(adobe, "prod", identity, keep=ids[1], deadline=deadline)
    assert kept is not None and kept.id == ids[1] and [o.id for o in adobe.in_adobe()] == [ids[1]]
    adobe.create("prod", "connections", body("n"), deadline, look_up_first=False, lookup=lambda: None)
    kept = converge(adobe, "prod", identity, keep=None, deadline=deadline)
    assert kept is not None and kept.id == ids[1]


def test_a_live_claim_is_waited_for_then_409() -> None:
    world = World()
    claims = Claims(world.records, world.time.clock(), lease_seconds=30, wait_seconds=5)
    fresh = ConnectionRecord(KEY, State.CREATING, AuthType.SAS, "n", world.time.now(), world.time.now())
    held = claims.take(KEY, None, new_record=lambda now: fresh, takeover=lambda r: r, source_id="a")
    assert isinstance(held, Claim)
    with pytest.raises(ConnectionBeingCreated) as caught:
        world.create()
    assert 1 <= (caught.value.retry_after or 0) <= 30
    assert sum(world.time.sleeps) == pytest.approx(5.0)  # polled for CLAIM_WAIT_SECONDS, never longer
    assert world.adobe.posts == 0


def test_an_expired_claim_is_taken_over_and_looked_up_first() -> None:
    world = World()
    claims = Claims(world.records, world.time.clock(), lease_seconds=30, wait_seconds=5)
    fresh = ConnectionRecord(
        KEY, State.CREATING, AuthType.SAS, "Azure Event Hubs contoso-unit", world.time.now(), world.time.now()
    )
    claims.take(KEY, None, new_record=lambda now: fresh, takeover=lambda r: r, source_id="dead")
    # the dead holder's POST was committed
    world.adobe.create(
        "prod",
        "connections",
        body("Azure Event Hubs contoso-unit"),
        Deadline(lambda: 0.0, 1),
        look_up_first=False,
        lookup=lambda: None,
    )
    world.time.advance(31)
    record, created = world.create()
    assert not created and record.connection_id == world.adobe.in_adobe()[0].id
    assert world.adobe.posts == 1 and world.adobe.lists == 1 and world.verifies.scheduled


def test_a_late_delete_changes_nothing_and_a_newer_create_recreates() -> None:
    world = World(DELETE_CONNECTION_ON_NAMESPACE_DELETE="true")
    world.create(world.event(0))
    world.create(world.event(20))
    assert world.service.mark_namespace_deleted(NS, world.event(10)) == 0
    assert world.records.record(KEY).state is State.READY and len(world.adobe.in_adobe()) == 1
    assert world.service.mark_namespace_deleted(NS, world.event(30)) == 1
    assert world.records.record(KEY).state is State.DELETED and world.adobe.in_adobe() == []
    world.create(world.event(25))  # older than the deletion: nothing
    assert world.records.record(KEY).state is State.DELETED
    world.create(world.event(40))
    assert world.records.record(KEY).state is State.READY and len(world.adobe.in_adobe()) == 1


def test_a_deletion_racing_a_newer_event_never_leaves_zero_connections() -> None:
    """The newer event notes its time just before the deletion writes: the deletion must not go on."""
    world = World(DELETE_CONNECTION_ON_NAMESPACE_DELETE="true")
    world.create(world.event(0))
    raced = {"done": False}

    def newer_event_first() -> None:
        if not raced["done"]:
            raced["done"] = True
            world.records.before_write = lambda: None
            world.create(world.event(20))

    world.records.before_write = newer_event_first
    assert world.service.mark_namespace_deleted(NS, world.event(10)) == 0
    assert world.records.record(KEY).state is State.READY and len(world.adobe.in_adobe()) == 1


def test_a_deletion_between_the_wait_and_the_answer_does_not_swallow_a_newer_event() -> None:
    """A newer event waits for another invocation's claim; the holder finishes and, before the waiter answers,
    an older deletion takes the record: the newer event creates the connection again (what CI's chaos seed 1
    once caught: the namespace ended `deleted` with no connection)."""
    world = World(DELETE_CONNECTION_ON_NAMESPACE_DELETE="true")
    claims = Claims(world.records, world.time.clock(), lease_seconds=30, wait_seconds=5)
    now = world.time.now()
    fresh = ConnectionRecord(KEY, State.CREATING, AuthType.SAS, "Azure Event Hubs contoso-unit", now, now)
    held = claims.take(KEY, None, new_record=lambda _: fresh, takeover=lambda r: r, source_id="holder")
    assert isinstance(held, Claim)
    made = world.adobe.create(
        "prod",
        "connections",
        body(fresh.name),
        Deadline(lambda: 0.0, 1),
        look_up_first=False,
        lookup=lambda: None,
    )
    reads = {"n": 0}

    def interleave() -> None:
        reads["n"] += 1
        if reads["n"] == 2:  # the waiter's first poll: the holder has finished
            claims.complete(held, held.record.completed(made.id, made.etag, secret_version=None, now=now))
        elif reads["n"] == 3:  # the waiter saw `ready`; before it answers, the older deletion runs
            world.records.before_get = lambda: None
            assert world.service.mark_namespace_deleted(NS, world.event(15)) == 1

    world.records.before_get = interleave
    record, created = world.create(world.event(20))
    assert reads["n"] == 3, "the interleaving did not happen"
    assert record.state is State.READY and world.records.record(KEY).state is State.READY
    assert [c.id for c in world.adobe.in_adobe()] == [record.connection_id] and created


def test_an_event_noted_on_a_ready_record_survives_a_failed_verify_check() -> None:
    """A ready record due for verification whose check cannot reach Adobe still remembers the event, so an
    older deletion that follows changes nothing."""
    world = World(DELETE_CONNECTION_ON_NAMESPACE_DELETE="true", VERIFY_AFTER_SECONDS="60")
    world.create(world.event(0))
    world.time.advance(61)
    world.adobe.fail_gets = True
    world.create(world.event(20))
    assert world.service.mark_namespace_deleted(NS, world.event(15)) == 0
    assert world.records.record(KEY).state is State.READY and len(world.adobe.in_adobe()) == 1


def test_a_failure_to_queue_the_verify_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    from shared.errors import DependencyUnavailable

    world = World(script=["lost"])
    world.verifies.fail = DependencyUnavailable("Queue storage is unavailable.", dependency="Queue storage")
    record, _ = world.create()
    assert record.state is State.READY
    assert "could not queue the verify" in caplog.text


def test_a_shared_name_never_deletes_or_adopts_another_namespaces_connection() -> None:
    """Issue 19, item 1: the tutorial's fixed name for two namespaces. Each keeps its own connection through
    verifies, and an uncertain create of one never adopts the other's (identity is content, not a name)."""
    world = World()
    other = "contoso-other"
    world.secrets.values[f"eventhubs-sas-{other}"] = SAS.replace(NS, other)
    name = "Azure Event Hubs connection"
    first = world.service.create_or_get(ConnectionRequest(NS, "prod", name=name), HTTP)
    world.adobe.script.append("late")  # the second's create is uncertain: its lookup sees the first's name
    with pytest.raises(Exception, match="unavailable"):
        world.adobe.max_attempts = 1
        world.service.create_or_get(ConnectionRequest(other, "prod", name=name), HTTP)
    assert world.records.record(ConnectionKey("prod", other)).connection_id is None  # nothing adopted
    world.adobe.max_attempts = 4
    world.adobe.land_late()
    second = world.service.create_or_get(ConnectionRequest(other, "prod", name=name), HTTP)
    for key in (KEY, ConnectionKey("prod", other)):
        world.service.verify(key, Source("queue", "v"))
    ids = {o.id for o in world.adobe.in_adobe()}
    assert first.record.connection_id in ids and second.record.connection_id in ids and len(ids) == 2
    assert world.records.record(KEY).connection_id == first.record.connection_id
    assert world.records.record(ConnectionKey("prod", other)).connection_id == second.record.connection_id


def test_a_deletion_removes_a_late_committed_create_too() -> None:
    """Issue 19, item 5: an uncertain create, then the namespace deleted before the verify: the deletion and
    the verify of the deleted record leave nothing of the identity in Adobe."""
    world = World(DELETE_CONNECTION_ON_NAMESPACE_DELETE="true")
    world.adobe.script.append("late")
    world.adobe.max_attempts = 1
    with pytest.raises(Exception, match="unavailable"):
        world.create()
    world.service.mark_namespace_deleted(NS, world.event(10))
    world.adobe.land_late()  # Adobe commits the create after the deletion
    assert len(world.adobe.in_adobe()) == 1
    world.service.verify(KEY, Source("queue", "v"))
    assert world.adobe.in_adobe() == [] and world.records.record(KEY).state is State.DELETED


def test_a_delete_before_its_create_leaves_a_tombstone() -> None:
    """Issue 20, item 2: the delete (t2) overtakes the older write (t1): the late write connects nothing."""
    world = World()
    assert world.service.mark_namespace_deleted(NS, world.event(20)) == 0
    assert world.records.record(KEY).state is State.DELETED
    record, created = world.create(world.event(10))
    assert record.state is State.DELETED and not created and world.adobe.posts == 0
    record, created = world.create(world.event(30))  # created again after the deletion
    assert record.state is State.READY and created


def rotation_world() -> tuple[World, SecretEvents]:
    world = World()
    return world, SecretEvents(world.service)


def test_a_rotation_that_meets_a_held_claim_waits_then_rotates() -> None:
    """Issue 20, item 1: a SecretNewVersionCreated during a verify (which holds the record) is not dropped."""
    world, events = rotation_world()
    world.create()
    claims = Claims(world.records, world.time.clock(), lease_seconds=30, wait_seconds=5)
    held = claims.take(
        KEY,
        world.records.get(KEY),
        new_record=None,
        takeover=lambda r: r,
        source_id="verify",
        reclaim_ready=lambda _: True,
    )
    assert isinstance(held, Claim)
    world.secrets.versions[f"eventhubs-sas-{NS}"] = "v2"
    polls = {"n": 0}

    def verify_finishes() -> None:
        polls["n"] += 1
        if polls["n"] == 3:  # the holder completes while the secret event waits
            world.records.before_get = lambda: None
            claims.release(held, held.record.released(held.previous))  # type: ignore[arg-type]

    world.records.before_get = verify_finishes
    assert events.new_version(f"eventhubs-sas-{NS}", Source("event", "kv")) == 1
    assert world.records.record(KEY).secret_version == "v2"


def test_a_rotation_still_held_after_the_wait_raises_for_redelivery() -> None:
    world, events = rotation_world()
    world.create()
    claims = Claims(world.records, world.time.clock(), lease_seconds=300, wait_seconds=5)
    claims.take(
        KEY,
        world.records.get(KEY),
        new_record=None,
        takeover=lambda r: r,
        source_id="verify",
        reclaim_ready=lambda _: True,
    )
    world.secrets.versions[f"eventhubs-sas-{NS}"] = "v2"
    with pytest.raises(ConnectionBeingCreated):
        events.new_version(f"eventhubs-sas-{NS}", Source("event", "kv"))


def test_a_verify_rotates_a_connection_whose_record_notes_an_older_secret_version() -> None:
    world = World()
    world.create()
    world.secrets.versions[f"eventhubs-sas-{NS}"] = "v2"  # the rotation event was lost
    verified = world.service.verify(KEY, Source("queue", "v"))
    assert verified is not None and world.records.record(KEY).secret_version == "v2"
    assert "rotated" in world.events.published


def test_a_worker_whose_clock_runs_ahead_cannot_take_over_a_live_claim() -> None:
    """Issue 20, item 5: leases are judged on storage's time (the claim write's Timestamp plus the lease),
    not on the worker's clock: a worker ten minutes ahead waits, then answers 409, and never creates."""
    world = World()
    claims = Claims(world.records, world.time.clock(), lease_seconds=30, wait_seconds=5)
    fresh = ConnectionRecord(KEY, State.CREATING, AuthType.SAS, "n", world.time.now(), world.time.now())
    assert isinstance(claims.take(KEY, None, new_record=lambda now: fresh, takeover=lambda r: r, source_id="a"), Claim)
    ahead = Clock(
        now=lambda: world.time.now() + timedelta(minutes=10), monotonic=world.time.monotonic, sleep=world.time.sleep
    )
    fast = ConnectionService(
        world.service.settings,
        secrets=world.secrets,
        adobe=world.adobe,
        records=world.records,
        events=world.events,
        verifies=world.verifies,
        clock=ahead,
    )
    with pytest.raises(ConnectionBeingCreated):
        fast.create_or_get(ConnectionRequest(NS, "prod"), HTTP)
    assert world.adobe.posts == 0 and world.records.record(KEY).owner is not None


NEW_KEY = "Zr4Tq8Wm2Xc6Vb0Nh3Jk7Lp1Ds5Fg9Ha2Se6Rd0Yu4I="


def rotate_in_vault(world: World) -> None:
    """A new version of the namespace's SAS secret, with another key."""
    world.secrets.values[f"eventhubs-sas-{NS}"] = SAS.replace(SAS.rsplit("=", 2)[1] + "=", NEW_KEY)
    world.secrets.versions[f"eventhubs-sas-{NS}"] = "v2"


def adobe_key(world: World, connection_id: str | None) -> str:
    [obj] = [o for o in world.adobe.in_adobe() if o.id == connection_id]
    return str(obj.body["auth"]["params"]["sasKey"])


def test_a_connection_found_after_a_rotation_gets_the_key_the_record_notes() -> None:
    """CI seed 3 of the chaos test: an earlier create's POST reached Adobe with the old key, its invocation gave
    up, the key was rotated, and the next request found (adopted) that connection. The record noted the new
    version while Adobe held the old key, and no verify ever rotated it."""
    world = World(script=["late", "503", "503", "503"])
    with pytest.raises(Exception, match="unavailable"):
        world.create()
    assert world.records.record(KEY).may_exist
    world.adobe.land_late()  # the first POST commits after all, with the old key
    rotate_in_vault(world)
    record, created = world.create()
    assert not created and record.secret_version == "v2"
    assert adobe_key(world, record.connection_id) == NEW_KEY
    assert world.adobe.patches == 1 and len(world.adobe.in_adobe()) == 1


def test_a_verify_that_keeps_another_object_than_the_recorded_one_gives_it_the_current_key() -> None:
    world = World()
    record, _ = world.create()
    world.adobe.create(
        "prod",
        "connections",
        world.adobe.in_adobe()[0].body,
        Deadline(lambda: 0.0, 10),
        look_up_first=False,
        lookup=lambda: None,
    )  # an uncertain create's twin, same content and name, old key
    world.adobe.delete("prod", "connections", str(record.connection_id), Deadline(lambda: 0.0, 10))
    rotate_in_vault(world)
    world.records.replace(replace(world.records.record(KEY), secret_version="v2"), world.records.get(KEY).etag)  # type: ignore[union-attr]
    verified = world.service.verify(KEY, Source("queue", "v"))
    assert verified is not None and verified.connection_id != record.connection_id
    assert adobe_key(world, verified.connection_id) == NEW_KEY
    assert world.records.record(KEY).secret_version == "v2"


def test_a_connection_made_by_hand_with_the_other_auth_kind_is_adopted_as_it_is() -> None:
    """Adobe cannot change a connection's auth type: a SAS request that finds the namespace's AAD connection
    (made by hand, after an uncertain POST) adopts it without patching SAS params into it."""
    world = World(script=["503"])
    aad = {"tenantId": "t", "clientId": "c", "namespace": NS}
    hand = connection_body("By hand", "d", "Event Hub Azure Active Directory Auth", aad)
    world.adobe.objects[("prod", "connections")] = [FakeObject("hand-1", "By hand", hand, 0.5)]
    record, created = world.create()
    assert not created and record.connection_id == "hand-1" and world.adobe.patches == 0


def test_a_connection_made_by_hand_keeps_its_name_when_adopted_and_gets_the_current_key() -> None:
    world = World(script=["503"])
    params = {"sasKeyName": "Root", "namespace": NS, "sasKey": "Wq3Lx8Vn1Rb6Tk0Mz5Hc9Pj2Yd7Fs4Ga="}
    hand = connection_body("By hand", "d", "Azure EventHub authentication credentials", params)
    world.adobe.objects[("prod", "connections")] = [FakeObject("hand-1", "By hand", hand, 0.5)]
    record, created = world.create()
    assert not created and record.connection_id == "hand-1" and record.name == "By hand"
    assert adobe_key(world, "hand-1") == SAS.split("SharedAccessKey=")[1] and world.adobe.patches == 1
