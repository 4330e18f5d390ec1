"""The local stack itself: the REAL Azure and HTTP clients against the stand-ins and Azurite."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, UpdateMode
from azure.identity import ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient
from azure.storage.queue import QueueClient

from devstack.adobe import AAD_SPEC, EVENTHUBS_SPEC_ID, FLOW_SERVICE_PATH, SAS_SPEC, AdobeStandIn
from devstack.adobe.paging import list_response
from devstack.adobe.routing import Call, Route
from devstack.azurite import Azurite, find_repo_root
from devstack.events import namespace_event, secret_event
from devstack.faults import Fault, RecordedRequest
from devstack.host import event_grid_event
from devstack.httpbase import Response
from devstack.identity import IdentityStandIn
from devstack.stack import LocalStack

ROOT = find_repo_root()
TIMEOUT = 5
pytestmark = pytest.mark.timeout(60)


# -- fixtures (module-scoped stack; the lead may move these into conftest.py) -------------------


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(ROOT, sandboxes=("prod", "dev")) as local:
        yield local


@pytest.fixture(autouse=True)
def _clean_stack(stack: LocalStack) -> Iterator[None]:
    stack.reset()
    yield
    servers = (stack.identity, stack.keyvault, stack.adobe.ims, stack.adobe.platform)
    errors = [error for server in servers for error in server.errors]
    for server in servers:
        server.errors.clear()
    assert not errors, "a stand-in handler raised:\n" + "\n".join(errors)


@pytest.fixture
def managed_identity_env(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in ("IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "AZURE_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    env = stack.identity.env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def secret_client(stack: LocalStack, managed_identity_env: dict[str, str]) -> Iterator[SecretClient]:
    credential = ManagedIdentityCredential()
    client = SecretClient(
        stack.keyvault.url,
        credential=credential,
        verify_challenge_resource=False,
        connection_verify=str(stack.keyvault.ca_bundle_path),
        retry_total=0,
    )
    with client:
        yield client
    credential.close()


def ims_token(stack: LocalStack) -> str:
    response = requests.post(
        stack.adobe.ims_url + "/ims/token/v3",
        data={
            "grant_type": "client_credentials",
            "client_id": stack.adobe_client_id,
            "client_secret": stack.adobe_client_secret,
            "scope": "openid,AdobeID,read_organizations",
        },
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def platform_headers(stack: LocalStack, token: str, sandbox: str = "prod") -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "x-api-key": stack.adobe_client_id,
        "x-gw-ims-org-id": stack.adobe_org_id,
        "x-sandbox-name": sandbox,
    }


def sas_body(namespace: str = "contoso-telemetry", name: str | None = None, **extra: str) -> dict[str, Any]:
    params = {"sasKeyName": "RootManageSharedAccessKey", "sasKey": "k3y=", "namespace": namespace, **extra}
    return {
        "name": name or f"Azure Event Hubs {namespace}",
        "description": "created by the devstack tests",
        "auth": {"specName": SAS_SPEC, "params": params},
        "connectionSpec": {"id": EVENTHUBS_SPEC_ID, "version": "1.0"},
    }


class Flow:
    """Small Flow Service client for the tests."""

    def __init__(self, stack: LocalStack, sandbox: str = "prod") -> None:
        self.stack = stack
        self.base = stack.adobe.flow_service_url
        self.headers = platform_headers(stack, ims_token(stack), sandbox)

    def create(self, body: dict[str, Any], **kwargs: Any) -> requests.Response:
        return requests.post(self.base + "/connections", json=body, headers=self.headers, timeout=TIMEOUT, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.base + path, headers=self.headers, timeout=TIMEOUT, **kwargs)


@pytest.fixture
def flow(stack: LocalStack) -> Flow:
    return Flow(stack)


# -- managed identity ------------------------------------------------------------------------


def test_managed_identity_credential_gets_a_token(stack: LocalStack, managed_identity_env: dict[str, str]) -> None:
    with ManagedIdentityCredential() as credential:
        token = credential.get_token("https://vault.azure.net/.default")
    assert stack.identity.is_valid_token(token.token, "https://vault.azure.net")
    assert not stack.identity.is_valid_token(token.token, "https://storage.azure.com")
    assert token.expires_on > time.time() + 3000
    (call,) = stack.identity.calls("GET")
    assert call.headers["x-identity-header"] == stack.identity.header_value
    assert call.query["api-version"] == ["2019-08-01"]
    assert call.query["resource"] == ["https://vault.azure.net"]
    assert token.token in stack.known_secret_values()


def test_identity_endpoint_errors(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    params = {"api-version": "2019-08-01", "resource": "https://vault.azure.net"}
    wrong = requests.get(stack.identity.endpoint, params=params, headers={"X-IDENTITY-HEADER": "x"}, timeout=TIMEOUT)
    assert wrong.status_code == 401
    missing = requests.get(stack.identity.endpoint, params=params, timeout=TIMEOUT)
    assert missing.status_code == 401
    no_resource = requests.get(
        stack.identity.endpoint,
        params={"api-version": "2019-08-01"},
        headers={"X-IDENTITY-HEADER": stack.identity.header_value},
        timeout=TIMEOUT,
    )
    assert no_resource.status_code == 400
    assert no_resource.json()["statusCode"] == 400
    monkeypatch.setenv("IDENTITY_ENDPOINT", stack.identity.endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-secret")
    with ManagedIdentityCredential() as credential, pytest.raises(ClientAuthenticationError):
        credential.get_token("https://vault.azure.net/.default")


# -- Key Vault -------------------------------------------------------------------------------


def test_secret_client_challenge_get_set_and_not_found(stack: LocalStack, secret_client: SecretClient) -> None:
    assert secret_client.get_secret("adobe-client-id").value == stack.adobe_client_id
    first = stack.keyvault.requests[0]
    assert "authorization" not in first.headers  # the challenge request carries no token
    assert all(r.headers["authorization"].startswith("Bearer ") for r in stack.keyvault.requests[1:])

    secret_name, connection_string, _key = stack.add_eventhubs_namespace("contoso-telemetry")
    assert secret_client.get_secret(secret_name).value == connection_string

    stored = secret_client.set_secret("Eventhubs-SAS-Other", "Endpoint=sb://other.servicebus.windows.net/;x=y")
    assert stored.properties.version == stack.keyvault.versions("eventhubs-sas-other")[-1]
    assert len(stored.properties.version or "") == 32
    again = secret_client.get_secret("eventhubs-sas-OTHER")  # names are case-insensitive
    assert again.value == "Endpoint=sb://other.servicebus.windows.net/;x=y"
    assert (again.id or "").startswith(stack.keyvault.url + "secrets/")
    by_version = secret_client.get_secret("eventhubs-sas-other", stored.properties.version)
    assert by_version.value == again.value

    with pytest.raises(ResourceNotFoundError) as missing:
        secret_client.get_secret("eventhubs-sas-nope")
    assert missing.value.error is not None and missing.value.error.code == "SecretNotFound"

    secret_client.begin_delete_secret("eventhubs-sas-other").wait(timeout=TIMEOUT)
    assert stack.keyvault.get_value("eventhubs-sas-other") is None
    with pytest.raises(ResourceNotFoundError):
        secret_client.get_secret("eventhubs-sas-other")


def test_key_vault_and_ims_latency_knobs(stack: LocalStack, secret_client: SecretClient) -> None:
    """Per-service latency (a benchmark sets 50 ms for Key Vault and IMS): each answer comes that much later;
    the stack's reset sets it back to none."""
    secret_client.get_secret("adobe-client-id")  # the challenge round trip, before the clock
    stack.keyvault.latency = stack.adobe.ims.latency = 0.2
    started = time.monotonic()
    assert secret_client.get_secret("adobe-client-id").value == stack.adobe_client_id
    form = {"grant_type": "client_credentials", "client_id": stack.adobe_client_id, "scope": "openid"}
    ims = requests.post(
        stack.adobe.ims_url + "/ims/token/v3",
        data={**form, "client_secret": stack.adobe_client_secret},
        timeout=TIMEOUT,
    )
    assert ims.status_code == 200 and time.monotonic() - started >= 0.4
    stack.reset()
    assert stack.keyvault.latency == 0 and stack.adobe.ims.latency == 0


def test_secret_client_forbidden_fault(stack: LocalStack, secret_client: SecretClient) -> None:
    body = {
        "error": {
            "code": "Forbidden",
            "message": "The user, group or application does not have secrets get permission on key vault.",
        }
    }
    stack.keyvault.faults.add(Fault("GET", r"/secrets/adobe-client-secret", status=403, body=body, times=-1))
    with pytest.raises(HttpResponseError) as forbidden:
        secret_client.get_secret("adobe-client-secret")
    assert forbidden.value.status_code == 403
    assert forbidden.value.error is not None and forbidden.value.error.code == "Forbidden"


def test_keyvault_rejects_missing_and_foreign_tokens(stack: LocalStack) -> None:
    ca = str(stack.keyvault.ca_bundle_path)
    url = stack.keyvault.url + "secrets/adobe-client-id?api-version=2025-07-01"
    anonymous = requests.get(url, verify=ca, timeout=TIMEOUT)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == (
        'Bearer authorization="https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47", '
        'resource="https://vault.azure.net"'
    )
    foreign = requests.get(url, verify=ca, headers={"Authorization": "Bearer forged"}, timeout=TIMEOUT)
    assert foreign.status_code == 401
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url, timeout=TIMEOUT)  # not trusted without the stack's CA


# -- Adobe IMS -------------------------------------------------------------------------------


def test_ims_issues_tokens_and_rejects_bad_credentials(stack: LocalStack) -> None:
    url = stack.adobe.ims_url + "/ims/token/v3"
    form = {
        "grant_type": "client_credentials",
        "client_id": stack.adobe_client_id,
        "client_secret": stack.adobe_client_secret,
        "scope": "openid,AdobeID",
    }
    ok = requests.post(url, data=form, timeout=TIMEOUT)
    assert ok.status_code == 200
    assert ok.headers["x-request-id"]
    assert ok.json()["token_type"] == "bearer" and ok.json()["expires_in"] == 86399
    assert ok.json()["access_token"] in stack.adobe.issued_tokens

    bad_secret = requests.post(url, data={**form, "client_secret": "nope"}, timeout=TIMEOUT)
    assert bad_secret.status_code == 401
    assert bad_secret.json() == {"error": "invalid_client", "error_description": "invalid client_secret parameter"}
    bad_id = requests.post(url, data={**form, "client_id": "nope"}, timeout=TIMEOUT)
    assert (bad_id.status_code, bad_id.json()["error"]) == (400, "invalid_client")
    in_query = requests.post(url, params=form, timeout=TIMEOUT)
    assert in_query.status_code == 400
    no_scope = requests.post(url, data={k: v for k, v in form.items() if k != "scope"}, timeout=TIMEOUT)
    assert no_scope.json() == {"error": "invalid_scope", "error_description": "scope is required"}
    grant = requests.post(url, data={**form, "grant_type": "password"}, timeout=TIMEOUT)
    assert grant.json() == {"error": "unsupported_grant_type"}
    assert stack.adobe.token_request_count == 6


# -- Adobe Flow Service ----------------------------------------------------------------------


def test_create_connection_stores_exact_params(stack: LocalStack, flow: Flow) -> None:
    body = sas_body(eventHubName="clicks")
    created = flow.create(body)
    assert created.status_code == 201, created.text
    assert set(created.json()) == {"id", "etag"}
    assert created.headers["Content-Type"].startswith("application/json")
    assert created.headers["x-request-id"]
    (stored,) = stack.adobe.connections("prod")
    assert stored["id"] == created.json()["id"] and stored["etag"] == created.json()["etag"]
    assert stored["auth"] == body["auth"]
    assert stored["name"] == "Azure Event Hubs contoso-telemetry" and stored["state"] == "enabled"
    assert stack.adobe.connections("dev") == []

    fetched = flow.get(f"/connections/{stored['id']}")
    assert fetched.status_code == 200
    (item,) = fetched.json()["items"]
    assert item["auth"]["params"]["sasKey"] == "****"  # secrets are never echoed
    assert item["auth"]["params"]["sasKeyName"] == "RootManageSharedAccessKey"
    assert flow.get("/connections/00000000-0000-0000-0000-000000000000").status_code == 404


@pytest.mark.parametrize(
    ("change", "status", "expected"),
    [
        ({"Authorization": None}, 403, {"error_code": "403010", "message": "Oauth token is missing."}),
        ({"Authorization": "Bearer eyJforged"}, 401, {"error_code": "401013", "message": "Oauth token is not valid"}),
        ({"x-api-key": None}, 403, {"error_code": "403000", "message": "Api Key is required"}),
        ({"x-api-key": "other"}, 403, {"error_code": "403003", "message": "Api Key is invalid"}),
        ({"x-gw-ims-org-id": None}, 400, {"error_code": "400003"}),
        ({"x-gw-ims-org-id": "F00@AdobeOrg"}, 400, {"error_code": "400003"}),
        ({"x-sandbox-name": None}, 400, {"type": "https://ns.adobe.com/aep/errors/FLOW-2105-400"}),
        ({"x-sandbox-name": "nope"}, 404, {"type": "https://ns.adobe.com/aep/errors/FLOW-2100-404"}),
    ],
)
def test_gateway_header_checks(
    stack: LocalStack, flow: Flow, change: dict[str, str | None], status: int, expected: dict[str, str]
) -> None:
    headers = dict(flow.headers)
    for key, value in change.items():
        if value is None:
            headers.pop(key)
        else:
            headers[key] = value
    response = requests.post(flow.base + "/connections", json=sas_body(), headers=headers, timeout=TIMEOUT)
    assert response.status_code == status
    assert expected.items() <= response.json().items()
    assert response.headers["x-request-id"]
    if "type" in expected:
        assert response.json()["status"] == status
        assert set(response.json()["report"]) == {"tenantInfo", "additionalContext"}
    assert stack.adobe.connections() == []


def test_create_validation_errors(flow: Flow) -> None:
    def problem_type(response: requests.Response) -> str:
        value: str = response.json()["type"]
        return value.rsplit("FLOW-", 1)[1]

    unknown_spec = sas_body()
    unknown_spec["auth"]["specName"] = "Basic Authentication for Event Hubs"
    assert problem_type(flow.create(unknown_spec)) == "1415-400"
    missing_param = sas_body()
    del missing_param["auth"]["params"]["sasKey"]
    assert problem_type(flow.create(missing_param)) == "1401-400"
    extra_param = sas_body(connectionString="Endpoint=sb://x")
    assert problem_type(flow.create(extra_param)) == "1401-400"
    assert flow.create({**sas_body(), "typo": 1}).status_code == 400
    assert flow.create({**sas_body(), "connectionSpec": {"id": EVENTHUBS_SPEC_ID, "version": "2.0"}}).status_code == 400
    raw = requests.post(
        flow.base + "/connections",
        data=b"name=x",
        headers={**flow.headers, "Content-Type": "application/x-www-form-urlencoded"},
        timeout=TIMEOUT,
    )
    assert raw.status_code == 415


def test_list_filters_duplicates_and_paging(stack: LocalStack, flow: Flow) -> None:
    for namespace in ("ns-alpha", "ns-alpha", "ns-beta"):
        assert flow.create(sas_body(namespace)).status_code == 201  # duplicate names are allowed
    aad = {
        "name": "aad one",
        "auth": {
            "specName": AAD_SPEC,
            "params": {"tenantId": "t", "clientId": "c", "clientSecretValue": "s3cret", "namespace": "ns-gamma"},
        },
        "connectionSpec": {"id": EVENTHUBS_SPEC_ID, "version": "1.0"},
    }
    assert flow.create(aad).status_code == 201
    found = flow.get(
        "/connections",
        params=[
            ("property", f"connectionSpec.id=={EVENTHUBS_SPEC_ID}"),
            ("property", "name==Azure Event Hubs ns-alpha"),
        ],
    )
    assert found.status_code == 200
    assert [i["name"] for i in found.json()["items"]] == ["Azure Event Hubs ns-alpha"] * 2
    assert flow.get("/connections", params={"property": "name==nothing"}).json()["items"] == []
    assert flow.get("/connections", params={"property": "bogus==1"}).status_code == 400
    assert flow.get("/connections", params={"property": "state==enabled", "count": "true"}).json() == {"count": 4}

    seen: list[str] = []
    page = flow.get("/connections", params={"limit": "3"}).json()
    seen += [i["id"] for i in page["items"]]
    assert page["_links"]["next"]["href"].startswith(stack.adobe.flow_service_url + "/connections?")
    page = requests.get(page["_links"]["next"]["href"], headers=flow.headers, timeout=TIMEOUT).json()
    seen += [i["id"] for i in page["items"]]
    assert "next" not in page["_links"]
    assert seen == [c["id"] for c in stack.adobe.connections()]
    assert page["items"][0]["auth"]["params"]["clientSecretValue"] == "****"


def test_patch_requires_matching_if_match(stack: LocalStack, flow: Flow) -> None:
    created = flow.create(sas_body()).json()
    url = f"{flow.base}/connections/{created['id']}"
    new_params = {"sasKeyName": "RootManageSharedAccessKey", "sasKey": "n3w=", "namespace": "contoso-telemetry"}
    patch = [{"op": "replace", "path": "/auth/params", "value": new_params}]
    missing = requests.patch(url, json=patch, headers=flow.headers, timeout=TIMEOUT)
    assert (missing.status_code, missing.json()["type"][-8:]) == (400, "1403-400")
    stale = requests.patch(url, json=patch, headers={**flow.headers, "If-Match": '"stale"'}, timeout=TIMEOUT)
    assert (stale.status_code, stale.json()["type"][-8:]) == (412, "1404-412")
    ok = requests.patch(url, json=patch, headers={**flow.headers, "If-Match": created["etag"]}, timeout=TIMEOUT)
    assert ok.status_code == 200
    assert ok.json()["id"] == created["id"] and ok.json()["etag"] != created["etag"]
    assert stack.adobe.connection(created["id"])["auth"]["params"] == new_params  # type: ignore[index]
    invalid = [{"op": "replace", "path": "/auth/params", "value": {"sasKey": "x"}}]
    rejected = requests.patch(url, json=invalid, headers={**flow.headers, "If-Match": ok.json()["etag"]}, timeout=5)
    assert rejected.status_code == 400


def test_delete_connection(stack: LocalStack, flow: Flow) -> None:
    first = flow.create(sas_body("ns-one")).json()["id"]
    second = flow.create(sas_body("ns-two")).json()["id"]
    deleted = requests.delete(f"{flow.base}/connections/{first}", headers=flow.headers, timeout=TIMEOUT)
    assert deleted.status_code == 204 and deleted.content == b""
    stack.adobe.mark_in_use(second)
    in_use = requests.delete(f"{flow.base}/connections/{second}", headers=flow.headers, timeout=TIMEOUT)
    assert (in_use.status_code, in_use.json()["type"][-8:]) == (400, "1418-400")
    gone = requests.delete(f"{flow.base}/connections/{first}", headers=flow.headers, timeout=TIMEOUT)
    assert gone.status_code == 404
    assert [c["id"] for c in stack.adobe.connections()] == [second]


def test_connection_spec_and_renamed_auth_spec(stack: LocalStack, flow: Flow) -> None:
    spec = flow.get(f"/connectionSpecs/{EVENTHUBS_SPEC_ID}")
    assert spec.status_code == 200
    (item,) = spec.json()["items"]
    names = {a["name"]: a["spec"]["required"] for a in item["authSpec"]}
    assert names[SAS_SPEC] == ["sasKeyName", "sasKey", "namespace"]
    assert "eventHubName" in next(a for a in item["authSpec"] if a["name"] == SAS_SPEC)["spec"]["properties"]

    stack.adobe.rename_auth_spec(SAS_SPEC, "Basic Authentication for Event Hubs")
    renamed = flow.get(f"/connectionSpecs/{EVENTHUBS_SPEC_ID}").json()["items"][0]["authSpec"]
    assert "Basic Authentication for Event Hubs" in {a["name"] for a in renamed}
    assert flow.create(sas_body()).json()["type"].endswith("1415-400")
    body = sas_body()
    body["auth"]["specName"] = "Basic Authentication for Event Hubs"
    assert flow.create(body).status_code == 201


def test_expired_tokens_are_refused(stack: LocalStack, flow: Flow) -> None:
    stack.adobe.expire_all_tokens()
    response = flow.get("/connections")
    assert (response.status_code, response.json()["error_code"]) == (401, "401013")


# -- faults ----------------------------------------------------------------------------------


def test_fault_drop_closes_without_response(stack: LocalStack, flow: Flow) -> None:
    stack.adobe.faults.add(Fault("POST", r"/connections$", action="drop"))
    with pytest.raises(requests.exceptions.ConnectionError):
        flow.create(sas_body())
    assert stack.adobe.connections() == []
    assert flow.create(sas_body()).status_code == 201  # one use only
    assert [r.fault for r in stack.adobe.calls("POST", r"/connections$")] == ["drop", None]


def test_fault_commit_then_stall_times_out_after_commit(stack: LocalStack, flow: Flow) -> None:
    stack.adobe.faults.add(Fault("POST", r"/connections$", action="commit_then_stall", delay=1.0))
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(flow.base + "/connections", json=sas_body(), headers=flow.headers, timeout=(2, 0.3))
    (stored,) = stack.adobe.connections()  # the create was committed even though the client gave up
    lookup = flow.get("/connections", params={"property": f"name=={stored['name']}"})
    assert [i["id"] for i in lookup.json()["items"]] == [stored["id"]]


def test_fault_503_with_retry_after_and_slow_ims(stack: LocalStack, flow: Flow) -> None:
    stack.adobe.faults.add(
        Fault(None, r"/connections", status=503, body={"error_code": "503000"}, headers={"Retry-After": "7"}, times=2)
    )
    for _ in range(2):
        busy = flow.get("/connections")
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "7" and busy.headers["x-request-id"]
        assert busy.json() == {"error_code": "503000"}
    assert flow.get("/connections").status_code == 200

    stack.adobe.ims_faults.add(Fault("POST", r"/ims/token", action="stall", delay=0.5))
    started = time.monotonic()
    ims_token(stack)
    assert time.monotonic() - started >= 0.5


# -- Azurite ---------------------------------------------------------------------------------


def test_tables_conflict_and_etag_on_azurite(stack: LocalStack) -> None:
    with TableClient.from_connection_string(stack.storage_connection_string, "DevstackRecords") as table:
        table.create_table()
        entity = {"PartitionKey": "prod", "RowKey": "contoso-telemetry", "state": "creating"}
        table.create_entity(entity)
        with pytest.raises(ResourceExistsError):
            table.create_entity(entity)
        current = table.get_entity("prod", "contoso-telemetry")
        table.update_entity({**entity, "state": "ready"}, mode=UpdateMode.MERGE)
        with pytest.raises(ResourceModifiedError):
            table.update_entity(
                {**entity, "state": "failed"},
                mode=UpdateMode.MERGE,
                etag=current.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        assert table.get_entity("prod", "contoso-telemetry")["state"] == "ready"


def test_queue_send_receive_on_azurite(stack: LocalStack) -> None:
    with QueueClient.from_connection_string(stack.storage_connection_string, "eventhubs-connection-requests") as queue:
        queue.create_queue()
        queue.send_message('{"namespace": "contoso-telemetry"}')
        (message,) = list(queue.receive_messages(max_messages=5, visibility_timeout=5))
        assert message.content == '{"namespace": "contoso-telemetry"}'
        queue.delete_message(message)


def test_azurite_pause_stop_by_pid_and_restart_on_same_ports() -> None:
    azurite = Azurite(ROOT)
    with azurite:
        azurite.pause()  # storage hangs
        with (
            TableClient.from_connection_string(
                azurite.connection_string, "paused", retry_total=0, connection_timeout=0.5, read_timeout=0.5
            ) as table,
            pytest.raises(AzureError),
        ):
            table.create_table()
        azurite.resume()
        pid = azurite.pid
        assert pid is not None and azurite.running
        ports = (azurite.blob_port, azurite.queue_port, azurite.table_port)
        azurite.stop()
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        azurite.start_again()
        assert (azurite.blob_port, azurite.queue_port, azurite.table_port) == ports
        assert azurite.pid != pid
        second = azurite.pid
    assert not azurite.running and second is not None
    with pytest.raises(ProcessLookupError):
        os.kill(second, 0)


# -- the stack -------------------------------------------------------------------------------


def test_stack_env_and_secret_helpers(stack: LocalStack) -> None:
    env = stack.env()
    for key in (
        "KEY_VAULT_URL",
        "AzureWebJobsStorage",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "ADOBE_IMS_URL",
        "ADOBE_PLATFORM_URL",
        "ADOBE_SANDBOX_NAME",
        "REQUESTS_CA_BUNDLE",
        "CONNECTIONS_TABLE",
    ):
        assert env[key], key
    assert env["KEY_VAULT_URL"].startswith("https://127.0.0.1:") and env["KEY_VAULT_URL"].endswith("/")
    assert os.path.isfile(env["REQUESTS_CA_BUNDLE"])
    assert stack.keyvault.get_value("adobe-org-id") == stack.adobe_org_id

    name, connection_string, key = stack.add_eventhubs_namespace("contoso-telemetry", entity_path="clicks")
    assert name == "eventhubs-sas-contoso-telemetry"
    assert len(key) == 44 and key.endswith("=") and len(base64.b64decode(key)) == 32
    assert connection_string == (
        "Endpoint=sb://contoso-telemetry.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
        f"SharedAccessKey={key};EntityPath=clicks"
    )
    assert stack.keyvault.get_value(name) == connection_string
    aad_name, aad = stack.add_aad_secret("contoso-telemetry", client_secret="aad-s3cret-value")
    assert aad_name == "eventhubs-aad-contoso-telemetry" and aad["clientSecret"] == "aad-s3cret-value"
    known = stack.known_secret_values()
    assert {key, connection_string, "aad-s3cret-value", stack.adobe_client_secret} <= known
    assert stack.adobe_client_id not in known and stack.adobe_org_id not in known


def test_stand_in_stop_closes_the_port() -> None:
    identity = IdentityStandIn()
    with identity:
        session = requests.Session()
        assert session.get(identity.endpoint, timeout=TIMEOUT).status_code == 401  # keep-alive connection
        port = identity.port
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/msi/token", timeout=TIMEOUT)
    session.close()


def test_adobe_stand_in_serves_platform_paths_only() -> None:
    with AdobeStandIn("cid", "secret", "ORG@AdobeOrg") as adobe:
        assert requests.get(adobe.platform_url + "/other", timeout=TIMEOUT).status_code == 404
        assert requests.get(adobe.platform_url + FLOW_SERVICE_PATH + "/connections", timeout=TIMEOUT).json() == {
            "error_code": "403010",
            "message": "Oauth token is missing.",
        }


def test_reset_resumes_a_paused_azurite(stack: LocalStack) -> None:
    assert stack.azurite is not None
    stack.azurite.pause()
    stack.reset()
    assert not stack.azurite.paused
    with QueueClient.from_connection_string(stack.storage_connection_string, "after-pause", retry_total=0) as queue:
        queue.create_queue()


# -- worst-case behaviour on demand ----------------------------------------------------------


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_fault_late_commit_commits_after_the_client_gave_up(stack: LocalStack, flow: Flow) -> None:
    stack.adobe.faults.add(Fault("POST", r"/connections$", action="late_commit", delay=1.0))
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(flow.base + "/connections", json=sas_body(), headers=flow.headers, timeout=(2, 0.3))
    assert stack.adobe.connections() == []  # not yet: the handler runs after the delay
    wait_for(lambda: len(stack.adobe.connections()) == 1)
    assert time.monotonic() - started >= 0.9
    assert [r.fault for r in stack.adobe.calls("POST", r"/connections$")] == ["late_commit"]
    with pytest.raises(ValueError):
        Fault("POST", "/x", action="later_commit")  # type: ignore[arg-type]


def test_fault_body_built_from_the_request(stack: LocalStack, flow: Flow) -> None:
    def quoting(request: RecordedRequest) -> dict[str, Any]:
        return {
            "type": "https://ns.adobe.com/aep/errors/FLOW-1401-400",
            "title": "Bad Request",
            "status": 400,
            "detail": "x" * 400 + request.body.decode(),
        }

    stack.adobe.faults.add(Fault("POST", r"/connections$", status=400, body=quoting))
    stack.adobe.faults.add(Fault("GET", r"/connections$", status=502, body=lambda r: f"bad {r.method}".encode()))
    sent = json.dumps(sas_body()).encode()
    answer = requests.post(
        flow.base + "/connections",
        data=sent,
        headers={**flow.headers, "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 400 and answer.headers["Content-Type"].startswith("application/json")
    assert answer.json()["detail"] == "x" * 400 + sent.decode()
    raw = flow.get("/connections")
    assert (raw.status_code, raw.content) == (502, b"bad GET")
    assert stack.adobe.connections() == []
    with pytest.raises(TypeError):
        Fault(None, "/x", body=quoting).body_bytes()  # a callable body needs the request


def test_error_style_report(stack: LocalStack, flow: Flow) -> None:
    stack.adobe.error_style = "report"
    missing = flow.get("/connections/0b9c4b56-0000-0000-0000-000000000000")
    body = missing.json()
    assert missing.status_code == 404
    assert set(body) == {"type", "title", "status", "report", "errorMessage", "errorDetails"}
    assert body["type"] == "https://ns.adobe.com/aep/errors/FLOW-1401-404" and body["status"] == 404
    assert body["report"]["detailed-message"] == body["errorMessage"] == body["errorDetails"]
    assert "0b9c4b56-0000-0000-0000-000000000000" in body["errorMessage"]
    assert body["report"]["request-id"] == missing.headers["x-request-id"]
    assert body["report"]["id"] == "0b9c4b56-0000-0000-0000-000000000000"
    assert body["report"]["tenantInfo"]["sandboxName"] == "prod" and body["report"]["additionalContext"] is None

    invalid = sas_body()
    del invalid["auth"]["params"]["sasKey"]
    rejected = flow.create(invalid).json()
    assert "detail" not in rejected and rejected["type"].endswith("FLOW-1401-400")
    assert "sasKey" in rejected["errorMessage"]
    unknown_sandbox = requests.get(
        flow.base + "/connections", headers={**flow.headers, "x-sandbox-name": "nope"}, timeout=TIMEOUT
    )
    assert unknown_sandbox.json()["type"].endswith("FLOW-2100-404") and "detail" not in unknown_sandbox.json()
    stack.adobe.reset()
    assert "detail" in flow.get("/connections/0b9c4b56-0000-0000-0000-000000000000").json()


def test_error_style_message(stack: LocalStack, flow: Flow) -> None:
    stack.adobe.error_style = "message"
    created = flow.create(sas_body()).json()
    url = f"{flow.base}/connections/{created['id']}"
    patch = [{"op": "replace", "path": "/name", "value": "renamed"}]
    stale = requests.patch(url, json=patch, headers={**flow.headers, "If-Match": '"stale"'}, timeout=TIMEOUT)
    assert stale.status_code == 412
    assert set(stale.json()) == {"code", "message"} and stale.json()["code"] == "1404-412"
    stack.adobe.mark_in_use(created["id"])
    in_use = requests.delete(url, headers=flow.headers, timeout=TIMEOUT)
    assert (in_use.status_code, in_use.json()["code"]) == (400, "1418-400")
    no_sandbox = {k: v for k, v in flow.headers.items() if k != "x-sandbox-name"}
    assert requests.get(url, headers=no_sandbox, timeout=TIMEOUT).json()["code"] == "2105-400"
    bad_key = requests.get(url, headers={**flow.headers, "x-api-key": "other"}, timeout=TIMEOUT)
    assert bad_key.json() == {"error_code": "403003", "message": "Api Key is invalid"}  # the gateway's own shape


def test_echo_request_in_errors_quotes_the_body_with_its_secrets(stack: LocalStack, flow: Flow) -> None:
    invalid = sas_body(connectionString="Endpoint=sb://x;SharedAccessKey=s3cr3t")
    sent = json.dumps(invalid, separators=(",", ":"))
    headers = {**flow.headers, "Content-Type": "application/json"}

    def post() -> requests.Response:
        return requests.post(flow.base + "/connections", data=sent.encode(), headers=headers, timeout=TIMEOUT)

    assert "request body" not in post().json()["detail"]  # off by default
    stack.adobe.echo_request_in_errors = True
    detail = post().json()["detail"]
    assert detail.startswith("Unknown auth params") and detail.endswith("; request body: " + sent)
    assert '"sasKey":"k3y="' in detail
    stack.adobe.error_style = "report"
    assert post().json()["errorMessage"].endswith("; request body: " + sent)
    assert "request body" not in flow.get("/connections/nope").json()["errorMessage"]  # no body, nothing to quote
    forged = requests.post(
        flow.base + "/connections",
        data=sent.encode(),
        headers={**headers, "Authorization": "Bearer eyJx"},
        timeout=TIMEOUT,
    )
    assert forged.json() == {"error_code": "401013", "message": "Oauth token is not valid"}  # gateway: no echo
    stack.adobe.reset()
    assert stack.adobe.echo_request_in_errors is False and stack.adobe.error_style == "problem"


def test_page_size_applies_without_limit(stack: LocalStack, flow: Flow) -> None:
    for index in range(5):
        stack.adobe.seed_connection(f"paged {index}", {"sasKeyName": "k", "sasKey": "v", "namespace": f"ns{index}"})
    stack.adobe.page_size = 2
    page = flow.get("/connections").json()
    seen = [i["name"] for i in page["items"]]
    assert len(seen) == 2 and "limit=2" in page["_links"]["next"]["href"]
    while "next" in page["_links"]:
        page = requests.get(page["_links"]["next"]["href"], headers=flow.headers, timeout=TIMEOUT).json()
        seen += [i["name"] for i in page["items"]]
    assert seen == [f"paged {i}" for i in range(5)]
    assert len(flow.get("/connections", params={"limit": "4"}).json()["items"]) == 4  # an explicit limit wins
    stack.adobe.next_link_style = "relative"
    try:
        assert flow.get("/connections").json()["_links"]["next"]["href"].startswith("/connections?")
    finally:
        stack.adobe.next_link_style = "absolute"
    stack.adobe.reset()
    assert stack.adobe.page_size == 100


def test_patch_if_match_must_be_the_exact_etag(stack: LocalStack, flow: Flow) -> None:
    created = flow.create(sas_body()).json()
    etag = created["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    url = f"{flow.base}/connections/{created['id']}"
    patch = [{"op": "replace", "path": "/description", "value": "patched"}]
    for sent in (etag.strip('"'), "W/" + etag, f'"{etag}"', etag + " "):
        answer = requests.patch(url, json=patch, headers={**flow.headers, "If-Match": sent}, timeout=TIMEOUT)
        assert (answer.status_code, answer.json()["type"][-8:]) == (412, "1404-412"), sent
    assert stack.adobe.connection(created["id"])["etag"] == etag  # type: ignore[index]
    ok = requests.patch(url, json=patch, headers={**flow.headers, "If-Match": etag}, timeout=TIMEOUT)
    assert ok.status_code == 200 and ok.json()["etag"] != etag


def test_create_status_can_be_200_or_202(stack: LocalStack, flow: Flow) -> None:
    for status in (200, 202):
        stack.adobe.create_status = status
        created = flow.create(sas_body(name=f"status {status}"))
        assert created.status_code == status and set(created.json()) == {"id", "etag"}
    assert len(stack.adobe.connections()) == 2
    stack.adobe.reset()
    assert flow.create(sas_body()).status_code == 201


def test_missing_token_is_403_and_a_bad_one_401(stack: LocalStack, flow: Flow) -> None:
    no_token = {k: v for k, v in flow.headers.items() if k != "Authorization"}
    missing = requests.get(flow.base + "/connections", headers=no_token, timeout=TIMEOUT)
    assert (missing.status_code, missing.json()) == (
        403,
        {"error_code": "403010", "message": "Oauth token is missing."},
    )
    stack.adobe.expire_all_tokens()
    expired = flow.get("/connections")
    assert (expired.status_code, expired.json()["error_code"]) == (401, "401013")


def test_managed_identity_refuses_identities_not_assigned(
    stack: LocalStack, managed_identity_env: dict[str, str]
) -> None:
    stranger = str(uuid.uuid4())
    with ManagedIdentityCredential(client_id=stranger) as credential, pytest.raises(ClientAuthenticationError):
        credential.get_token("https://vault.azure.net/.default")
    headers = {"X-IDENTITY-HEADER": stack.identity.header_value}
    params = {"api-version": "2019-08-01", "resource": "https://vault.azure.net"}
    for selector in ({"client_id": stranger}, {"mi_res_id": "/subscriptions/x/uami"}, {"object_id": stranger}):
        answer = requests.get(stack.identity.endpoint, params={**params, **selector}, headers=headers, timeout=TIMEOUT)
        assert answer.status_code == 400, selector
        assert (
            answer.json()["error"] == "invalid_request" and answer.json()["error_description"] == "Identity not found"
        )
        assert answer.json()["statusCode"] == 400
    with ManagedIdentityCredential(client_id=stack.identity.client_id) as system:  # the system identity, by name
        assert stack.identity.is_valid_token(
            system.get_token("https://vault.azure.net/.default").token, "https://vault.azure.net"
        )

    stack.assign_identity(stranger)
    with ManagedIdentityCredential(client_id=stranger) as credential:
        token = credential.get_token("https://vault.azure.net/.default")
    assert stack.identity.is_valid_token(token.token, "https://vault.azure.net")
    assert stack.identity.calls("GET")[-1].query["client_id"] == [stranger]
    stack.identity.assign_identity("11111111-2222-3333-4444-555555555555", resource_id="/subscriptions/s/uami")
    by_resource = requests.get(
        stack.identity.endpoint,
        params={**params, "mi_res_id": "/subscriptions/s/uami"},
        headers=headers,
        timeout=TIMEOUT,
    )
    assert by_resource.json()["client_id"] == "11111111-2222-3333-4444-555555555555"
    stack.identity.unassign_identity("11111111-2222-3333-4444-555555555555")
    assert stack.identity.assigned_identities == [stranger]
    stack.reset()
    assert stack.identity.assigned_identities == []
    again = requests.get(
        stack.identity.endpoint, params={**params, "client_id": stranger}, headers=headers, timeout=TIMEOUT
    )
    assert again.status_code == 400


def test_keyvault_deny_one_or_every_secret(stack: LocalStack, secret_client: SecretClient) -> None:
    assert secret_client.get_secret("adobe-client-id").value == stack.adobe_client_id
    stack.keyvault.deny("Adobe-Client-Secret")  # names are case-insensitive
    with pytest.raises(HttpResponseError) as forbidden:
        secret_client.get_secret("adobe-client-secret")
    assert forbidden.value.status_code == 403
    error = forbidden.value.error
    assert error is not None and error.code == "Forbidden" and error.innererror == {"code": "ForbiddenByRbac"}
    assert (error.message or "").startswith("Caller is not authorized to perform action on resource")
    assert secret_client.get_secret("adobe-client-id").value == stack.adobe_client_id
    stack.keyvault.deny()
    with pytest.raises(HttpResponseError):
        secret_client.get_secret("adobe-client-id")
    stack.keyvault.allow()
    assert secret_client.get_secret("adobe-client-secret").value == stack.adobe_client_secret
    stack.keyvault.deny()
    stack.reset()
    assert secret_client.get_secret("adobe-client-id").value == stack.adobe_client_id


EVENTS = Path(__file__).resolve().parents[1] / "events"


def _comparable(event: dict[str, Any]) -> dict[str, Any]:
    """The event without the fields that are random per event."""
    copy: dict[str, Any] = json.loads(json.dumps(event))
    copy.pop("id")
    data = copy["data"]
    data.pop("correlationId", None)
    data.get("httpRequest", {}).pop("clientRequestId", None)
    data.pop("NBF", None)
    data.pop("EXP", None)
    return copy


def test_event_builders_match_the_samples() -> None:
    at = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    built = {
        "namespace-created.json": namespace_event("write", "contoso-telemetry", event_time=at),
        "namespace-deleted.json": namespace_event("delete", "contoso-telemetry", event_time=at),
        "eventhub-created.json": namespace_event("write", "contoso-telemetry", event_time=at, event_hub="clicks"),
        "secret-new-version.json": secret_event(
            "eventhubs-sas-contoso-telemetry",
            version="ee059b2bb5bc48398a53b168c6cdcb10",
            event_time=datetime(2026, 11, 26, 8, 5, tzinfo=UTC),
        ),
    }
    for name, event in built.items():
        assert _comparable(event) == _comparable(json.loads((EVENTS / name).read_text())), name
    assert built["namespace-created.json"]["eventTime"] == "2026-11-26T08:00:00.0000000Z"

    hub_deleted = namespace_event("delete", "ns1", event_time=at, event_hub="orders", event_id="e-1")
    assert hub_deleted["id"] == "e-1" and hub_deleted["subject"].endswith("/namespaces/ns1/eventhubs/orders")
    assert hub_deleted["data"]["operationName"] == "Microsoft.EventHub/namespaces/eventhubs/delete"
    assert hub_deleted["eventType"] == "Microsoft.Resources.ResourceDeleteSuccess"
    near = secret_event("eventhubs-aad-ns1", event_time=at, kind="near_expiry")
    assert near["eventType"] == "Microsoft.KeyVault.SecretNearExpiry" and len(near["data"]["Version"]) == 32

    precise = datetime(2026, 11, 26, 8, 0, 1, 123456, tzinfo=UTC)
    event = namespace_event("write", "ns1", event_time=precise)
    assert event["eventTime"] == "2026-11-26T08:00:01.1234560Z"
    for sample in (event, near, json.loads((EVENTS / "secret-new-version.json").read_text())):
        parsed = event_grid_event(sample)
        assert parsed.event_time is not None and parsed.event_time.tzinfo is not None
    assert event_grid_event(event).event_time == precise
    assert event_grid_event({**event, "eventTime": "2026-11-26T08:00:01.123456789Z"}).event_time == precise
    assert event_grid_event(near).event_time == at


class _Flows:
    """A resource module written in a test: what adding /flows to the stand-in takes."""

    def __init__(self, adobe: AdobeStandIn) -> None:
        self.adobe = adobe

    def routes(self) -> list[Route]:
        return [Route("GET", "/flows", self._list), Route("GET", "/flows/{id}", self._get)]

    def _list(self, call: Call) -> Response:
        return list_response(
            call,
            self.adobe.store.list("flows", call.sandbox),
            filterable=("id", "name"),
            page_size=self.adobe.page_size,
            path="/flows",
            next_href=lambda relative: self.adobe.next_href(call.root, relative),
            render=lambda record: record.snapshot(),
        )

    def _get(self, call: Call) -> Response:
        found = self.adobe.store.get("flows", call.params["id"], call.sandbox)
        if found is None:
            return call.problem(404, "1439-404", f"The requested flows resource {call.params['id']} is not found")
        return Response.json(200, {"items": [found.snapshot()]})


def test_routing_table_takes_a_new_resource_module() -> None:
    with AdobeStandIn("cid", "secret", "ORG@AdobeOrg") as adobe:
        adobe.router.mount(FLOW_SERVICE_PATH, _Flows(adobe).routes())
        for index in range(3):
            adobe.store.add("flows", "prod", {"name": f"flow {index}"})
        adobe.store.add("flows", "dev", {"name": "elsewhere"})
        headers = {
            "Authorization": f"Bearer {adobe.issue_token()}",
            "x-api-key": "cid",
            "x-gw-ims-org-id": "ORG@AdobeOrg",
            "x-sandbox-name": "prod",
        }
        page = requests.get(adobe.flow_service_url + "/flows", params={"limit": "2"}, headers=headers, timeout=TIMEOUT)
        assert [i["name"] for i in page.json()["items"]] == ["flow 0", "flow 1"]
        rest = requests.get(page.json()["_links"]["next"]["href"], headers=headers, timeout=TIMEOUT).json()
        assert [i["name"] for i in rest["items"]] == ["flow 2"]
        only = requests.get(
            adobe.flow_service_url + "/flows", params={"property": "name==flow 1"}, headers=headers, timeout=TIMEOUT
        )
        flow_id = only.json()["items"][0]["id"]
        assert (
            requests.get(f"{adobe.flow_service_url}/flows/{flow_id}", headers=headers, timeout=TIMEOUT).json()["items"][
                0
            ]["name"]
            == "flow 1"
        )
        assert (
            requests.get(f"{adobe.flow_service_url}/flows/nope", headers=headers, timeout=TIMEOUT)
            .json()["type"]
            .endswith("1439-404")
        )
        assert (
            requests.delete(f"{adobe.flow_service_url}/flows/{flow_id}", headers=headers, timeout=TIMEOUT).status_code
            == 405
        )
        assert requests.get(f"{adobe.flow_service_url}/other", headers=headers, timeout=TIMEOUT).status_code == 404
        assert adobe.connections() == []  # the connections are another kind in the same store
