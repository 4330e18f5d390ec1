"""on_namespace_event: namespace created, duplicates, updates, unrelated and malformed events."""

from __future__ import annotations

import pytest

from devstack.faults import Fault
from shared.errors import DependencyUnavailable
from tests.functional.conftest import App, load_event

NS = "contoso-telemetry"


def test_namespace_created_creates_the_connection(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    event = load_event("namespace-created.json")
    app.event(event)
    entity = app.entity(NS)
    assert entity["State"] == "ready" and entity["SourceId"] == event["id"]
    assert app.adobe_creates() == 1


def test_duplicate_delivery_and_update_event_create_nothing_new(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    event = load_event("namespace-created.json")
    app.event(event)
    app.event(event)  # the same event delivered twice
    app.event("namespace-updated.json")  # a PATCH of the namespace, other spelling of the resource id
    assert app.adobe_creates() == 1
    assert len(app.stack.adobe.connections("prod")) == 1


@pytest.mark.parametrize("name", ["storage-account-created.json", "eventhub-created.json"])
def test_other_resources_are_acknowledged_and_ignored(app: App, name: str, caplog: pytest.LogCaptureFixture) -> None:
    app.event(name)
    assert app.stack.adobe.platform_requests == [] and app.stack.keyvault.requests == []
    assert sum("ignored" in r.getMessage() for r in caplog.records) == 1


def test_other_event_types_are_ignored(app: App) -> None:
    app.event("secret-new-version.json")
    assert app.stack.adobe.platform_requests == []


def test_malformed_event_is_logged_and_acknowledged(app: App, caplog: pytest.LogCaptureFixture) -> None:
    event = load_event("namespace-created-no-subject.json")
    app.event(event)
    assert any(event["id"] in r.getMessage() and "subject" in r.getMessage() for r in caplog.records)
    app.event(load_event("namespace-created.json"), data="not an object")
    app.event(load_event("namespace-created.json"), data={"operationName": 5})
    assert app.stack.adobe.platform_requests == []


def test_namespace_before_its_secret_is_recorded_pending(app: App) -> None:
    app.event("namespace-created.json")
    entity = app.entity(NS)
    assert entity["State"] == "pending_secret" and entity["LastErrorCode"] == "SecretNotFound"
    # An HTTP request for it still answers 422 and leaves the record as it was.
    assert app.post({"namespace": NS}).status_code == 422
    assert app.entity(NS)["State"] == "pending_secret"


def test_adobe_down_raises_for_redelivery(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.stack.adobe.faults.add(Fault("POST", r"/connections$", status=500, times=-1))
    with pytest.raises(DependencyUnavailable):
        app.event("namespace-created.json")
