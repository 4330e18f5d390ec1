"""The Resource Graph stand-in against the REAL ``azure-mgmt-resourcegraph`` client and managed identity."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from azure.core.credentials import AccessToken
from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError
from azure.identity import ManagedIdentityCredential
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions, QueryResponse

from devstack.azurite import find_repo_root
from devstack.faults import Fault
from devstack.identity import IdentityStandIn
from devstack.resourcegraph import (
    DEFAULT_SUBSCRIPTION,
    EVENTHUB_NAMESPACE_TYPE,
    MAX_PAGE_SIZE,
    RESOURCES_PATH,
    ResourceGraphStandIn,
)
from devstack.stack import LocalStack

pytestmark = pytest.mark.timeout(60)

TIMEOUT = 5
SUB_A = DEFAULT_SUBSCRIPTION
SUB_B = "00000000-0000-0000-0000-000000000002"
SUB_C = "00000000-0000-0000-0000-000000000003"
ARM_SCOPE = "https://management.azure.com/.default"
QUERY = (
    "resources | where type =~ 'microsoft.eventhub/namespaces' "
    "| project id, name, subscriptionId, resourceGroup, location"
)


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def identity() -> Iterator[IdentityStandIn]:
    with IdentityStandIn() as server:
        yield server


@pytest.fixture(scope="module")
def graph(identity: IdentityStandIn, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ResourceGraphStandIn]:
    with ResourceGraphStandIn(identity.is_valid_token, cert_dir=tmp_path_factory.mktemp("arg-ca")) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean(identity: IdentityStandIn, graph: ResourceGraphStandIn) -> Iterator[None]:
    identity.reset()
    graph.reset()
    yield
    errors = [*identity.errors, *graph.errors]
    identity.errors.clear()
    graph.errors.clear()
    assert not errors, "a stand-in handler raised:\n" + "\n".join(errors)


@pytest.fixture
def managed_identity_env(identity: IdentityStandIn, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in ("IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "AZURE_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    env = identity.env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


ClientFactory = Callable[..., ResourceGraphClient]


@pytest.fixture
def make_client(graph: ResourceGraphStandIn, managed_identity_env: dict[str, str]) -> Iterator[ClientFactory]:
    """Build real clients (``**kwargs`` go to the client, e.g. ``retry_total=0``); all closed afterwards."""
    opened: list[Any] = []

    def make(credential: Any = None, **kwargs: Any) -> ResourceGraphClient:
        if credential is None:
            credential = ManagedIdentityCredential()
            opened.append(credential)
        client = ResourceGraphClient(
            credential,
            base_url=graph.base_url,
            credential_scopes=[ARM_SCOPE],
            connection_verify=str(graph.ca_bundle_path),
            **kwargs,
        )
        opened.append(client)
        return client

    yield make
    for item in reversed(opened):
        item.close()


def request(subscriptions: list[str], query: str = QUERY, **options: Any) -> QueryRequest:
    options.setdefault("result_format", "objectArray")
    return QueryRequest(subscriptions=subscriptions, query=query, options=QueryRequestOptions(**options))


def page_through(client: ResourceGraphClient, subscriptions: list[str], **options: Any) -> list[QueryResponse]:
    pages: list[QueryResponse] = []
    token: str | None = None
    for _ in range(50):
        page = client.resources(request(subscriptions, skip_token=token, **options))
        pages.append(page)
        token = page.skip_token
        if not token:
            return pages
    raise AssertionError("paging did not end")


def arm_error(err: HttpResponseError) -> dict[str, Any]:
    assert err.response is not None
    body: dict[str, Any] = json.loads(err.response.text())["error"]
    return body


def _ids(rows: list[dict[str, Any]]) -> list[str]:
    return [row["id"] for row in rows]


# -- listing ---------------------------------------------------------------------------------------


def test_lists_the_namespaces_of_two_subscriptions(graph: ResourceGraphStandIn, make_client: ClientFactory) -> None:
    first = graph.add_namespace("contoso-telemetry")
    second = graph.add_namespace(
        "contoso-billing", subscription_id=SUB_B, resource_group="rg-Billing", location="NorthEurope"
    )
    graph.add_namespace("fabrikam-other", subscription_id=SUB_C)  # not asked for
    assert first == {
        "id": f"/subscriptions/{SUB_A}/resourceGroups/rg-telemetry/providers/Microsoft.EventHub/namespaces/contoso-telemetry",
        "name": "contoso-telemetry",
        "type": EVENTHUB_NAMESPACE_TYPE,
        "tenantId": first["tenantId"],
        "kind": "",
        "location": "westeurope",
        "resourceGroup": "rg-telemetry",
        "subscriptionId": SUB_A,
        "sku": {"name": "Standard", "tier": "Standard", "capacity": 1},
        "properties": first["properties"],
        "tags": {},
    }
    assert [ns["name"] for ns in graph.namespaces()] == ["contoso-telemetry", "contoso-billing", "fabrikam-other"]

    page = make_client().resources(request([SUB_A, SUB_B], top=MAX_PAGE_SIZE))

    assert page.total_records == 2 and page.count == 2
    assert page.result_truncated == "false" and page.skip_token is None
    assert page.data == [
        {
            "id": f"/subscriptions/{SUB_A}/resourceGroups/rg-telemetry/providers/Microsoft.EventHub/namespaces/contoso-telemetry",
            "name": "contoso-telemetry",
            "subscriptionId": SUB_A,
            "resourceGroup": "rg-telemetry",
            "location": "westeurope",
        },
        {
            "id": second["id"],
            "name": "contoso-billing",
            "subscriptionId": SUB_B,
            "resourceGroup": "rg-billing",
            "location": "northeurope",
        },
    ]
    assert page.facets == []

    (sent,) = graph.calls("POST", r"/resources")
    assert sent.path == RESOURCES_PATH and sent.query["api-version"] == ["2021-03-01"]
    assert sent.headers["authorization"].startswith("Bearer ")
    assert sent.json() == {
        "subscriptions": [SUB_A, SUB_B],
        "query": QUERY,
        "options": {"$top": 1000, "resultFormat": "objectArray", "allowPartialScopes": False},
    }


def test_other_queries_table_format_and_tenant_scope(graph: ResourceGraphStandIn, make_client: ClientFactory) -> None:
    graph.add_namespace("ns-one")
    graph.add_namespace("ns-two", subscription_id=SUB_B)
    client = make_client()

    table = client.resources(request([SUB_A, SUB_B], result_format="table"))
    assert table.data == {
        "columns": [
            {"name": "id", "type": "string"},
            {"name": "name", "type": "string"},
            {"name": "subscriptionId", "type": "string"},
            {"name": "resourceGroup", "type": "string"},
            {"name": "location", "type": "string"},
        ],
        "rows": [[r["id"], r["name"], r["subscriptionId"], "rg-telemetry", "westeurope"] for r in graph.namespaces()],
    }

    everything = client.resources(QueryRequest(query="Resources | where name == 'ns-two'"))  # tenant scope
    assert [row["name"] for row in everything.data] == ["ns-two"] and set(everything.data[0]) >= {"sku", "type"}
    ordered = client.resources(
        request([SUB_A, SUB_B], "where type =~ 'Microsoft.EventHub/Namespaces' | order by name desc | project name")
    )
    assert ordered.data == [{"name": "ns-two"}, {"name": "ns-one"}]
    assert client.resources(request([SUB_A], "resources | where type == 'Microsoft.EventHub/namespaces'")).data == []

    for bad in (
        "resources | summarize count() by location",
        "resources | project nope",
        "resourcecontainers",
        "resources | where type =~ 'x",
    ):
        with pytest.raises(HttpResponseError) as caught:
            client.resources(request([SUB_A], bad))
        assert caught.value.status_code == 400 and arm_error(caught.value)["code"] == "InvalidQuery", bad


# -- paging ----------------------------------------------------------------------------------------


def test_paging_follows_skip_token(graph: ResourceGraphStandIn, make_client: ClientFactory) -> None:
    for index in range(3):
        graph.add_namespace(f"ns-a{index}")
        graph.add_namespace(f"ns-b{index}", subscription_id=SUB_B)
    graph.add_namespace("ns-z", subscription_id=SUB_B)
    graph.page_size = 2
    client = make_client()

    pages = page_through(client, [SUB_A, SUB_B], top=MAX_PAGE_SIZE)

    assert [p.count for p in pages] == [2, 2, 2, 1]
    assert {p.total_records for p in pages} == {7}
    assert all(p.result_truncated == "false" for p in pages)
    rows = [row for p in pages for row in p.data]
    assert _ids(rows) == [ns["id"] for ns in graph.namespaces()]
    tokens = [p.skip_token for p in pages[:-1]]
    assert all(tokens) and len(set(tokens)) == 3
    sent = [r.json()["options"].get("$skipToken") for r in graph.calls("POST", r"/resources")]
    assert sent == [None, *tokens]

    # $top caps the page below page_size; $skip starts later.
    capped = page_through(client, [SUB_A, SUB_B], top=1)
    assert [p.count for p in capped] == [1] * 7 and _ids([r for p in capped for r in p.data]) == _ids(rows)
    skipped = client.resources(request([SUB_A, SUB_B], skip=6))
    assert _ids(skipped.data) == _ids(rows)[6:] and skipped.skip_token is None

    # ARG cannot page a result without ids: truncated, no token.
    names = client.resources(request([SUB_A, SUB_B], "resources | project name"))
    assert names.count == 2 and names.total_records == 7
    assert names.result_truncated == "true" and names.skip_token is None


def test_a_page_that_ends_early_then_paging_continues(graph: ResourceGraphStandIn, make_client: ClientFactory) -> None:
    for name in ("ns-1", "ns-2", "ns-3"):
        graph.add_namespace(name)
    graph.page_size = 2
    client = make_client()
    first = client.resources(request([SUB_A]))
    graph.end_early_once()

    short = client.resources(request([SUB_A], skip_token=first.skip_token))
    assert short.count == 0 and short.data == [] and short.total_records == 3
    assert short.skip_token and short.result_truncated == "false"
    rest = client.resources(request([SUB_A], skip_token=short.skip_token))
    assert rest.count == 1 and rest.skip_token is None
    assert _ids(first.data + rest.data) == [ns["id"] for ns in graph.namespaces()]

    graph.end_early_once()  # also on a first page
    pages = page_through(client, [SUB_A])
    assert [p.count for p in pages] == [0, 2, 1]


def test_a_truncated_answer_for_the_next_queries(graph: ResourceGraphStandIn, make_client: ClientFactory) -> None:
    for name in ("ns-1", "ns-2", "ns-3", "ns-4"):
        graph.add_namespace(name)
    client = make_client()
    graph.truncate_next(2, missing=2)
    assert graph.thin_answers_pending == 2
    for _ in range(2):
        page = client.resources(request([SUB_A]))
        assert page.result_truncated == "true" and page.skip_token is None
        assert page.total_records == 4 and page.count == 2
        assert _ids(page.data) == [ns["id"] for ns in graph.namespaces()][:2]
    whole = client.resources(request([SUB_A]))  # the third query is whole again
    assert whole.result_truncated == "false" and whole.count == whole.total_records == 4
    assert graph.thin_answers_pending == 0

    graph.page_size = 2  # truncated on a later page: rows from the asked offset on, less the missing
    graph.truncate_next(after=1)
    first = client.resources(request([SUB_A]))
    assert first.result_truncated == "false" and first.skip_token and graph.thin_answers_pending == 1
    later = client.resources(request([SUB_A], skip_token=first.skip_token))
    assert later.result_truncated == "true" and later.skip_token is None
    assert _ids(later.data) == _ids(graph.namespaces())[2:3]


def test_a_short_answer_for_the_next_queries(graph: ResourceGraphStandIn, make_client: ClientFactory) -> None:
    for name in ("ns-1", "ns-2", "ns-3"):
        graph.add_namespace(name)
    client = make_client()
    graph.answer_short()
    page = client.resources(request([SUB_A]))
    assert page.result_truncated == "false" and page.skip_token is None
    assert page.total_records == 3 and page.count == len(page.data) == 2  # does not add up
    assert client.resources(request([SUB_A])).count == 3

    graph.answer_short(missing=5)  # more missing than there are: an empty answer that counts 3
    empty = client.resources(request([SUB_A], result_format="table"))
    assert empty.total_records == 3 and empty.count == 0 and empty.data["rows"] == []
    graph.clear()
    graph.truncate_next()  # nothing to leave out: still marked truncated
    none = client.resources(request([SUB_A]))
    assert none.result_truncated == "true" and none.total_records == 0 and none.data == []
    with pytest.raises(ValueError):
        graph.answer_short(0)
    with pytest.raises(ValueError):
        graph.truncate_next(missing=0)
    with pytest.raises(ValueError):
        graph.truncate_next(after=-1)


def test_a_bad_skip_token_is_400(graph: ResourceGraphStandIn, make_client: ClientFactory) -> None:
    for name in ("ns-1", "ns-2", "ns-3"):
        graph.add_namespace(name)
    graph.add_namespace("ns-b", subscription_id=SUB_B)
    graph.page_size = 1
    client = make_client()
    token = client.resources(request([SUB_A])).skip_token
    assert token
    forged = base64.urlsafe_b64encode(json.dumps({"o": 1, "h": "0" * 16}).encode()).decode()
    for subscriptions, query, bad in (
        ([SUB_A, SUB_B], QUERY, token),  # another set of subscriptions
        ([SUB_A], "resources | project id, name", token),  # another query
        ([SUB_A], QUERY, "not-a-token"),
        ([SUB_A], QUERY, forged),
    ):
        with pytest.raises(HttpResponseError) as caught:
            client.resources(request(subscriptions, query, skip_token=bad))
        assert caught.value.status_code == 400
        assert arm_error(caught.value)["code"] == "InvalidSkipToken"
    # The same query spelt with other whitespace and subscription order/case still continues.
    again = client.resources(request([SUB_A.upper()], "  " + QUERY.replace(" | ", "\n| "), skip_token=token))
    assert again.data[0]["name"] == "ns-2"


# -- permissions and authentication ---------------------------------------------------------------


def test_a_denied_subscription_is_403(graph: ResourceGraphStandIn, make_client: ClientFactory) -> None:
    graph.add_namespace("ns-a")
    graph.add_namespace("ns-b", subscription_id=SUB_B)
    graph.deny_subscription(SUB_B.upper())
    assert graph.denied_subscriptions == [SUB_B]
    client = make_client()

    with pytest.raises(HttpResponseError) as caught:
        client.resources(request([SUB_A, SUB_B]))
    assert caught.value.status_code == 403
    error = arm_error(caught.value)
    assert error["code"] == "AuthorizationFailed"
    assert "'Microsoft.ResourceGraph/resources/read'" in error["message"]
    assert f"over scope '/subscriptions/{SUB_B}'" in error["message"]
    assert caught.value.error is not None and caught.value.error.code == "AuthorizationFailed"

    assert [r["name"] for r in client.resources(request([SUB_A])).data] == ["ns-a"]
    assert [r["name"] for r in client.resources(QueryRequest(query=QUERY)).data] == ["ns-a"]  # tenant scope: hidden
    graph.allow_subscription(SUB_B)
    assert [r["name"] for r in client.resources(request([SUB_A, SUB_B])).data] == ["ns-a", "ns-b"]


class _StaticCredential:
    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


def test_a_missing_or_unknown_token_is_401(
    graph: ResourceGraphStandIn, identity: IdentityStandIn, make_client: ClientFactory
) -> None:
    url = graph.base_url + RESOURCES_PATH + "?api-version=2021-03-01"
    body = {"subscriptions": [SUB_A], "query": QUERY}
    verify = str(graph.ca_bundle_path)

    missing = requests.post(url, json=body, verify=verify, timeout=TIMEOUT)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "AuthenticationFailed"
    assert missing.headers["WWW-Authenticate"].startswith('Bearer authorization_uri="https://login.windows.net/')

    with pytest.raises(ClientAuthenticationError) as caught:
        make_client(_StaticCredential("forged-token"), retry_total=0).resources(request([SUB_A]))
    assert caught.value.status_code == 401

    # A token from the identity endpoint for another resource, then an expired one.
    with ManagedIdentityCredential() as credential:
        vault_token = credential.get_token("https://vault.azure.net/.default").token
        arm_token = credential.get_token(ARM_SCOPE).token

    def post_with(token: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"}
        return requests.post(url, json=body, verify=verify, timeout=TIMEOUT, headers=headers)

    assert post_with(vault_token).status_code == 401
    assert post_with(arm_token).status_code == 200
    identity.expire_all_tokens()
    expired = post_with(arm_token)
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_api_version_path_and_body_are_checked(
    graph: ResourceGraphStandIn, managed_identity_env: dict[str, str]
) -> None:
    with ManagedIdentityCredential() as credential:
        headers = {"Authorization": "Bearer " + credential.get_token(ARM_SCOPE).token}
    verify = str(graph.ca_bundle_path)
    body = {"subscriptions": [SUB_A], "query": QUERY}

    def post(target: str, payload: Any = body) -> requests.Response:
        return requests.post(graph.base_url + target, json=payload, headers=headers, verify=verify, timeout=TIMEOUT)

    missing = post(RESOURCES_PATH)
    assert missing.status_code == 400 and missing.json() == {
        "error": {
            "code": "MissingApiVersionParameter",
            "message": "The api-version query parameter (?api-version=) is required for all requests.",
        }
    }
    assert post(RESOURCES_PATH + "?api-version=2099-01-01").json()["error"]["code"] == "InvalidApiVersionParameter"
    assert post(RESOURCES_PATH + "?api-version=2022-10-01").status_code == 200
    assert post("/providers/Microsoft.ResourceGraph/other?api-version=2021-03-01").status_code == 404
    assert post(RESOURCES_PATH + "?api-version=2021-03-01", {"subscriptions": [SUB_A]}).status_code == 400
    assert post(RESOURCES_PATH + "?api-version=2021-03-01", {**body, "options": {"$top": 0}}).status_code == 400
    assert (
        post(RESOURCES_PATH + "?api-version=2021-03-01", {**body, "options": {"resultFormat": "csv"}}).status_code
        == 400
    )
    answer = post(RESOURCES_PATH + "?api-version=2021-03-01")
    assert answer.headers["x-ms-request-id"] and answer.headers["Content-Type"].startswith("application/json")


# -- faults ----------------------------------------------------------------------------------------


def test_429_with_retry_after(graph: ResourceGraphStandIn, make_client: ClientFactory) -> None:
    graph.add_namespace("ns-a")
    graph.faults.add(Fault("POST", r"/resources", status=429, headers={"Retry-After": "1"}))
    with pytest.raises(HttpResponseError) as caught:
        make_client(retry_total=0).resources(request([SUB_A]))
    assert caught.value.status_code == 429
    assert caught.value.response is not None and caught.value.response.headers["Retry-After"] == "1"

    # The SDK's own RetryPolicy honours Retry-After on a POST and then succeeds.
    graph.reset_recording()
    graph.faults.add(Fault("POST", r"/resources", status=429, headers={"Retry-After": "1"}))
    started = time.monotonic()
    page = make_client().resources(request([SUB_A]))
    assert time.monotonic() - started >= 0.9
    assert page.count == 1
    assert [r.fault for r in graph.calls("POST", r"/resources")] == ["respond", None]


def test_5xx_and_a_dropped_connection(graph: ResourceGraphStandIn, make_client: ClientFactory) -> None:
    graph.add_namespace("ns-a")
    client = make_client(retry_total=0)
    graph.faults.add(
        Fault("POST", r"/resources", status=503, body={"error": {"code": "ServiceUnavailable", "message": "busy"}})
    )
    with pytest.raises(HttpResponseError) as caught:
        client.resources(request([SUB_A]))
    assert caught.value.status_code == 503 and arm_error(caught.value)["code"] == "ServiceUnavailable"

    graph.faults.add(Fault("POST", r"/resources", action="drop"))
    with pytest.raises(AzureError):
        client.resources(request([SUB_A]))
    assert client.resources(request([SUB_A])).count == 1

    # With its default retries the SDK retries a 500 on a POST by itself.
    graph.faults.add(Fault("POST", r"/resources", status=500))
    assert make_client(retry_backoff_factor=0.01).resources(request([SUB_A])).count == 1


# -- control API and LocalStack --------------------------------------------------------------------


def test_inventory_control_and_reset(graph: ResourceGraphStandIn, make_client: ClientFactory) -> None:
    graph.add_namespace("NS-Upper")
    replaced = graph.add_namespace("ns-upper", location="eastus")  # same name, same subscription: replaced
    graph.add_namespace("ns-b", subscription_id=SUB_B)
    assert [ns["location"] for ns in graph.namespaces()] == ["eastus", "westeurope"] and replaced["name"] == "ns-upper"
    assert graph.remove_namespace("NS-UPPER") is True and graph.remove_namespace("ns-upper") is False
    assert graph.remove_namespace("ns-b") is False and graph.remove_namespace("ns-b", SUB_B) is True
    with pytest.raises(ValueError):
        graph.add_namespace("a/b")
    graph.add_namespace("ns-c")
    graph.clear()
    assert graph.namespaces() == []

    graph.add_namespace("ns-d")
    graph.deny_subscription(SUB_A)
    graph.page_size = 1
    graph.end_early_once()
    graph.truncate_next()
    graph.answer_short()
    graph.faults.add(Fault("POST", r"/resources", status=500, times=-1))
    requests.post(graph.base_url + RESOURCES_PATH, verify=str(graph.ca_bundle_path), timeout=TIMEOUT)
    graph.reset()
    assert graph.namespaces() == [] and graph.denied_subscriptions == [] and graph.page_size == MAX_PAGE_SIZE
    assert len(graph.faults) == 0 and graph.requests == [] and graph.thin_answers_pending == 0
    graph.add_namespace("ns-e")
    graph.add_namespace("ns-f")
    page = make_client(retry_total=0).resources(request([SUB_A]))
    assert page.count == 2  # no early end left, page size back to 1000


def test_local_stack_wires_resource_graph(monkeypatch: pytest.MonkeyPatch) -> None:
    with LocalStack(find_repo_root(), start_azurite=False) as stack:
        env = stack.env()
        assert env["AZURE_RESOURCE_MANAGER_URL"] == stack.resource_graph.base_url
        assert env["AZURE_RESOURCE_MANAGER_URL"].startswith("https://127.0.0.1:")
        assert not env["AZURE_RESOURCE_MANAGER_URL"].endswith("/")
        assert stack.resource_graph.ca_pem == stack.keyvault.ca_pem  # one CA bundle for both
        stack.resource_graph.add_namespace("contoso-telemetry")
        stack.resource_graph.deny_subscription(SUB_B)

        for name in ("IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "AZURE_CLIENT_ID"):
            monkeypatch.delenv(name, raising=False)
        stack.apply_env(monkeypatch.setenv)
        assert os.environ["REQUESTS_CA_BUNDLE"] == str(stack.keyvault.ca_bundle_path)
        with (
            ManagedIdentityCredential() as credential,
            ResourceGraphClient(
                credential,
                base_url=env["AZURE_RESOURCE_MANAGER_URL"],
                credential_scopes=[ARM_SCOPE],
                connection_verify=env["REQUESTS_CA_BUNDLE"],
                retry_total=0,
            ) as client,
        ):
            page = client.resources(request([SUB_A]))
            assert [row["name"] for row in page.data] == ["contoso-telemetry"]
            assert set(stack.known_secret_values()) >= {stack.identity.issued_tokens[-1]}

            stack.reset()
            assert stack.resource_graph.namespaces() == [] and stack.resource_graph.requests == []
            assert stack.resource_graph.denied_subscriptions == []
            assert client.resources(request([SUB_A])).data == []
        assert not stack.resource_graph.errors
