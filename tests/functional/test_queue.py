"""create_connection_queue: success returns, permanent failures are recorded, transient ones raise."""

from __future__ import annotations

import base64
import json

import pytest

from devstack.faults import Fault
from shared.errors import ConfigurationError, DependencyUnavailable
from shared.runtime import reset_runtime
from tests.functional.conftest import App

NS = "contoso-telemetry"


def use_events_queue(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    app.env["CONNECTION_EVENTS_QUEUE"] = "events-" + app.table.lower()[:20]
    monkeypatch.setenv("CONNECTION_EVENTS_QUEUE", app.env["CONNECTION_EVENTS_QUEUE"])
    reset_runtime()


def test_valid_message_creates_and_records(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.enqueue(json.dumps({"namespace": NS, "sandbox": "dev"}), message_id="msg-1")
    assert app.adobe_creates() == 1
    entity = app.entity(NS, sandbox="dev")
    assert entity["State"] == "ready" and entity["SourceId"] == "msg-1"


def test_base64_message_from_older_senders_is_accepted(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.enqueue(base64.b64encode(json.dumps({"namespace": NS}).encode()).decode())
    assert app.entity(NS)["State"] == "ready"


@pytest.mark.parametrize(
    "raw", ["{not json", "", "[]", '{"namespace": "x"}', '{"namespace": "contoso-telemetry", "extra": 1}']
)
def test_invalid_messages_are_permanent_logged_and_not_raised(
    app: App, raw: str, caplog: pytest.LogCaptureFixture
) -> None:
    app.enqueue(raw, message_id="bad-msg")
    assert app.stack.adobe.platform_requests == []
    assert any("bad-msg" in r.getMessage() and "permanently" in r.getMessage() for r in caplog.records)


def test_missing_secret_is_recorded_as_failed_with_the_message_id(app: App) -> None:
    app.enqueue({"namespace": NS}, message_id="msg-422")
    entity = app.entity(NS)
    assert entity["State"] == "failed"
    assert entity["LastErrorCode"] == "SecretNotFound" and entity["SourceId"] == "msg-422"
    assert app.adobe_creates() == 0


def test_adobe_refusal_is_recorded_and_not_raised(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.stack.adobe.faults.add(
        Fault(
            "POST",
            r"/connections$",
            status=400,
            body={
                "type": "https://ns.adobe.com/aep/errors/FLOW-1415-400",
                "title": "Auth spec not found",
                "status": 400,
            },
        )
    )
    app.enqueue({"namespace": NS})
    entity = app.entity(NS)
    assert entity["State"] == "failed" and entity["LastErrorCode"] == "AdobeRequestRejected"
    assert "1415-400" in entity["LastErrorMessage"]


def test_adobe_down_raises_for_redelivery_then_succeeds(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.stack.adobe.faults.add(Fault("POST", r"/connections$", status=503, times=-1))
    with pytest.raises(DependencyUnavailable):
        app.enqueue({"namespace": NS})
    app.stack.adobe.clear_faults()
    app.enqueue({"namespace": NS})  # the redelivery
    assert app.entity(NS)["State"] == "ready"
    assert len(app.stack.adobe.connections("prod")) == 1


def test_configuration_error_raises(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADOBE_IMS_URL", "http://ims.example.com")
    reset_runtime()
    with pytest.raises(ConfigurationError):
        app.enqueue({"namespace": NS})


def test_message_for_existing_connection_makes_no_adobe_call(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    assert app.post({"namespace": NS}).status_code == 201
    before = (len(app.stack.adobe.platform_requests), len(app.stack.keyvault.requests))
    app.enqueue({"namespace": NS})
    assert (len(app.stack.adobe.platform_requests), len(app.stack.keyvault.requests)) == before


def test_events_queue_gets_one_message_per_created_or_failed_connection(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_events_queue(app, monkeypatch)
    app.stack.add_eventhubs_namespace(NS)
    app.enqueue({"namespace": NS})
    app.enqueue({"namespace": NS})  # a duplicate: no second notification
    app.enqueue({"namespace": "missing-secret-ns"})
    messages = app.events_queue_messages()
    assert [m["event"] for m in messages] == ["created", "failed"]
    assert messages[0]["record"]["namespace"] == NS and messages[0]["record"]["state"] == "ready"
    assert messages[1]["error"]["code"] == "SecretNotFound"
