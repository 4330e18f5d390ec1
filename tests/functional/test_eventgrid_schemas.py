"""Both Event Grid delivery schemas: every sample event in tests/events, sent as the Event Grid schema
and as CloudEvents 1.0, decoded by azure.functions' own converter as the worker does, has the same
effect (records, Adobe calls, the outcome line). CloudEvents' `time` orders events as `eventTime` does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.core.exceptions import ResourceNotFoundError

from devstack.events import as_cloud_event, namespace_event
from devstack.host import delivered_event, indexed_function
from tests.functional.conftest import App, load_event
from tests.functional.test_dataflows import set_env

NS = "contoso-telemetry"
SAMPLES = sorted(path.name for path in (Path(__file__).parents[1] / "events").glob("*.json"))
SCHEMAS = ("eventgrid", "cloudevents")


def send(app: App, event: dict[str, Any], schema: str) -> None:
    """Deliver ``event`` (Event Grid schema) in ``schema`` to the function its type goes to."""
    body = as_cloud_event(event) if schema == "cloudevents" else event
    decoded = delivered_event(body)
    expected = func.CloudEvent if schema == "cloudevents" else func.EventGridEvent
    assert isinstance(decoded, expected), "the worker's converter picks the type from the body"
    function = "on_secret_event" if event["eventType"].startswith("Microsoft.KeyVault.") else "on_namespace_event"
    indexed_function(function)(decoded)


def _with_secret(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)


def _with_connection(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    assert app.post({"namespace": NS}).status_code == 201


def _pending_then_secret(app: App) -> None:
    app.event("namespace-created.json")
    assert app.entity(NS)["State"] == "pending_secret"
    app.stack.add_eventhubs_namespace(NS)


def _with_dataset(monkeypatch: pytest.MonkeyPatch) -> Callable[[App], None]:
    def prepare(app: App) -> None:
        app.stack.add_eventhubs_namespace(NS)
        app.stack.adobe.set_event_hubs(NS, ["clicks"])
        set_env(app, monkeypatch, DATAFLOW_DATASET_ID=app.stack.adobe.add_dataset("Clicks"))

    return prepare


def _effect(app: App) -> dict[str, Any]:
    """What an event changed: each connection record's state (and near-expiry flag), the Adobe objects."""
    adobe = app.stack.adobe
    try:
        entities = app.entities()
    except ResourceNotFoundError:  # the app never ran far enough to create its table
        entities = []
    return {
        "records": sorted((entity["RowKey"], entity["State"], bool(entity.get("NearExpiry"))) for entity in entities),
        "connections": len(adobe.connections("prod")),
        "flows": len(adobe.flows()),
    }


EXPECTED: dict[str, tuple[str, dict[str, Any], str]] = {
    # sample: (set-up, effect, words of the outcome line)
    "namespace-created.json": (
        "secret",
        {"records": [(f"{NS}|", "ready", False)], "connections": 1, "flows": 0},
        f"prod/{NS}/- ready (created)",
    ),
    "namespace-updated.json": (
        "secret",
        {"records": [(f"{NS}|", "ready", False)], "connections": 1, "flows": 0},
        f"prod/{NS}/- ready (created)",
    ),
    "namespace-created-no-subject.json": ("secret", {"records": [], "connections": 0, "flows": 0}, "subject"),
    "namespace-deleted.json": (
        "connection",
        {"records": [(f"{NS}|", "deleted", False)], "connections": 1, "flows": 0},
        f"namespace {NS} deleted, 1 record(s)",
    ),
    "eventhub-created.json": (
        "dataset",
        {"records": [(f"{NS}|", "ready", False)], "connections": 1, "flows": 1},
        f"dataflow prod/{NS}/clicks ready",
    ),
    "storage-account-created.json": ("none", {"records": [], "connections": 0, "flows": 0}, "ignored"),
    "secret-new-version.json": (
        "pending",
        {"records": [(f"{NS}|", "ready", False)], "connections": 1, "flows": 0},
        "1 connection(s) created or rotated",
    ),
    "secret-near-expiry.json": (
        "connection",
        {"records": [(f"{NS}|", "ready", True)], "connections": 1, "flows": 0},
        "near expiry, 1 record(s) flagged",
    ),
}


def test_every_sample_event_has_an_expectation() -> None:
    assert sorted(EXPECTED) == SAMPLES


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize("sample", SAMPLES)
def test_every_sample_event_in_both_schemas(
    app: App, sample: str, schema: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup, effect, outcome = EXPECTED[sample]
    prepare: dict[str, Callable[[App], None]] = {
        "none": lambda app: None,
        "secret": _with_secret,
        "connection": _with_connection,
        "pending": _pending_then_secret,
        "dataset": _with_dataset(monkeypatch),
    }
    prepare[setup](app)
    event = load_event(sample)
    caplog.clear()
    send(app, event, schema)
    assert _effect(app) == effect
    lines = [record.getMessage() for record in caplog.records if event["id"] in record.getMessage()]
    assert any(outcome in line and f"({event['eventType']})" in line for line in lines), lines


@pytest.mark.parametrize("schema", SCHEMAS)
def test_cloudevents_time_orders_events_as_event_time_does(app: App, schema: str) -> None:
    app.stack.add_eventhubs_namespace(NS)
    created = namespace_event("write", NS, event_time=datetime(2026, 11, 26, 9, tzinfo=UTC))
    late_delete = namespace_event("delete", NS, event_time=datetime(2026, 11, 26, 8, tzinfo=UTC))
    send(app, created, schema)
    send(app, late_delete, schema)  # older than the creation: changes nothing
    assert app.entity(NS)["State"] == "ready"
    send(app, namespace_event("delete", NS, event_time=datetime(2026, 11, 26, 10, tzinfo=UTC)), schema)
    assert app.entity(NS)["State"] == "deleted"


def test_a_key_vault_cloud_event_names_its_secret_by_subject(app: App) -> None:
    """Key Vault's CloudEvents: `source` is the vault, `subject` the secret (used when data has no ObjectName)."""
    _pending_then_secret(app)
    event = as_cloud_event(load_event("secret-new-version.json"))
    assert event["source"].endswith("/providers/Microsoft.KeyVault/vaults/contoso-kv")
    event["data"] = {k: v for k, v in event["data"].items() if k != "ObjectName"}
    indexed_function("on_secret_event")(delivered_event(event))
    assert app.entity(NS)["State"] == "ready"
