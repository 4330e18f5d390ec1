"""create_connection_http and get_connection_http against Azurite and the stand-ins."""

from __future__ import annotations

import secrets

import pytest

from devstack.faults import Fault
from tests.functional.conftest import App, body

NS = "contoso-telemetry"


def test_create_sends_exactly_what_adobe_documents(app: App) -> None:
    secret_name, _, key = app.stack.add_eventhubs_namespace(NS)
    response = app.post({"namespace": NS, "name": "Telemetry"})
    assert response.status_code == 201
    assert response.mimetype == "application/json"
    record = body(response)
    assert record["created"] is True
    assert record["state"] == "ready"
    assert record["namespace"] == NS and record["sandbox"] == "prod" and record["eventHubName"] is None
    assert record["authType"] == "sas" and record["name"] == "Telemetry" and record["lastError"] is None
    [connection] = app.stack.adobe.connections("prod")
    assert record["connectionId"] == connection["id"] and record["etag"] == connection["etag"]

    [create] = app.stack.adobe.calls("POST", r"/connections$")
    scheme, token = create.headers["authorization"].split(" ", 1)
    assert scheme == "Bearer" and app.stack.adobe.is_valid_token(token)
    assert create.headers["x-api-key"] == app.stack.adobe_client_id
    assert create.headers["x-gw-ims-org-id"] == app.stack.adobe_org_id
    assert create.headers["x-sandbox-name"] == "prod"
    assert create.headers["content-type"] == "application/json"
    assert create.json() == {
        "name": "Telemetry",  # the request's name reaches Adobe (issue 11, observation 8)
        "description": "Created by the Event Hubs connector for namespace contoso-telemetry",
        "auth": {
            "specName": "Azure EventHub authentication credentials",
            "params": {"sasKeyName": "RootManageSharedAccessKey", "sasKey": key, "namespace": NS},
        },
        "connectionSpec": {"id": "bf9f5905-92b7-48bf-bf20-455bc6b60a4e", "version": "1.0"},
    }
    [token] = app.stack.adobe.ims.calls("POST", r"/ims/token/v3")
    form = token.form()
    assert form["grant_type"] == ["client_credentials"] and form["client_id"] == [app.stack.adobe_client_id]
    assert form["client_secret"] == [app.stack.adobe_client_secret]
    assert form["scope"] == ["openid,AdobeID,read_organizations,additional_info.projectedProductContext,session"]
    assert token.query == {}  # credentials in the body, never the query string

    entity = app.entity(NS)
    assert entity["State"] == "ready" and entity["ConnectionId"] == connection["id"]
    assert (
        entity["SecretName"] == secret_name and entity["SecretVersion"] == app.stack.keyvault.versions(secret_name)[-1]
    )


def test_repeat_answers_200_with_the_same_record_and_no_adobe_call(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    first = body(app.post({"namespace": NS}))
    calls_before = (
        len(app.stack.adobe.platform_requests),
        len(app.stack.adobe.ims.requests),
        len(app.stack.keyvault.requests),
    )
    again = app.post({"namespace": NS.upper(), "authType": "sas", "description": "other"})
    assert again.status_code == 200
    repeat = body(again)
    assert repeat["created"] is False
    assert {k: v for k, v in repeat.items() if k != "created"} == {k: v for k, v in first.items() if k != "created"}
    calls_after = (
        len(app.stack.adobe.platform_requests),
        len(app.stack.adobe.ims.requests),
        len(app.stack.keyvault.requests),
    )
    assert calls_after == calls_before
    assert len(app.stack.adobe.connections("prod")) == 1


def test_get_returns_the_record_and_404_otherwise(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS, entity_path="clicks")
    created = body(app.post({"namespace": NS, "eventHubName": "clicks"}))
    fetched = app.get(NS, eventHubName="clicks")
    assert fetched.status_code == 200
    assert body(fetched) == {k: v for k, v in created.items() if k != "created"}
    missing = app.get(NS)
    assert missing.status_code == 404
    assert body(missing)["error"]["code"] == "ConnectionNotFound"
    assert app.get("Bad_Namespace").status_code == 400
    assert app.get(NS, sandbox="Not Valid").status_code == 400


def test_entity_path_scopes_the_connection(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS, entity_path="Clicks")
    assert app.post({"namespace": NS}).status_code == 201
    [create] = app.stack.adobe.calls("POST", r"/connections$")
    assert create.json()["auth"]["params"]["eventHubName"] == "clicks"
    refused = app.post({"namespace": NS, "eventHubName": "views"})
    assert refused.status_code == 422
    assert body(refused)["error"]["code"] == "SecretInvalid"


def test_sandbox_from_request(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    assert app.post({"namespace": NS, "sandbox": "dev"}).status_code == 201
    assert app.stack.adobe.calls("POST", r"/connections$")[0].headers["x-sandbox-name"] == "dev"
    assert app.get(NS, sandbox="dev").status_code == 200
    assert app.get(NS).status_code == 404


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"{not json", 400, "InvalidJson"),
        (b"", 400, "InvalidJson"),
        (b"\xff\xfe", 400, "InvalidJson"),
        (b"[1, 2]", 400, "InvalidJson"),
        (b'{"namespace": "abc"}', 400, "InvalidRequest"),
        (b'{"namespace": "contoso-telemetry", "sandboxx": "prod"}', 400, "InvalidRequest"),
        (b'{"namespace": "contoso-telemetry", "name": "' + b"x" * 70_000 + b'"}', 413, "PayloadTooLarge"),
    ],
)
def test_bad_requests(app: App, raw: bytes, status: int, code: str) -> None:
    response = app.post(raw)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert body(response)["error"]["code"] == code
    assert app.stack.adobe.platform_requests == [] and app.stack.keyvault.requests == []


def test_missing_namespace_secret_is_422(app: App) -> None:
    response = app.post({"namespace": NS})
    assert response.status_code == 422
    error = body(response)["error"]
    assert error["code"] == "SecretNotFound" and "eventhubs-sas-contoso-telemetry" in error["message"]
    assert app.adobe_creates() == 0
    assert app.entity(NS)["State"] == "failed"


def test_secret_for_another_namespace_is_422(app: App) -> None:
    _, other_string, _ = app.stack.add_eventhubs_namespace("other-namespace")
    app.stack.keyvault.set_secret(f"eventhubs-sas-{NS}", other_string)
    response = app.post({"namespace": NS})
    assert response.status_code == 422
    assert "other-namespace" in body(response)["error"]["message"]


def test_missing_adobe_credential_is_500_naming_the_setting(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.stack.keyvault.delete_secret("adobe-client-secret")
    response = app.post({"namespace": NS})
    assert response.status_code == 500
    error = body(response)["error"]
    assert error["code"] == "ConfigurationError" and error["setting"] == "ADOBE_CLIENT_SECRET_SECRET"
    assert "adobe-client-secret" in error["message"]


def test_missing_setting_is_500_naming_it(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEY_VAULT_URL")
    response = app.post({"namespace": NS})
    assert response.status_code == 500
    assert body(response)["error"]["setting"] == "KEY_VAULT_URL"
    monkeypatch.setenv("KEY_VAULT_URL", "http://vault.example.com")
    response = app.post({"namespace": NS})
    assert body(response)["error"] == {
        "code": "ConfigurationError",
        "message": "KEY_VAULT_URL must use https (plain http is allowed only on a loopback host).",
        "setting": "KEY_VAULT_URL",
    }


def test_adobe_refusal_is_502_with_adobes_code_and_request_id(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.stack.adobe.faults.add(
        Fault("POST", r"/connections$", status=403, body={"error_code": "403027", "message": "User region is missing"})
    )
    response = app.post({"namespace": NS})
    assert response.status_code == 502
    error = body(response)["error"]
    assert error["code"] == "AdobeRequestRejected"
    assert error["adobe"]["status"] == 403 and error["adobe"]["code"] == "403027"
    assert error["adobe"]["requestId"]
    assert app.entity(NS)["State"] == "failed" and app.entity(NS)["LastErrorCode"] == "AdobeRequestRejected"


def test_ims_refusing_the_client_is_502_authentication_failed(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.stack.keyvault.set_secret("adobe-client-secret", "p8e-" + secrets.token_urlsafe(24))  # a wrong one
    response = app.post({"namespace": NS})
    assert response.status_code == 502
    error = body(response)["error"]
    assert error["code"] == "AdobeAuthenticationFailed" and error["adobe"]["code"] == "invalid_client"
    assert len(app.stack.adobe.ims.requests) == 1  # no retry storm
    assert app.adobe_creates() == 0


def test_adobe_down_is_503_with_retry_after(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.stack.adobe.faults.add(Fault("POST", r"/connections$", status=503, headers={"Retry-After": "1"}, times=-1))
    response = app.post({"namespace": NS})
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert body(response)["error"]["code"] == "DependencyUnavailable"


def test_corrected_client_secret_is_read_again_after_an_ims_refusal(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.stack.keyvault.set_secret("adobe-client-secret", "p8e-" + secrets.token_urlsafe(24))  # a wrong one
    assert app.post({"namespace": NS}).status_code == 502
    app.stack.keyvault.set_secret("adobe-client-secret", app.stack.adobe_client_secret)
    assert app.post({"namespace": NS}).status_code == 201  # same worker: the refused secret was not reused


def test_lone_surrogates_and_odd_keys_get_a_clean_400(app: App) -> None:
    for raw in (
        b'{"namespace": "contoso-telemetry", "x\\ud800": 1}',
        b'{"namespace": "contoso-telemetry", "name": "a\\udc00"}',
    ):
        response = app.post(raw)
        assert response.status_code == 400
        assert body(response)["error"]["code"] == "InvalidRequest"
    assert app.stack.adobe.platform_requests == []


def test_secrets_are_cached_for_secret_cache_seconds(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    for namespace in ("cached-one", "cached-two"):
        app.stack.add_eventhubs_namespace(namespace)
        assert app.post({"namespace": namespace}).status_code == 201
    reads = [r.path for r in app.stack.keyvault.calls("GET", r"/secrets/") if "authorization" in r.headers]
    assert sorted(p.split("/")[2] for p in reads) == [
        "adobe-client-id",
        "adobe-client-secret",
        "adobe-org-id",
        "eventhubs-sas-cached-one",
        "eventhubs-sas-cached-two",
    ]
    monkeypatch.setenv("SECRET_CACHE_SECONDS", "0")
    from shared.runtime import reset_runtime

    reset_runtime()
    app.stack.keyvault.reset_recording()
    app.stack.add_eventhubs_namespace("cached-three")
    app.post({"namespace": "cached-three"})
    app.stack.add_eventhubs_namespace("cached-four")
    app.post({"namespace": "cached-four"})
    fresh = [
        r for r in app.stack.keyvault.calls("GET", r"/secrets/adobe-client-secret") if "authorization" in r.headers
    ]
    assert len(fresh) >= 2  # no caching: read again by every invocation
