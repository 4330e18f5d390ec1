"""Secrets too short to be secrets are refused, and no other namespace's answer changes because of them; a
key Adobe quotes back in an escaped form is scrubbed (contract: "Every event, secret and record reaches its
end state"; issue 20, items 3 and 8)."""

from __future__ import annotations

import json
import secrets
import uuid

import pytest

from devstack.faults import Fault
from devstack.stack import eventhubs_connection_string
from shared.runtime import reset_runtime
from tests.functional.conftest import App, body

VICTIM = "contoso-telemetry"  # 'tel' and 'e' are in its name, its answer and its connection id's JSON
SHORT = "contoso-short"


@pytest.fixture
def with_events(app: App, monkeypatch: pytest.MonkeyPatch) -> App:
    queue = f"short-secret-events-{uuid.uuid4().hex[:12]}"  # this test's own notifications
    monkeypatch.setenv("CONNECTION_EVENTS_QUEUE", queue)
    app.env["CONNECTION_EVENTS_QUEUE"] = queue
    reset_runtime()
    return app


@pytest.mark.parametrize("short_key", ["tel", "e"])
def test_a_short_key_is_refused_and_changes_no_other_answer(with_events: App, short_key: str) -> None:
    app = with_events
    secret_name = f"eventhubs-sas-{SHORT}"
    app.stack.keyvault.set_secret(secret_name, eventhubs_connection_string(SHORT, "Root", short_key))
    app.stack.add_eventhubs_namespace(VICTIM)

    refused = app.post({"namespace": SHORT})
    assert refused.status_code == 422
    error = body(refused)["error"]
    assert error["code"] == "SecretInvalid" and error["secret"] == secret_name
    assert "shorter than 16 characters" in error["message"]
    assert app.adobe_creates() == 0  # refused before use

    created = app.post({"namespace": VICTIM})
    assert created.status_code == 201
    answer = json.loads(created.get_body())  # valid JSON, nothing mangled
    assert answer["namespace"] == VICTIM and answer["created"] is True
    [connection] = [c for c in app.stack.adobe.connections("prod") if c["auth"]["params"]["namespace"] == VICTIM]
    assert answer["connectionId"] == connection["id"]
    assert answer["name"] == f"Azure Event Hubs {VICTIM}"

    shown = app.get(VICTIM)
    assert shown.status_code == 200
    assert {k: v for k, v in body(shown).items() if k != "created"} == {
        k: v for k, v in answer.items() if k != "created"
    }
    assert b"***" not in created.get_body() + shown.get_body()

    messages = app.events_queue_messages()
    created_events = [m for m in messages if m["event"] == "created"]
    assert [m["record"]["connectionId"] for m in created_events] == [connection["id"]]
    assert created_events[0]["record"]["namespace"] == VICTIM
    assert not any("***" in json.dumps(m) for m in messages if m["record"]["namespace"] == VICTIM)


def test_a_short_aad_client_secret_is_refused(app: App) -> None:
    app.stack.keyvault.set_secret(
        f"eventhubs-aad-{SHORT}", json.dumps({"tenantId": "t-1", "clientId": "c-1", "clientSecret": "tel"})
    )
    refused = app.post({"namespace": SHORT, "authType": "aad"})
    assert refused.status_code == 422
    assert body(refused)["error"]["code"] == "SecretInvalid"
    assert body(refused)["error"]["secret"] == f"eventhubs-aad-{SHORT}"
    assert app.adobe_creates() == 0


def test_a_short_adobe_client_secret_is_a_configuration_error(app: App) -> None:
    app.stack.add_eventhubs_namespace(VICTIM)
    app.stack.keyvault.set_secret("adobe-client-secret", "e")
    try:
        refused = app.post({"namespace": VICTIM})
    finally:  # every version goes: 'e' is no secret the leak check should look for in other text
        app.stack.keyvault.delete_secret("adobe-client-secret")
        app.stack.seed_adobe_credentials()
    assert refused.status_code == 500
    error = body(refused)["error"]
    assert error["code"] == "ConfigurationError" and error["setting"] == "ADOBE_CLIENT_SECRET_SECRET"
    assert "adobe-client-secret" in error["message"]
    assert app.stack.adobe.platform_requests == []


def _windows(value: str) -> set[str]:
    return {value[i : i + 8] for i in range(len(value) - 8 + 1)}


def test_a_non_ascii_key_quoted_back_in_escaped_form_is_scrubbed(
    with_events: App, caplog: pytest.LogCaptureFixture
) -> None:
    app = with_events
    key = "clé-très-secrète-à-" + secrets.token_urlsafe(12)
    app.stack.add_eventhubs_namespace(VICTIM, key=key)
    app.stack.adobe.echo_request_in_errors = True  # the 400 quotes the request body, JSON-escaped as it was sent
    app.stack.adobe.faults.add(
        Fault(
            "POST",
            r"/connections$",
            status=400,
            body=lambda r: {
                "type": "x/FLOW-1401-400",
                "title": "Bad Request",
                "detail": "Invalid auth params: " + r.body.decode(),
            },
        )
    )
    refused = app.post({"namespace": VICTIM})
    assert refused.status_code == 502
    message = body(refused)["error"]["message"]
    assert "Invalid auth params" in message and "***" in message

    escaped = json.dumps(key)[1:-1]
    assert "\\u00e9" in escaped
    leaks = _windows(escaped) | _windows(json.dumps(escaped)[1:-1]) | _windows(key)
    places = {
        "response": refused.get_body().decode(),
        "record": json.dumps(body(app.get(VICTIM))),
        "events queue": json.dumps(app.events_queue_messages()),
        "log": caplog.text,
    }
    for place, text in places.items():
        assert not leaks & _windows(text), f"a fragment of the escaped key reached the {place}"
