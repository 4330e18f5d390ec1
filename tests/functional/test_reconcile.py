"""reconcile_timer against Azurite, the stand-ins and the real Resource Graph client: backfill, verify,
gone namespaces, adoption of lost records, and the listing's faults."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime

import pytest
from azure.functions.timer import TimerRequest

from devstack.events import secret_event
from devstack.faults import Fault
from devstack.host import indexed_function
from shared.runtime import reset_runtime
from tests.functional.conftest import App, body

SUB_A = "00000000-0000-0000-0000-0000000000a1"
SUB_B = "00000000-0000-0000-0000-0000000000b2"


def set_env(app: App, monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for key, value in values.items():
        monkeypatch.setenv(key, value)
        app.env[key] = value
    reset_runtime()


def reconcile() -> None:
    indexed_function("reconcile_timer")(TimerRequest(past_due=False))


def queued(app: App) -> list[dict]:
    messages = app.request_queue().peek_messages(max_messages=32)
    return [json.loads(m.content) for m in messages]


@pytest.fixture
def managed(app: App, monkeypatch: pytest.MonkeyPatch) -> App:
    set_env(app, monkeypatch, AZURE_SUBSCRIPTION_IDS=f"{SUB_A},{SUB_B}")
    return app


def age_records(app: App, *, seconds: float) -> None:
    """Make every record look `seconds` older (as if created before Resource Graph's indexing delay)."""
    from datetime import timedelta

    from azure.data.tables import TableServiceClient, UpdateMode

    table = TableServiceClient.from_connection_string(app.stack.storage_connection_string).get_table_client(app.table)
    for entity in table.list_entities():
        entity["CreatedAt"] = entity["CreatedAt"] - timedelta(seconds=seconds)
        table.update_entity(entity, mode=UpdateMode.MERGE)


def in_adobe(app: App, namespace: str) -> list[dict]:
    return [c for c in app.stack.adobe.connections("prod") if c["auth"]["params"]["namespace"] == namespace]


def test_unset_subscriptions_list_nothing(app: App, caplog: pytest.LogCaptureFixture) -> None:
    reconcile()
    assert "nothing to list" in caplog.text
    assert app.stack.resource_graph.requests == [] and queued(app) == []


def test_malformed_subscriptions_name_the_setting(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(app, monkeypatch, AZURE_SUBSCRIPTION_IDS="not-a-subscription")
    with pytest.raises(Exception, match="AZURE_SUBSCRIPTION_IDS"):
        reconcile()


def test_namespaces_without_a_record_are_backfilled_pending_until_their_secret(managed: App) -> None:
    app = managed
    graph = app.stack.resource_graph
    for name, sub in (("contoso-old-a", SUB_A), ("contoso-old-b", SUB_B), ("contoso-known", SUB_A)):
        graph.add_namespace(name, subscription_id=sub)
    app.stack.add_eventhubs_namespace("contoso-old-a")
    app.stack.add_eventhubs_namespace("contoso-known")
    assert app.post({"namespace": "contoso-known"}).status_code == 201
    reconcile()
    assert sorted(m["namespace"] for m in queued(app)) == ["contoso-old-a", "contoso-old-b"]
    assert all(m["action"] == "reconcile" for m in queued(app))
    app.drain_requests()
    assert body(app.get("contoso-old-a"))["state"] == "ready"
    assert body(app.get("contoso-old-b"))["state"] == "pending_secret"
    secret_name, _, _ = app.stack.add_eventhubs_namespace("contoso-old-b")
    app.event(secret_event(secret_name, event_time=datetime.now(UTC)), function="on_secret_event")
    assert body(app.get("contoso-old-b"))["state"] == "ready"
    reconcile()  # nothing left to do
    assert queued(app) == []
    assert all(len(in_adobe(app, ns)) == 1 for ns in ("contoso-old-a", "contoso-old-b", "contoso-known"))


def test_every_page_is_followed_even_one_that_ends_early(managed: App) -> None:
    app = managed
    graph = app.stack.resource_graph
    graph.page_size = 2
    names = [f"contoso-page-{i}" for i in range(5)]
    for name in names:
        graph.add_namespace(name, subscription_id=SUB_A)
    graph.end_early_once()
    reconcile()
    assert sorted(m["namespace"] for m in queued(app)) == names
    assert len(graph.requests) >= 3


def test_throttling_mid_paging_is_retried(managed: App) -> None:
    app = managed
    graph = app.stack.resource_graph
    graph.page_size = 2
    for i in range(4):
        graph.add_namespace(f"contoso-throttle-{i}", subscription_id=SUB_B)
    graph.faults.add(
        Fault(
            "POST",
            r"/resources",
            status=429,
            headers={"Retry-After": "1"},
            body={"error": {"code": "RateLimiting", "message": "slow down"}},
        )
    )
    graph.faults.add(
        Fault("POST", r"/resources", status=503, body={"error": {"code": "ServiceUnavailable", "message": "x"}})
    )
    reconcile()
    assert len(queued(app)) == 4


def test_a_forbidden_subscription_is_reported_and_nothing_is_marked_deleted(
    managed: App, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app = managed
    set_env(app, monkeypatch, RECONCILE_DELETE="true")
    graph = app.stack.resource_graph
    graph.add_namespace("contoso-visible", subscription_id=SUB_A)
    graph.add_namespace("contoso-hidden", subscription_id=SUB_B)
    app.stack.add_eventhubs_namespace("contoso-hidden")
    assert app.post({"namespace": "contoso-hidden"}).status_code == 201
    graph.deny_subscription(SUB_B)
    age_records(app, seconds=3600)
    reconcile()
    assert [m["namespace"] for m in queued(app)] == ["contoso-visible"]
    assert body(app.get("contoso-hidden"))["state"] == "ready"  # partial listing: nothing marked
    assert SUB_B in caplog.text and "Reader" in caplog.text


def test_gone_namespaces_are_reported_and_marked_only_when_asked(
    managed: App, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app = managed
    app.stack.add_eventhubs_namespace("contoso-vanished")
    app.stack.resource_graph.add_namespace("contoso-vanished", subscription_id=SUB_A)
    assert app.post({"namespace": "contoso-vanished"}).status_code == 201
    reconcile()  # seen in a managed subscription: from now on it can be called gone
    app.stack.resource_graph.remove_namespace("contoso-vanished", subscription_id=SUB_A)
    reconcile()
    assert "no longer exist" not in caplog.text  # created just now: within RECONCILE_GONE_GRACE_SECONDS
    age_records(app, seconds=3600)
    reconcile()
    assert body(app.get("contoso-vanished"))["state"] == "ready" and "no longer exist" in caplog.text
    set_env(app, monkeypatch, RECONCILE_DELETE="true")
    reconcile()
    assert body(app.get("contoso-vanished"))["state"] == "deleted"


def test_lost_records_are_adopted_never_duplicated(managed: App, monkeypatch: pytest.MonkeyPatch) -> None:
    app = managed
    graph = app.stack.resource_graph
    ids = {}
    for name in ("contoso-lost-a", "contoso-lost-b"):
        graph.add_namespace(name, subscription_id=SUB_A)
        app.stack.add_eventhubs_namespace(name)
        ids[name] = body(app.post({"namespace": name}))["connectionId"]
    set_env(app, monkeypatch, CONNECTIONS_TABLE="R" + uuid.uuid4().hex[:16])  # storage recreated: records lost
    reconcile()
    assert queued(app) == []  # adopted, so nothing to create
    for name, connection_id in ids.items():
        record = body(app.get(name))
        assert record["state"] == "ready" and record["connectionId"] == connection_id
        assert app.post({"namespace": name}).status_code == 200
        assert len(in_adobe(app, name)) == 1


def test_dataflows_on_an_adopted_connection_are_found_not_made_twice(
    managed: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Storage lost with its dataflow records too: a dataflow request for a hub that already flows must not
    make a second source, target and flow (data read twice). On an adopted connection they are looked up first."""
    app, name, hub = managed, "contoso-lost-flow", "clicks"
    app.stack.resource_graph.add_namespace(name, subscription_id=SUB_A)
    app.stack.add_eventhubs_namespace(name)
    app.stack.adobe.set_event_hubs(name, [hub])
    dataset = app.stack.adobe.add_dataset("Clickstream events")
    request = {"namespace": name, "eventHubName": hub, "datasetId": dataset}
    first = app.post_dataflow(request)
    assert first.status_code == 201
    suffix = uuid.uuid4().hex[:12]
    set_env(app, monkeypatch, CONNECTIONS_TABLE=f"R{suffix}", DATAFLOWS_TABLE=f"D{suffix}")  # storage recreated
    reconcile()
    app.stack.adobe.reset_recording()
    again = app.post_dataflow(request)
    assert again.status_code == 200, body(again)
    for field in ("sourceConnectionId", "targetConnectionId", "flowId", "connectionId"):
        assert body(again)[field] == body(first)[field], field
    assert app.stack.adobe.calls("POST") == []
    adobe = app.stack.adobe
    assert (len(adobe.source_connections()), len(adobe.target_connections()), len(adobe.flows())) == (1, 1, 1)
    app.drain_requests()  # the verify the lookups asked for changes nothing
    assert (len(adobe.source_connections()), len(adobe.target_connections()), len(adobe.flows())) == (1, 1, 1)
    assert body(app.get_dataflow(name, hub))["state"] == "ready"


def test_two_reconciles_at_once_create_one_connection_each(managed: App) -> None:
    app = managed
    for i in range(3):
        app.stack.resource_graph.add_namespace(f"contoso-twice-{i}", subscription_id=SUB_A)
        app.stack.add_eventhubs_namespace(f"contoso-twice-{i}")
    reconcile()
    reconcile()
    assert len(queued(app)) == 6
    app.drain_requests()
    assert all(len(in_adobe(app, f"contoso-twice-{i}")) == 1 for i in range(3))


def test_reconcile_logs_one_summary_line(managed: App, caplog: pytest.LogCaptureFixture) -> None:
    managed.stack.resource_graph.add_namespace("contoso-summary", subscription_id=SUB_A)
    caplog.set_level(logging.INFO)
    reconcile()
    [line] = [
        r.getMessage() for r in caplog.records if "namespaces seen" in r.getMessage() and "timer" in r.getMessage()
    ]
    assert "1 namespaces seen, 1 queued" in line
