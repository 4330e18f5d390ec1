"""Dataflows over in-memory fakes: the same exactly-once protocol for the source, target and flow."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.adobe import Dataset
from shared.dataflow_records import DataflowRequest
from shared.dataflows import DataflowService
from shared.errors import ConsumerGroupInUse, DatasetNotFound, DependencyUnavailable, EventHubNotFound
from shared.models import ConnectionKey, ConnectionRequest, Source, State
from tests.unit.fakes import FakeRecords
from tests.unit.test_protocol import NS, World

HUB = "clicks"
KEY = ConnectionKey("prod", NS, HUB)
DATASET = Dataset("ds1", "events", "https://ns.adobe.com/t/schemas/s1", "application/vnd.adobe.xed-full+json;version=1")
HTTP = Source("http", "r")


class FlowWorld(World):
    def __init__(self, *, script: list[str] | None = None, **env: str) -> None:
        super().__init__(script=script, **env)
        self.adobe.event_hubs = [HUB, "views"]
        self.adobe.datasets = {"ds1": DATASET}
        self.flow_records = FakeRecords()
        self.dataflows = DataflowService(
            self.service.settings,
            connections=self.service,
            adobe=self.adobe,
            records=self.flow_records,  # type: ignore[arg-type]
            events=self.events,
            verifies=self.verifies,
            clock=self.time.clock(),
        )

    def flow(self, **changes: str) -> tuple[object, bool]:
        request = DataflowRequest(NS, "prod", HUB, "ds1")
        for name, value in changes.items():
            request = DataflowRequest(**{**request.__dict__, name: value})
        outcome = self.dataflows.create_or_get(request, HTTP)
        return outcome.record, outcome.created

    def kinds(self) -> dict[str, int]:
        return {
            k: len(self.adobe.in_adobe("prod", k))
            for k in ("connections", "sourceConnections", "targetConnections", "flows")
        }


ONE_OF_EACH = {"connections": 1, "sourceConnections": 1, "targetConnections": 1, "flows": 1}


def test_a_new_dataflow_is_one_dataset_read_one_explore_and_four_creates() -> None:
    world = FlowWorld()
    record, created = world.flow()
    assert created and world.kinds() == ONE_OF_EACH
    assert world.adobe.posts == 4 and world.adobe.lists == 0 and world.verifies.scheduled == []
    again, created_again = world.flow()
    assert not created_again and again == record and world.adobe.posts == 4


def test_a_lost_answer_at_the_flow_is_adopted_and_verified() -> None:
    world = FlowWorld(script=["ok", "ok", "ok", "lost"])
    _, created = world.flow()
    assert created and world.kinds() == ONE_OF_EACH
    assert [key for key, _ in world.verifies.scheduled] == [KEY]
    verified = world.dataflows.verify(KEY, Source("queue", "v"))
    assert verified is not None and verified.state is State.READY and world.kinds() == ONE_OF_EACH


def test_a_late_committed_flow_is_removed_by_the_verify() -> None:
    world = FlowWorld(script=["ok", "ok", "ok", "late"])
    record, _ = world.flow()
    world.adobe.land_late()
    assert world.kinds()["flows"] == 2
    verified = world.dataflows.verify(KEY, Source("queue", "v"))
    assert verified is not None and verified.flow_id == record.flow_id  # type: ignore[attr-defined]
    assert world.kinds() == ONE_OF_EACH


def test_a_refused_flow_keeps_source_and_target_for_the_retry() -> None:
    world = FlowWorld(script=["ok", "ok", "ok", "reject"])
    with pytest.raises(Exception, match="refused"):
        world.flow()
    failed = world.flow_records.record(KEY)
    assert failed.state is State.FAILED and failed.source_connection_id and failed.target_connection_id  # type: ignore[attr-defined]
    _, created = world.flow()
    assert created and world.kinds() == ONE_OF_EACH and world.adobe.posts == 5


def test_checks_refuse_before_anything_is_created() -> None:
    world = FlowWorld()
    with pytest.raises(DatasetNotFound):
        world.flow(dataset_id="nope")
    with pytest.raises(EventHubNotFound):
        world.flow(event_hub="other")
    assert world.kinds()["sourceConnections"] == 0


def test_a_consumer_group_serves_one_flow() -> None:
    world = FlowWorld()
    world.flow()
    world.adobe.datasets["ds1"] = DATASET
    with pytest.raises(ConsumerGroupInUse):
        world.flow(sandbox="dev")


def test_teardown_deletes_flow_then_source_then_target() -> None:
    world = FlowWorld()
    record, _ = world.flow()
    assert world.dataflows.tear_down(KEY, HTTP)
    assert world.adobe.deletes == [record.flow_id, record.source_connection_id, record.target_connection_id]  # type: ignore[attr-defined]
    assert world.flow_records.record(KEY).state is State.DELETED
    assert not world.dataflows.tear_down(KEY, HTTP)  # done: a redelivery changes nothing


def test_verify_of_an_unfinished_dataflow_records_what_it_finds_and_keeps_its_state() -> None:
    """A source made but not recorded (the save was lost): the verify records it; the retry makes only the rest."""
    from dataclasses import replace

    world = FlowWorld(script=["ok", "ok", "ok", "reject"])
    with pytest.raises(Exception, match="refused"):
        world.flow()
    row, etag = world.flow_records.rows[KEY]
    source_id = row.source_connection_id  # type: ignore[attr-defined]
    world.flow_records.rows[KEY] = (replace(row, source_connection_id=None), etag)  # type: ignore[type-var]
    verified = world.dataflows.verify(KEY, Source("queue", "v"))
    assert verified is not None and verified.state is State.FAILED and verified.lease_until is None
    assert verified.source_connection_id == source_id and verified.flow_id is None
    _, created = world.flow()
    assert created and world.kinds() == ONE_OF_EACH and world.adobe.posts == 5


def test_a_newer_hub_event_on_a_ready_dataflow_outlives_an_older_hub_deletion() -> None:
    """Events in order, for dataflows too: an event hub's write event is noted on the ready record, so a late
    delete event of that hub, older than it, tears nothing down."""
    world = FlowWorld()
    request = DataflowRequest(NS, "prod", HUB, "ds1")
    world.dataflows.create_or_get(request, world.event(0))
    world.dataflows.create_or_get(request, world.event(20))
    assert world.flow_records.record(KEY).last_event_at == world.event(20).event_time
    assert not world.dataflows.tear_down(KEY, world.event(15))
    assert world.flow_records.record(KEY).state is State.READY and world.kinds() == ONE_OF_EACH
    assert world.dataflows.tear_down(KEY, world.event(30))
    assert world.flow_records.record(KEY).state is State.DELETED and world.kinds()["flows"] == 0


@pytest.mark.parametrize("deleted", ["flows", "sourceConnections"])
def test_verify_creates_again_what_was_deleted_from_a_ready_dataflow(deleted: str) -> None:
    """As a connection's verify does: objects deleted in Adobe by hand are made again (a flow whose source
    or target is gone is replaced with it), so Adobe holds exactly one of each."""
    world = FlowWorld()
    record, _ = world.flow()
    [gone] = world.adobe.in_adobe("prod", deleted)
    world.adobe.objects[("prod", deleted)].remove(gone)
    verified = world.dataflows.verify(KEY, Source("queue", "v"))
    assert verified is not None and verified.state is State.READY and world.kinds() == ONE_OF_EACH
    assert verified.flow_id != record.flow_id  # type: ignore[attr-defined]
    kept = "targetConnections" if deleted == "sourceConnections" else "sourceConnections"
    assert [o.id for o in world.adobe.in_adobe("prod", kept)] == [
        getattr(verified, "target_connection_id" if kept == "targetConnections" else "source_connection_id")
    ]
    assert world.flow_records.record(KEY).last_error is None


def test_on_an_adopted_connection_existing_objects_are_found_not_made_again() -> None:
    """Storage lost: reconcile adopted the connection; the dataflow objects made before are looked up by
    name first and recorded (200), with no create, and a verify to follow."""
    from dataclasses import replace

    world = FlowWorld()
    first, _ = world.flow()
    world.flow_records.rows.clear()
    row, etag = world.records.rows[ConnectionKey("prod", NS)]
    world.records.rows[ConnectionKey("prod", NS)] = (replace(row, adopted=True), etag)
    posts = world.adobe.posts
    again, created = world.flow()
    assert not created and world.adobe.posts == posts and world.kinds() == ONE_OF_EACH
    assert again.flow_id == first.flow_id  # type: ignore[attr-defined]
    assert [key for key, _ in world.verifies.scheduled] == [KEY]


def test_a_dataflow_left_in_adobe_by_its_namespace_deletion_is_found_when_created_again() -> None:
    world = FlowWorld()
    first, _ = world.flow()
    assert world.dataflows.tear_down(KEY, world.event(10), in_adobe=False)
    posts = world.adobe.posts
    again, created = world.flow()
    assert not created and world.adobe.posts == posts and world.kinds() == ONE_OF_EACH
    assert again.state is State.READY and again.flow_id == first.flow_id  # type: ignore[attr-defined]


def test_a_hub_added_after_its_connection_gets_its_dataflow() -> None:
    """Issue 19, item 4: the listing stored on the connection is a cache: a hub missing from it is looked up
    again (one explore) before anything is refused."""
    world = FlowWorld()
    world.adobe.event_hubs = ["views"]
    world.service.create_or_get(ConnectionRequest(NS, "prod"), HTTP)  # lists only `views`
    world.adobe.event_hubs = ["views", HUB]  # the hub is created later
    record, created = world.flow()
    assert created and record.state is State.READY
    assert world.records.record(ConnectionKey("prod", NS)).event_hubs == ("views", HUB)


def test_a_young_hub_adobe_does_not_list_yet_is_retried_not_refused() -> None:
    world = FlowWorld()
    world.adobe.event_hubs = ["views"]
    request = DataflowRequest(NS, "prod", HUB, "ds1")
    young = Source("event", "hub-write", world.time.now() - timedelta(seconds=30))
    with pytest.raises(DependencyUnavailable) as caught:
        world.dataflows.create_or_get(request, young)
    assert caught.value.retry_after is not None and caught.value.retry_after <= 60
    old = Source("event", "hub-write", world.time.now() - timedelta(seconds=900))
    with pytest.raises(EventHubNotFound) as refused:
        world.dataflows.create_or_get(request, old)
    assert "ask again" not in refused.value.message  # the event says how old the hub is
    with pytest.raises(EventHubNotFound) as asked:  # a request carries no event time: the answer says what to do
        world.dataflows.create_or_get(request, Source("http", "req"))
    assert "may not be listed yet: ask again in a few minutes" in asked.value.message
    assert world.kinds()["flows"] == 0


def test_source_and_target_side_by_side_a_failure_of_one_leaves_the_other_recorded() -> None:
    """Issue 23: the source and the target are made together; the target's refusal leaves the source recorded,
    so the retry makes only the target and the flow (nothing twice)."""
    world = FlowWorld()
    world.service.create_or_get(ConnectionRequest(NS, "prod"), HTTP)
    world.adobe.scripts["targetConnections"] = ["reject"]
    with pytest.raises(Exception, match="refused"):
        world.flow()
    failed = world.flow_records.record(KEY)
    assert failed.state is State.FAILED and failed.source_connection_id and failed.target_connection_id is None
    record, created = world.flow()
    assert created and record.source_connection_id == failed.source_connection_id and world.kinds() == ONE_OF_EACH
