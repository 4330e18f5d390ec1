"""The reconcile pass over in-memory fakes: backfill, adoption, verification, gone namespaces."""

from __future__ import annotations

import json
from collections.abc import Iterable

from shared.inventory import Listing, Namespace
from shared.models import ConnectionKey, ConnectionRequest, Source, State
from shared.reconcile import Reconciler
from shared.retry import Deadline
from tests.unit.fakes import FakeObject
from tests.unit.test_protocol import NS, World

SUB = "00000000-0000-0000-0000-0000000000a1"


class FakeInventory:
    def __init__(self, names: Iterable[str], failures: dict[str, str] | None = None) -> None:
        self.names = list(names)
        self.failures = failures or {}

    def list(self, subscriptions: Iterable[str], deadline: Deadline) -> Listing:
        return Listing([Namespace(n, SUB, "rg") for n in self.names], dict(self.failures))


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
    return (
        Reconciler(
            settings,
            inventory=inventory,
            connections=world.service,
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
    lost = {"name": "Azure Event Hubs contoso-lost", "auth": {"params": {"sasKeyName": "Root"}}}
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
