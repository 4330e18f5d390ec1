"""The reconcile pass over in-memory fakes: backfill, adoption, verification, gone namespaces."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable

from shared.dataflows import DataflowService
from shared.errors import SecretNotFound
from shared.inventory import Listing, Namespace
from shared.models import ConnectionKey, ConnectionRequest, Source, State
from shared.reconcile import Reconciler
from shared.retry import Deadline
from tests.unit.fakes import FakeObject, FakeRecords
from tests.unit.test_protocol import NS, SAS, World

SUB = "00000000-0000-0000-0000-0000000000a1"


class FakeInventory:
    def __init__(self, names: Iterable[str], failures: dict[str, str] | None = None) -> None:
        self.names = list(names)
        self.failures = failures or {}

    def list(self, subscriptions: Iterable[str], deadline: Deadline) -> Listing:
        return Listing([Namespace(n, SUB, "rg", resource_id(n)) for n in self.names], dict(self.failures))


def resource_id(namespace: str, subscription: str = SUB) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/rg/providers/Microsoft.EventHub/namespaces/{namespace}"


class FakeQueue:
    def __init__(self) -> None:
        self.sent: list[dict] = []

    def send(self, text: str, *, delay: float = 0) -> None:
        self.sent.append(json.loads(text))


def reconciler(world: World, inventory: FakeInventory, **env: str) -> tuple[Reconciler, FakeQueue]:
    queue = FakeQueue()
    settings = world.service.settings
    if env:
        from tests.unit.test_protocol import settings as make

        settings = make(**env)
    dataflows = DataflowService(
        settings,
        connections=world.service,
        adobe=world.adobe,
        records=getattr(world, "flow_records", FakeRecords()),  # type: ignore[arg-type]
        events=world.events,
        verifies=world.verifies,
        clock=world.time.clock(),
    )
    return (
        Reconciler(
            settings,
            inventory=inventory,
            connections=world.service,
            dataflows=dataflows,
            records=world.records,
            adobe=world.adobe,
            requests=queue,
            clock=world.time.clock(),
        ),
        queue,
    )


def test_nothing_to_list_without_subscriptions() -> None:
    world = World()
    report = reconciler(world, FakeInventory(["contoso-a1b2"]))[0].run()
    assert report.skipped and "AZURE_SUBSCRIPTION_IDS" in report.skipped


def test_missing_namespaces_are_queued_known_ones_counted() -> None:
    world = World(AZURE_SUBSCRIPTION_IDS=SUB)
    world.create()
    run, queue = reconciler(world, FakeInventory([NS, "contoso-missing"]), AZURE_SUBSCRIPTION_IDS=SUB)
    report = run.run()
    assert queue.sent == [{"action": "reconcile", "namespace": "contoso-missing", "sandbox": "prod"}]
    assert report.seen == 2 and report.queued == 1 and report.ready == 1


def test_dry_run_changes_nothing() -> None:
    world = World()
    run, queue = reconciler(world, FakeInventory(["contoso-missing"]), AZURE_SUBSCRIPTION_IDS=SUB)
    report = run.run(dry_run=True)
    assert report.queued == 1 and queue.sent == [] and world.records.rows == {}


def test_lost_records_are_adopted_from_adobe_without_a_create() -> None:
    world = World()
    record, _ = world.create()
    world.records.rows.clear()  # storage recreated
    world.adobe.objects[("prod", "connections")][0].body["auth"] = {"params": {"sasKeyName": "Root", "namespace": NS}}
    listed = [{"id": o.id, "name": o.name, **o.body} for o in world.adobe.in_adobe()]
    world.adobe.list_connections = lambda sandbox, deadline: listed  # type: ignore[method-assign]
    run, queue = reconciler(world, FakeInventory([NS]), AZURE_SUBSCRIPTION_IDS=SUB)
    report = run.run()
    assert report.adopted == 1 and queue.sent == []
    adopted = world.records.record(ConnectionKey("prod", NS))
    assert adopted.state is State.READY and adopted.connection_id == record.connection_id
    assert world.adobe.posts == 1


def test_adoption_covers_every_sandbox_in_use_and_creates_only_in_the_default() -> None:
    """A record in sandbox `dev` puts `dev` in use: its unrecorded Event Hubs connections are adopted too;
    the namespace, recorded only in `dev`, is still queued for the default sandbox."""
    world = World()
    world.service.create_or_get(ConnectionRequest(NS, "dev"), Source("http", "r"))
    lost = {
        "name": "Azure Event Hubs contoso-lost",
        "auth": {"params": {"sasKeyName": "Root", "namespace": "contoso-lost"}},
    }
    world.adobe.objects[("dev", "connections")].append(FakeObject("dev-lost", lost["name"], lost, 9.0))
    run, queue = reconciler(world, FakeInventory([NS, "contoso-lost"]), AZURE_SUBSCRIPTION_IDS=SUB)
    report = run.run()
    assert report.adopted == 1
    assert world.records.record(ConnectionKey("dev", "contoso-lost")).connection_id == "dev-lost"
    assert queue.sent == [
        {"action": "reconcile", "namespace": name, "sandbox": "prod"} for name in ("contoso-lost", NS)
    ]


def test_gone_namespaces_are_marked_only_from_a_complete_listing_when_asked() -> None:
    world = World()
    world.create()
    run, _ = reconciler(world, FakeInventory([NS]), AZURE_SUBSCRIPTION_IDS=SUB)
    run.run()  # seen in a managed subscription: from now on it can be called gone
    assert world.records.record(ConnectionKey("prod", NS)).subscription_id == SUB
    run, _ = reconciler(world, FakeInventory([]), AZURE_SUBSCRIPTION_IDS=SUB, RECONCILE_DELETE="true")
    assert run.run().gone == []  # created just now: Resource Graph may not list it yet
    world.time.advance(1000)
    run, _ = reconciler(
        world, FakeInventory([], {SUB: "forbidden"}), AZURE_SUBSCRIPTION_IDS=SUB, RECONCILE_DELETE="true"
    )
    assert run.run().marked_deleted == 0
    run, _ = reconciler(world, FakeInventory([]), AZURE_SUBSCRIPTION_IDS=SUB)
    report = run.run()
    assert report.gone == [NS] and report.marked_deleted == 0
    run, _ = reconciler(world, FakeInventory([]), AZURE_SUBSCRIPTION_IDS=SUB, RECONCILE_DELETE="true")
    assert run.run().marked_deleted == 1
    assert world.records.record(ConnectionKey("prod", NS)).state is State.DELETED


def test_a_record_never_seen_in_a_managed_subscription_is_unmanaged_never_gone() -> None:
    """Created over HTTP for a namespace elsewhere (issue 19, item 2): reported, never marked deleted."""
    world = World(DELETE_CONNECTION_ON_NAMESPACE_DELETE="true")
    world.create()
    world.time.advance(10_000)
    run, _ = reconciler(world, FakeInventory(["contoso-other"]), AZURE_SUBSCRIPTION_IDS=SUB, RECONCILE_DELETE="true")
    report = run.run()
    assert report.unmanaged == [NS] and report.gone == [] and report.marked_deleted == 0
    assert world.records.record(ConnectionKey("prod", NS)).state is State.READY and len(world.adobe.in_adobe()) == 1


def test_connections_of_unlisted_namespaces_are_not_adopted() -> None:
    """Adobe holds a connection of a namespace in a subscription this app does not manage: left alone."""
    world = World()
    foreign = {
        "name": "Azure Event Hubs contoso-foreign",
        "auth": {"params": {"sasKeyName": "R", "namespace": "contoso-foreign"}},
    }
    world.adobe.objects[("prod", "connections")] = [FakeObject("foreign-1", foreign["name"], foreign, 1.0)]
    run, _ = reconciler(world, FakeInventory([NS]), AZURE_SUBSCRIPTION_IDS=SUB)
    report = run.run()
    assert report.adopted == 0 and report.unmanaged == ["contoso-foreign"]
    assert ConnectionKey("prod", "contoso-foreign") not in world.records.rows


def test_more_gone_than_the_limit_marks_none_unless_allowed() -> None:
    world = World()
    names = [f"contoso-gone{i}" for i in range(3)]
    for name in names:
        world.secrets.values[f"eventhubs-sas-{name}"] = SAS_OF(name)
        world.service.create_or_get(ConnectionRequest(name, "prod"), Source("http"))
    env = {"AZURE_SUBSCRIPTION_IDS": SUB, "RECONCILE_DELETE": "true", "RECONCILE_MAX_DELETE": "2"}
    reconciler(world, FakeInventory(names), **env)[0].run()
    world.time.advance(1000)
    run, _ = reconciler(world, FakeInventory([]), **env)
    report = run.run()
    assert report.gone == names and report.deletes_refused and report.marked_deleted == 0
    assert all(world.records.record(ConnectionKey("prod", n)).state is State.READY for n in names)
    report = run.run(max_delete=3)
    assert report.marked_deleted == 3 and not report.deletes_refused


def SAS_OF(namespace: str) -> str:
    return SAS.replace(NS, namespace)


def test_now_creates_directly_and_a_missing_secret_is_pending() -> None:
    world = World()
    run, queue = reconciler(world, FakeInventory([NS, "contoso-nosecret"]), AZURE_SUBSCRIPTION_IDS=SUB)
    report = run.run(now=True, concurrency=2)
    assert report.created == 1 and report.pending_secret == 1 and queue.sent == []
    assert world.records.record(ConnectionKey("prod", "contoso-nosecret")).state is State.PENDING_SECRET
    assert Source("reconcile").is_event


def test_ready_records_due_for_verification_get_a_verify() -> None:
    world = World()
    world.create()
    world.time.advance(7200)
    run, queue = reconciler(world, FakeInventory([NS]), AZURE_SUBSCRIPTION_IDS=SUB)
    assert run.run().verifies == 1
    assert queue.sent == [{"action": "verify", "namespace": NS, "sandbox": "prod"}]


def test_a_vanished_namespace_is_torn_down_like_its_delete_event() -> None:
    """Issue 19, item 3: reconcile marks the dataflows too, and with DELETE_CONNECTION_ON_NAMESPACE_DELETE
    deletes the flows before the connection (else Adobe refuses it, 1418-400)."""
    from tests.unit.test_dataflow_protocol import FlowWorld

    world = FlowWorld(DELETE_CONNECTION_ON_NAMESPACE_DELETE="true")
    world.flow()
    env = {"AZURE_SUBSCRIPTION_IDS": SUB, "RECONCILE_DELETE": "true", "DELETE_CONNECTION_ON_NAMESPACE_DELETE": "true"}
    reconciler(world, FakeInventory([NS]), **env)[0].run()
    world.time.advance(1000)
    report = reconciler(world, FakeInventory([]), **env)[0].run()
    assert report.marked_deleted == 1
    [flow] = world.flow_records.rows.values()
    assert flow[0].state is State.DELETED and flow[0].adobe_deleted
    assert world.kinds() == {"connections": 0, "sourceConnections": 0, "targetConnections": 0, "flows": 0}


def test_every_listed_namespace_is_named_once_and_the_bar_counts_them_all() -> None:
    """Issue 22, item 6: the report names the namespaces behind each count, a `failed` record is counted
    (failed records), and the progress bar's total is every listed namespace, not only the creates."""
    world = World()
    world.create()  # NS: ready
    with contextlib.suppress(SecretNotFound):  # failed: no secret
        world.service.create_or_get(ConnectionRequest("contoso-nokey", "prod"), Source("http"))
    steps: list[tuple[int, int]] = []
    run, _ = reconciler(world, FakeInventory([NS, "contoso-nokey", "contoso-new"]), AZURE_SUBSCRIPTION_IDS=SUB)
    report = run.run(progress=lambda done, total: steps.append((done, total)))
    named = [n for category in ("queued", "ready", "failed_records") for n in report.names.get(category, [])]
    assert sorted(named) == sorted([NS, "contoso-nokey", "contoso-new"]) and report.seen == 3
    assert report.names["failed_records"] == ["contoso-nokey"] and report.names["queued"] == ["contoso-new"]
    assert steps[-1] == (3, 3) and len(steps) == 3


def test_a_namespace_deleted_long_ago_and_listed_again_is_created_again() -> None:
    """A deleted record (a tombstone, or a namespace deleted then made again under its name) does not hide a
    namespace the listing shows past the grace; a deletion younger than the grace is left for Resource Graph."""
    world = World()
    world.service.mark_namespace_deleted(NS, world.event(5))  # a tombstone: no record before
    run, queue = reconciler(world, FakeInventory([NS]), AZURE_SUBSCRIPTION_IDS=SUB)
    assert run.run().queued == 0 and queue.sent == []  # just deleted: Resource Graph may still list it
    world.time.advance(1000)
    report = run.run()
    assert report.names["queued"] == [NS] and queue.sent == [
        {"action": "reconcile", "namespace": NS, "sandbox": "prod"}
    ]
