"""The connection lifecycle: rotation, pending secrets, deletion, auth types, spec discovery, drift."""

from __future__ import annotations

import json

import pytest

from devstack.faults import Fault
from shared.runtime import reset_runtime
from tests.functional.conftest import App, body, load_event

NS = "contoso-telemetry"
SAS_SECRET = f"eventhubs-sas-{NS}"


def secret_event(kind: str = "secret-new-version.json", name: str = SAS_SECRET, **data: str) -> dict:
    event = load_event(kind)
    event["subject"] = name
    for key in list(event["data"]):
        if key.strip() == "ObjectName":
            event["data"][key] = name
    event["data"].update(data)
    return event


def patches(app: App) -> list:
    return app.stack.adobe.calls("PATCH", r"/connections/")


# -- rotation -----------------------------------------------------------------------------------


def test_new_secret_version_patches_the_connection_with_if_match(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    created = body(app.post({"namespace": NS}))
    _, _, new_key = app.stack.add_eventhubs_namespace(NS)  # rotation: a new version of the secret
    new_version = app.stack.keyvault.versions(SAS_SECRET)[-1]
    app.event(secret_event(Version=new_version), function="on_secret_event")

    [patch] = patches(app)
    assert patch.path.endswith(f"/connections/{created['connectionId']}")
    assert patch.headers["if-match"] == created["etag"]
    assert patch.json() == [
        {
            "op": "replace",
            "path": "/auth/params",
            "value": {"sasKeyName": "RootManageSharedAccessKey", "sasKey": new_key, "namespace": NS},
        }
    ]
    connection = app.stack.adobe.connection(created["connectionId"])
    assert connection is not None and connection["auth"]["params"]["sasKey"] == new_key
    record = body(app.get(NS))
    assert record["etag"] == connection["etag"] != created["etag"]
    assert record["secretVersion"] == new_version and record["state"] == "ready"
    assert len(app.stack.adobe.connections("prod")) == 1


def test_stale_etag_is_reread_and_retried_once(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    created = body(app.post({"namespace": NS}))
    app.stack.add_eventhubs_namespace(NS)
    app.stack.adobe.faults.add(
        Fault(
            "PATCH",
            r"/connections/",
            status=412,
            body={
                "type": "https://ns.adobe.com/aep/errors/FLOW-1404-412",
                "title": "Precondition Failed",
                "status": 412,
            },
        )
    )
    app.event(secret_event(), function="on_secret_event")
    assert len(patches(app)) == 2
    assert len(app.stack.adobe.calls("GET", rf"/connections/{created['connectionId']}$")) == 1
    assert body(app.get(NS))["secretVersion"] == app.stack.keyvault.versions(SAS_SECRET)[-1]


def test_out_of_order_or_repeated_event_changes_nothing(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    old_version = app.stack.keyvault.versions(SAS_SECRET)[-1]
    body(app.post({"namespace": NS}))
    app.stack.add_eventhubs_namespace(NS)
    app.event(secret_event(Version=app.stack.keyvault.versions(SAS_SECRET)[-1]), function="on_secret_event")
    after_rotation = body(app.get(NS))
    app.event(secret_event(Version=old_version), function="on_secret_event")  # late event for the old version
    app.event(secret_event(), function="on_secret_event")  # duplicate delivery
    assert len(patches(app)) == 1
    assert body(app.get(NS)) == after_rotation


def test_failed_rotation_keeps_ready_and_sets_last_error(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.post({"namespace": NS})
    app.stack.add_eventhubs_namespace(NS)
    app.stack.adobe.faults.add(
        Fault("PATCH", r"/connections/", status=400, body={"error_code": "1401-400", "message": "bad params"})
    )
    app.event(secret_event(), function="on_secret_event")  # permanent: recorded, not raised
    record = body(app.get(NS))
    assert record["state"] == "ready" and record["lastError"]["code"] == "AdobeRequestRejected"


def test_secret_backing_no_connection_is_ignored(app: App) -> None:
    app.event(secret_event(name="some-other-secret"), function="on_secret_event")
    app.event(secret_event(name="eventhubs-sas-unknown-namespace"), function="on_secret_event")
    assert app.stack.adobe.platform_requests == []


def test_near_expiry_warns_and_flags_the_record(app: App, caplog: pytest.LogCaptureFixture) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.post({"namespace": NS})
    app.event(secret_event("secret-near-expiry.json"), function="on_secret_event")
    assert body(app.get(NS))["secretNearExpiry"] is True
    assert any("near expiry" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


# -- namespace before secret ------------------------------------------------------------------


def test_pending_secret_is_created_when_the_secret_appears(app: App) -> None:
    app.event("namespace-created.json")
    assert app.entity(NS)["State"] == "pending_secret"
    assert app.post({"namespace": NS}).status_code == 422  # still missing: record left as it was
    app.stack.add_eventhubs_namespace(NS)
    app.event(secret_event(), function="on_secret_event")
    record = body(app.get(NS))
    assert record["state"] == "ready" and record["connectionId"]
    assert app.adobe_creates() == 1


def test_failed_for_missing_secret_is_created_when_the_secret_appears(app: App) -> None:
    app.enqueue({"namespace": NS})
    assert app.entity(NS)["State"] == "failed"
    app.stack.add_eventhubs_namespace(NS)
    app.event(secret_event(), function="on_secret_event")
    assert body(app.get(NS))["state"] == "ready"


# -- deletion ---------------------------------------------------------------------------------


def test_namespace_deleted_marks_every_sandbox_and_keeps_adobe_connection(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.post({"namespace": NS})
    app.post({"namespace": NS, "sandbox": "dev"})
    app.event("namespace-deleted.json")
    assert body(app.get(NS))["state"] == "deleted"
    assert body(app.get(NS, sandbox="dev"))["state"] == "deleted"
    assert len(app.stack.adobe.connections("prod")) == 1
    assert app.stack.adobe.calls("DELETE", r"/connections/") == []


def test_namespace_deleted_with_setting_deletes_in_adobe(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DELETE_CONNECTION_ON_NAMESPACE_DELETE", "true")
    reset_runtime()
    app.stack.add_eventhubs_namespace(NS)
    app.post({"namespace": NS})
    app.event("namespace-deleted.json")
    assert app.stack.adobe.connections("prod") == []
    assert body(app.get(NS))["state"] == "deleted"
    app.event("namespace-deleted.json")  # duplicate delivery: nothing more
    assert len(app.stack.adobe.calls("DELETE", r"/connections/")) == 1


def test_connection_used_by_flows_is_reported_without_losing_the_record(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DELETE_CONNECTION_ON_NAMESPACE_DELETE", "true")
    reset_runtime()
    app.stack.add_eventhubs_namespace(NS)
    created = body(app.post({"namespace": NS}))
    app.stack.adobe.mark_in_use(created["connectionId"])
    app.event("namespace-deleted.json")
    record = body(app.get(NS))
    assert record["state"] == "deleted" and record["connectionId"] == created["connectionId"]
    assert "1418-400" in record["lastError"]["message"] and "dataflows" in record["lastError"]["message"]
    assert len(app.stack.adobe.connections("prod")) == 1


# -- auth types ---------------------------------------------------------------------------------


def test_sas_scoped(app: App) -> None:
    _, _, key = app.stack.add_eventhubs_namespace(NS)
    assert app.post({"namespace": NS, "eventHubName": "clicks"}).status_code == 201
    [create] = app.stack.adobe.calls("POST", r"/connections$")
    assert create.json()["name"] == "Azure Event Hubs contoso-telemetry clicks"
    assert create.json()["auth"] == {
        "specName": "Azure EventHub authentication credentials",
        "params": {"sasKeyName": "RootManageSharedAccessKey", "sasKey": key, "namespace": NS, "eventHubName": "clicks"},
    }


def test_aad(app: App) -> None:
    _, aad = app.stack.add_aad_secret(NS)
    response = app.post({"namespace": NS, "authType": "aad"})
    assert response.status_code == 201 and body(response)["authType"] == "aad"
    [create] = app.stack.adobe.calls("POST", r"/connections$")
    assert create.json()["auth"] == {
        "specName": "Event Hub Azure Active Directory Auth",
        "params": {
            "tenantId": aad["tenantId"],
            "clientId": aad["clientId"],
            "clientSecretValue": aad["clientSecret"],
            "namespace": NS,
        },
    }


def test_aad_scoped(app: App) -> None:
    _, aad = app.stack.add_aad_secret(NS)
    assert app.post({"namespace": NS, "authType": "aad", "eventHubName": "clicks"}).status_code == 201
    [create] = app.stack.adobe.calls("POST", r"/connections$")
    assert create.json()["auth"]["specName"] == "Event Hub Scoped Azure Active Directory Auth"
    assert create.json()["auth"]["params"] == {
        "tenantId": aad["tenantId"],
        "clientId": aad["clientId"],
        "clientSecretValue": aad["clientSecret"],
        "namespace": NS,
        "eventHubName": "clicks",
    }


def test_aad_secret_rotation(app: App) -> None:
    app.stack.add_aad_secret(NS)
    app.post({"namespace": NS, "authType": "aad"})
    _, rotated = app.stack.add_aad_secret(NS)
    app.event(secret_event(name=f"eventhubs-aad-{NS}"), function="on_secret_event")
    [patch] = patches(app)
    assert patch.json()[0]["value"]["clientSecretValue"] == rotated["clientSecret"]


def test_invalid_aad_secret_is_422(app: App) -> None:
    app.stack.keyvault.set_secret(f"eventhubs-aad-{NS}", json.dumps({"tenantId": "t"}))
    response = app.post({"namespace": NS, "authType": "aad"})
    assert response.status_code == 422 and body(response)["error"]["code"] == "SecretInvalid"


# -- spec discovery and drift ---------------------------------------------------------------------


def test_renamed_auth_spec_is_discovered(app: App) -> None:
    app.stack.adobe.rename_auth_spec("Azure EventHub authentication credentials", "Basic Authentication for Event Hubs")
    app.stack.add_eventhubs_namespace(NS)
    assert app.post({"namespace": NS}).status_code == 201
    [create] = app.stack.adobe.calls("POST", r"/connections$")
    assert create.json()["auth"]["specName"] == "Basic Authentication for Event Hubs"
    app.stack.add_eventhubs_namespace("second-namespace")
    app.post({"namespace": "second-namespace"})
    assert len(app.stack.adobe.calls("GET", r"/connectionSpecs/")) == 1  # read once per worker


def test_spec_discovery_failure_falls_back_to_documented_names(app: App) -> None:
    app.stack.adobe.faults.add(
        Fault("GET", r"/connectionSpecs/", status=404, body={"error_code": "1400-404", "message": "nope"})
    )
    app.stack.add_eventhubs_namespace(NS)
    assert app.post({"namespace": NS}).status_code == 201
    assert (
        app.stack.adobe.calls("POST", r"/connections$")[0].json()["auth"]["specName"]
        == "Azure EventHub authentication credentials"
    )


def test_connection_deleted_by_hand_is_created_again(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    app.stack.add_eventhubs_namespace(NS)
    first = body(app.post({"namespace": NS}))
    app.stack.adobe.delete_all()  # someone deleted it in the Adobe UI
    # Within VERIFY_AFTER_SECONDS the record is trusted: no Adobe call.
    assert app.post({"namespace": NS}).status_code == 200
    monkeypatch.setenv("VERIFY_AFTER_SECONDS", "0")
    reset_runtime()
    again = app.post({"namespace": NS})
    assert again.status_code == 201
    [connection] = app.stack.adobe.connections("prod")
    assert body(again)["connectionId"] == connection["id"] != first["connectionId"]
    # And a verified, existing connection answers 200 after one GET.
    assert app.post({"namespace": NS}).status_code == 200
    assert len(app.stack.adobe.connections("prod")) == 1


def test_rotation_of_a_connection_deleted_by_hand_recreates_it(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.post({"namespace": NS})
    app.stack.adobe.delete_all()
    _, _, new_key = app.stack.add_eventhubs_namespace(NS)
    app.event(secret_event(), function="on_secret_event")
    [connection] = app.stack.adobe.connections("prod")
    assert connection["auth"]["params"]["sasKey"] == new_key
    assert body(app.get(NS))["connectionId"] == connection["id"]


def test_late_create_event_after_deletion_changes_nothing(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.event("namespace-created.json")
    app.event("namespace-deleted.json")  # the same eventTime as the creation: a deletion is not undone by it
    before = len(app.stack.adobe.platform_requests)
    app.event("namespace-created.json")  # a late duplicate: its eventTime is not after the deletion
    assert body(app.get(NS))["state"] == "deleted"
    assert len(app.stack.adobe.platform_requests) == before


def test_namespace_deleted_and_created_again_gets_its_new_key(app: App) -> None:
    from datetime import UTC, datetime, timedelta

    app.stack.add_eventhubs_namespace(NS)
    first = body(app.post({"namespace": NS}))
    app.event("namespace-deleted.json")
    _, _, new_key = app.stack.add_eventhubs_namespace(NS)  # the new namespace's key
    later = (datetime.now(UTC) + timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
    app.event("namespace-created.json", eventTime=later)
    record = body(app.get(NS))
    [connection] = app.stack.adobe.connections("prod")  # the old connection, found by name and adopted
    assert record["state"] == "ready" and record["connectionId"] == connection["id"] == first["connectionId"]
    assert connection["auth"]["params"]["sasKey"] == new_key
    assert record["etag"] == connection["etag"]
    assert app.adobe_creates() == 1
