"""The contract's "Guarantees under production conditions", each under the condition that would break it.

Every test here reproduces one observation of issue 11 (numbered in the test's docstring) with
the stand-ins producing the real service's worst behaviour, and checks the guarantee. The leak
check of conftest.py runs after each test: no 8-character run of any secret in any output.
"""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import pytest
import requests

from devstack.events import namespace_event, secret_event
from devstack.faults import Fault
from shared.credentials import namespace_auth
from shared.models import ConnectionRequest
from shared.retry import Deadline
from shared.runtime import reset_runtime
from tests.functional.conftest import App, body

NS = "contoso-guarantee"
CREATE = r"/connections$"
OTHER_SUBSCRIPTION = "99999999-9999-9999-9999-999999999999"


def set_env(app: App, monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for key, value in values.items():
        monkeypatch.setenv(key, value)
        app.env[key] = value
    reset_runtime()


def in_adobe(app: App, namespace: str = NS, sandbox: str = "prod") -> list[dict]:
    return [c for c in app.stack.adobe.connections(sandbox) if c["auth"]["params"]["namespace"] == namespace]


# -- 1. converges to exactly one -------------------------------------------------------------------


def test_late_commit_converges_to_one_connection_after_the_verify(app: App) -> None:
    """1. Adobe commits the first POST after the client gave up; the lookup cannot see it yet."""
    app.stack.add_eventhubs_namespace(NS)
    app.stack.adobe.faults.add(Fault("POST", CREATE, action="late_commit", delay=2.5))
    first = app.post({"namespace": NS})
    assert first.status_code in (200, 201), body(first)
    app.stack.adobe.faults.clear()
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while len(in_adobe(app)) < 2 and datetime.now(UTC) < deadline:  # the late commit lands
        pass
    assert len(in_adobe(app)) == 2, "the stand-in must produce the duplicate this test is about"
    assert app.request_queue().get_queue_properties().approximate_message_count == 1  # the delayed verify
    verified = app.drain_requests()
    assert [m["action"] for m in verified] == ["verify"]
    [connection] = in_adobe(app)
    assert app.entity(NS)["ConnectionId"] == connection["id"] == body(first)["connectionId"]
    assert app.entity(NS)["State"] == "ready"
    again = app.post({"namespace": NS})
    assert again.status_code == 200 and body(again)["connectionId"] == connection["id"]


def test_happy_path_queues_no_verify(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    assert app.post({"namespace": NS}).status_code == 201
    assert app.request_queue().get_queue_properties().approximate_message_count == 0
    assert len(app.stack.adobe.calls("POST", CREATE)) == 1 and not app.stack.adobe.calls("GET", r"/connections\?")


def test_a_lookup_that_finds_several_keeps_the_oldest_and_deletes_the_others(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    name = f"Azure Event Hubs {NS}"
    params = {"sasKeyName": "Root", "sasKey": "x" * 44, "namespace": NS}
    oldest = app.stack.adobe.seed_connection(name, params)
    app.stack.adobe.seed_connection(name, params)
    app.stack.adobe.faults.add(Fault("POST", CREATE, action="drop"))  # uncertain: look up before any repeat
    response = app.post({"namespace": NS})
    assert response.status_code == 200 and body(response)["connectionId"] == oldest["id"]
    assert [c["id"] for c in in_adobe(app)] == [oldest["id"]]


def test_verify_recreates_a_ready_connection_deleted_in_adobe(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    created = body(app.post({"namespace": NS}))
    app.stack.adobe.delete_all()
    app.enqueue({"action": "verify", "namespace": NS})
    [connection] = in_adobe(app)
    assert connection["id"] != created["connectionId"]
    assert app.entity(NS)["ConnectionId"] == connection["id"] and app.entity(NS)["State"] == "ready"


def test_verify_adopts_what_a_failed_uncertain_create_left(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.stack.adobe.faults.add(Fault("POST", CREATE, action="commit_then_stall", delay=2.0))
    app.stack.adobe.faults.add(Fault("GET", r"/connections\?", status=503, times=-1))
    assert app.post({"namespace": NS}).status_code == 503
    app.stack.adobe.clear_faults()
    app.drain_requests()  # the verify scheduled by the failure
    [connection] = in_adobe(app)
    assert app.entity(NS)["State"] == "ready" and app.entity(NS)["ConnectionId"] == connection["id"]


def test_verify_message_with_an_unknown_field_fails_for_good(app: App) -> None:
    app.enqueue({"action": "verify", "namespace": NS, "authType": "sas"})  # returns: permanent, logged
    app.enqueue({"action": "rebuild", "namespace": NS})
    assert app.stack.adobe.platform_requests == []


# -- 2. coherent timing settings ---------------------------------------------------------------------


def test_a_lease_shorter_than_budget_plus_one_call_is_refused(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """2. CLAIM_LEASE_SECONDS=3, RETRY_BUDGET_SECONDS=2, HTTP_TIMEOUT_SECONDS=10 let a live claim expire."""
    app.stack.add_eventhubs_namespace(NS)
    set_env(app, monkeypatch, CLAIM_LEASE_SECONDS="3", RETRY_BUDGET_SECONDS="2", HTTP_TIMEOUT_SECONDS="10")
    response = app.post({"namespace": NS})
    assert response.status_code == 500
    assert body(response)["error"]["setting"] == "CLAIM_LEASE_SECONDS"
    with pytest.raises(Exception, match="CLAIM_LEASE_SECONDS"):
        app.enqueue({"namespace": NS})
    assert app.stack.adobe.platform_requests == []


# -- 3. no secret fragment anywhere -----------------------------------------------------------------


def test_rotation_refused_with_an_error_quoting_the_new_key_leaks_nothing(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """3a. Adobe refuses the rotation PATCH with a 400 whose detail quotes the submitted params."""
    set_env(app, monkeypatch, CONNECTION_EVENTS_QUEUE="guarantee-events")
    app.stack.add_eventhubs_namespace(NS)
    assert app.post({"namespace": NS}).status_code == 201
    app.stack.adobe.echo_request_in_errors = True
    app.stack.adobe.faults.add(
        Fault(
            "PATCH",
            r"/connections/",
            status=400,
            body=lambda r: {
                "type": "x/FLOW-1401-400",
                "title": "Bad Request",
                "status": 400,
                "detail": "Invalid auth params: " + r.body.decode(),
            },
        )
    )
    secret_name, _, new_key = app.stack.add_eventhubs_namespace(NS)
    app.event(secret_event(secret_name, event_time=datetime.now(UTC)), function="on_secret_event")
    record = body(app.get(NS))
    assert record["state"] == "ready" and record["lastError"]["code"] == "AdobeRequestRejected"
    assert "Invalid auth params" in record["lastError"]["message"]
    assert new_key[:8] not in record["lastError"]["message"]


def test_a_long_error_ending_with_the_key_is_scrubbed_before_it_is_cut(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """3b. A refusal whose detail is long and ends with the key: the cut at 300 must not keep its head."""
    set_env(app, monkeypatch, CONNECTION_EVENTS_QUEUE="guarantee-events")
    _, _, key = app.stack.add_eventhubs_namespace(NS)
    detail = "The submitted auth params are invalid. " + "Details follow. " * 15 + f"sasKey={key}"
    assert 281 < detail.index(key) < 300  # the old cut kept the key's first characters
    app.stack.adobe.faults.add(
        Fault("POST", CREATE, status=400, body={"type": "x/FLOW-1401-400", "title": "Bad Request", "detail": detail})
    )
    response = app.post({"namespace": NS})
    assert response.status_code == 502
    message = body(response)["error"]["message"]
    assert "The submitted auth params are invalid" in message and key[:8] not in message
    [failed] = [m for m in app.events_queue_messages() if m["event"] == "failed"]
    assert key[:8] not in str(failed)


def test_objects_holding_secrets_refuse_pickling(app: App) -> None:
    """3c. `pickle.dumps` of the namespace auth object held the raw key."""
    app.stack.add_eventhubs_namespace(NS)
    runtime = app.runtime
    auth = namespace_auth(runtime.secrets, runtime.settings, ConnectionRequest(NS, "prod"), Deadline(lambda: 0.0, 10))
    with pytest.raises(TypeError, match=r"cannot be pickled"):
        pickle.dumps(auth)


# -- 4, 5. events in order, event scope -----------------------------------------------------------------


def event(app: App, action: str, when: datetime, **kwargs: str) -> None:
    app.event(namespace_event(action, NS, event_time=when, **kwargs))  # type: ignore[arg-type]


def test_a_late_delete_does_not_undo_a_newer_create(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """4a. create (t1), create again (t3), then the delete (t2) delivered last."""
    set_env(app, monkeypatch, DELETE_CONNECTION_ON_NAMESPACE_DELETE="true")
    app.stack.add_eventhubs_namespace(NS)
    t1 = datetime.now(UTC) - timedelta(hours=1)
    event(app, "write", t1)
    event(app, "write", t1 + timedelta(minutes=20))
    event(app, "delete", t1 + timedelta(minutes=10))
    assert body(app.get(NS))["state"] == "ready"
    assert len(in_adobe(app)) == 1 and not app.stack.adobe.calls("DELETE")


def test_a_create_newer_than_a_deletion_processed_late_creates_again(app: App) -> None:
    """4b. The deletion is processed after the time of the next create: event time, not processing time."""
    app.stack.add_eventhubs_namespace(NS)
    t1 = datetime.now(UTC) - timedelta(hours=1)
    event(app, "write", t1)
    event(app, "delete", t1 + timedelta(minutes=10))
    assert body(app.get(NS))["state"] == "deleted"
    event(app, "write", t1 + timedelta(minutes=20))  # older than now, newer than the deletion
    assert body(app.get(NS))["state"] == "ready"
    event(app, "write", t1 + timedelta(minutes=5))  # older than the deletion and the re-creation: nothing
    assert body(app.get(NS))["state"] == "ready" and len(in_adobe(app)) == 1


def test_events_of_another_subscription_are_ignored(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """5. A delete for /subscriptions/<other>/... with our namespace's name."""
    ours = "00000000-0000-0000-0000-000000000001"
    set_env(app, monkeypatch, AZURE_SUBSCRIPTION_IDS=f"{ours}, 00000000-0000-0000-0000-000000000002")
    app.stack.add_eventhubs_namespace(NS)
    now = datetime.now(UTC)
    event(app, "write", now - timedelta(minutes=2), subscription_id=ours)
    event(app, "delete", now - timedelta(minutes=1), subscription_id=OTHER_SUBSCRIPTION)
    assert body(app.get(NS))["state"] == "ready"
    event(app, "write", now, subscription_id=OTHER_SUBSCRIPTION.upper())  # case does not matter
    assert len(in_adobe(app)) == 1


def test_malformed_subscription_ids_are_a_configuration_error(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(app, monkeypatch, AZURE_SUBSCRIPTION_IDS="not-a-guid")
    response = app.post({"namespace": NS})
    assert response.status_code == 500 and body(response)["error"]["setting"] == "AZURE_SUBSCRIPTION_IDS"


# -- 6. auth-spec discovery per sandbox --------------------------------------------------------------


def test_a_bad_sandbox_does_not_poison_spec_discovery_for_others(app: App) -> None:
    """6. After a request naming a sandbox that does not exist, Adobe renames the SAS spec."""
    app.stack.add_eventhubs_namespace(NS)
    missing = app.post({"namespace": NS, "sandbox": "no-such-sandbox"})
    assert missing.status_code == 502 and body(missing)["error"]["adobe"]["code"] == "2100-404"
    app.stack.adobe.rename_auth_spec("Azure EventHub authentication credentials", "Basic Authentication for Event Hubs")
    response = app.post({"namespace": NS})
    assert response.status_code == 201, body(response)
    [connection] = in_adobe(app)
    assert connection["auth"]["specName"] == "Basic Authentication for Event Hubs"


def test_a_spec_renamed_after_it_was_read_is_discovered_again(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.stack.add_eventhubs_namespace("contoso-second")
    assert app.post({"namespace": NS}).status_code == 201  # the prod spec is now cached
    app.stack.adobe.rename_auth_spec("Azure EventHub authentication credentials", "Basic Authentication for Event Hubs")
    response = app.post({"namespace": "contoso-second"})
    assert response.status_code == 201, body(response)
    assert in_adobe(app, "contoso-second")[0]["auth"]["specName"] == "Basic Authentication for Event Hubs"


# -- 7, 8. identity by effective event hub; the request's name ---------------------------------------


def test_a_secret_scoped_by_entity_path_keys_the_connection_by_that_hub(app: App) -> None:
    """7. No eventHubName in the request, EntityPath=hub1 in the secret."""
    app.stack.add_eventhubs_namespace(NS, "SendListen", entity_path="hub1")
    first = app.post({"namespace": NS})
    assert first.status_code == 201
    assert body(first)["eventHubName"] == "hub1"
    [connection] = in_adobe(app)
    assert connection["name"] == f"Azure Event Hubs {NS} hub1"
    named = app.post({"namespace": NS, "eventHubName": "hub1"})
    assert named.status_code == 200 and body(named)["connectionId"] == connection["id"]
    assert len(in_adobe(app)) == 1
    assert body(app.get(NS, eventHubName="hub1"))["connectionId"] == connection["id"]


def test_a_pending_unscoped_record_is_superseded_by_the_scoped_one(app: App) -> None:
    app.event(
        "namespace-created.json",
        subject=f"/subscriptions/00000000-0000-0000-0000-000000000001/resourcegroups/rg/providers/Microsoft.EventHub/namespaces/{NS}",
    )
    assert body(app.get(NS))["state"] == "pending_secret"
    secret_name, _, _ = app.stack.add_eventhubs_namespace(NS, "SendListen", entity_path="hub1")
    app.event(secret_event(secret_name, event_time=datetime.now(UTC)), function="on_secret_event")
    assert body(app.get(NS, eventHubName="hub1"))["state"] == "ready"
    assert app.get(NS).status_code == 404  # the unscoped placeholder is gone
    assert len(in_adobe(app)) == 1


def test_the_request_name_reaches_adobe_and_is_looked_up_after_an_uncertain_create(app: App) -> None:
    """8. A request's `name` never reached Adobe."""
    app.stack.add_eventhubs_namespace(NS)
    app.stack.adobe.faults.add(Fault("POST", CREATE, action="commit_then_stall", delay=2.5))
    response = app.post({"namespace": NS, "name": "Clickstream"})
    assert response.status_code == 200, body(response)
    [connection] = in_adobe(app)
    assert connection["name"] == "Clickstream" == body(response)["name"]
    assert "name==Clickstream" in requests.utils.unquote(app.stack.adobe.calls("GET", r"/connections\?")[0].target)


# -- 9. only expected hosts and paths; TLS -----------------------------------------------------------


def test_a_tampered_connection_id_never_reaches_a_url(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(app, monkeypatch, DELETE_CONNECTION_ON_NAMESPACE_DELETE="true", VERIFY_AFTER_SECONDS="0")
    app.stack.add_eventhubs_namespace(NS)
    assert app.post({"namespace": NS}).status_code == 201
    from azure.data.tables import TableServiceClient, UpdateMode

    table = TableServiceClient.from_connection_string(app.stack.storage_connection_string).get_table_client(app.table)
    entity = table.get_entity("prod", f"{NS}|")
    entity["ConnectionId"] = "../../evil?x=1"
    table.update_entity(entity, mode=UpdateMode.MERGE)
    app.stack.adobe.reset_recording()
    response = app.post({"namespace": NS})  # verification due: GET /connections/{id}
    assert response.status_code in (200, 500)
    with pytest.raises(Exception, match="CONNECTIONS_TABLE"):
        event(app, "delete", datetime.now(UTC))
    for request in app.stack.adobe.platform_requests:
        assert "evil" not in request.target and ".." not in request.target


def test_an_untrusted_certificate_is_a_configuration_error(app: App, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import trustme

    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    set_env(app, monkeypatch, REQUESTS_CA_BUNDLE=str(other_ca))
    app.stack.add_eventhubs_namespace(NS)
    response = app.post({"namespace": NS})
    assert response.status_code == 500, body(response)
    assert body(response)["error"]["setting"] == "KEY_VAULT_URL"


# -- Adobe as it really answers ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 202])
def test_any_2xx_with_an_id_is_a_created_connection(app: App, status: int) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.stack.adobe.create_status = status
    response = app.post({"namespace": NS})
    assert response.status_code == 201 and body(response)["connectionId"] == in_adobe(app)[0]["id"]


def test_a_gateway_403_about_the_token_is_refreshed_once(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.stack.adobe.faults.add(
        Fault("POST", CREATE, status=403, body={"error_code": "403010", "message": "Oauth token is missing."})
    )
    assert app.post({"namespace": NS}).status_code == 201
    assert app.stack.adobe.token_request_count == 2 and len(in_adobe(app)) == 1


@pytest.mark.parametrize("style", ["report", "message"])
def test_error_text_is_read_from_every_documented_shape(app: App, style: str) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.stack.adobe.error_style = style  # type: ignore[assignment]
    response = app.post({"namespace": NS, "sandbox": "no-such-sandbox"})
    assert response.status_code == 502
    error = body(response)["error"]
    assert "no-such-sandbox" in error["message"], error  # Adobe's own text, not just the title
    assert error["adobe"]["code"] == "2100-404"


def test_lookups_follow_every_page(app: App) -> None:
    """Three connections with the name on pages of two: the lookup sees them all and keeps the oldest."""
    app.stack.add_eventhubs_namespace(NS)
    app.stack.adobe.page_size = 2
    params = {"sasKeyName": "Root", "sasKey": "y" * 44, "namespace": NS}
    app.stack.adobe.seed_connection("Azure Event Hubs other", params)
    wanted = app.stack.adobe.seed_connection(f"Azure Event Hubs {NS}", params)
    for _ in range(2):
        app.stack.adobe.seed_connection(f"Azure Event Hubs {NS}", params)
    app.stack.adobe.faults.add(Fault("POST", CREATE, action="drop"))
    response = app.post({"namespace": NS})
    assert response.status_code == 200 and body(response)["connectionId"] == wanted["id"]
    assert [c["id"] for c in in_adobe(app) if c["name"] != "Azure Event Hubs other"] == [wanted["id"]]
    assert any("continuationToken" in r.target for r in app.stack.adobe.calls("GET", r"/connections\?"))


def test_key_vault_refusing_the_identity_is_a_configuration_error(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.stack.keyvault.deny(f"eventhubs-sas-{NS}")
    response = app.post({"namespace": NS})
    assert response.status_code == 500 and body(response)["error"]["setting"] == "KEY_VAULT_URL"


def test_an_identity_not_assigned_to_the_app_is_a_configuration_error(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_env(app, monkeypatch, AZURE_CLIENT_ID="11111111-2222-3333-4444-555555555555")
    app.stack.add_eventhubs_namespace(NS)
    response = app.post({"namespace": NS})
    assert response.status_code == 500, body(response)
    assert body(response)["error"]["setting"] == "AZURE_CLIENT_ID"
