"""The local stack itself: the REAL Azure and HTTP clients against the stand-ins and Azurite."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator
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
from devstack.azurite import Azurite, find_repo_root
from devstack.faults import Fault
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
        ({"Authorization": None}, 401, {"error_code": "403010", "message": "Oauth token is missing."}),
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
