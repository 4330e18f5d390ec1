"""`make demo`: the main job on local defaults, no Azure or Adobe account needed.

Starts Azurite and the loopback stand-ins (managed identity, Key Vault over HTTPS, Adobe IMS,
Catalog and Flow Service), stores a sample namespace's SAS connection string in the vault and
gives it two event hubs and a dataset, creates its Adobe connection through
`create_connection_http` and then the dataflow of one event hub into the dataset through
`create_dataflow_http`, exactly as the Functions host would call them, shows each repeat
answering 200 with no Adobe call, and stops everything. Short summaries, no JSON dumps.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

import azure.functions as func
from azure.data.tables import TableServiceClient

from devstack.azurite import find_repo_root
from devstack.host import http_request, indexed_function, response_json
from devstack.stack import LocalStack

NAMESPACE = "contoso-telemetry"
EVENT_HUBS = ["clicks", "views"]
DATASET = "Clickstream events"


def _answer(label: str, response: func.HttpResponse, expected: int) -> tuple[bool, Any]:
    """Print `label: HTTP <status> (expected <n>)`; the answer was as expected, and its body."""
    print(f"{label}: HTTP {response.status_code} (expected {expected})")
    return response.status_code == expected, response_json(response)


def _field(label: str, value: Any) -> None:
    print(f"    {label:<18} {value}")


def _repeat(stack: LocalStack, call: Callable[[], func.HttpResponse], expected_body: dict[str, Any], key: str) -> bool:
    """The same request again: 200, the same object, no Adobe call."""
    before = len(stack.adobe.platform_requests)
    response = call()
    same = response_json(response).get(key) == expected_body.get(key)
    calls = len(stack.adobe.platform_requests) - before
    print(
        f"  repeat: HTTP {response.status_code} (expected 200), {'same' if same else 'DIFFERENT'} {key}, "
        f"{calls} Adobe calls (expected 0)"
    )
    return response.status_code == 200 and same and calls == 0


def _connection(stack: LocalStack) -> tuple[bool, dict[str, Any]]:
    """POST /api/connections, the stored record, the repeat and GET; whether all answered as expected."""
    create = indexed_function("create_connection_http")
    request = {"namespace": NAMESPACE, "description": "Demo connection"}
    print(f"\n== POST /api/connections {json.dumps(request)}")
    ok, body = _answer("  created", create(http_request("POST", "/api/connections", body=request)), 201)
    _field("connection", body.get("connectionId"))
    _field("event hubs", f"{', '.join(body.get('eventHubs') or []) or '(none)'} (as Adobe lists them)")
    _field("state", body.get("state"))
    ok &= body.get("state") == "ready" and body.get("eventHubs") == EVENT_HUBS

    tables = TableServiceClient.from_connection_string(stack.storage_connection_string)
    entity = tables.get_table_client(stack.connections_table).get_entity("prod", f"{NAMESPACE}|")
    _field("stored", f"table {stack.connections_table}: State {entity['State']}, secret {entity['SecretName']}")
    ok &= entity["ConnectionId"] == body.get("connectionId")

    ok &= _repeat(stack, lambda: create(http_request("POST", "/api/connections", body=request)), body, "connectionId")
    fetched = indexed_function("get_connection_http")(
        http_request("GET", f"/api/connections/{NAMESPACE}", route_params={"namespace": NAMESPACE})
    )
    got, _ = _answer(f"  GET /api/connections/{NAMESPACE}", fetched, 200)
    return bool(ok and got), body


def _dataflow(stack: LocalStack, dataset_id: str, connection: dict[str, Any]) -> bool:
    """POST /api/dataflows for the first event hub, and the repeat; whether both answered as expected."""
    create = indexed_function("create_dataflow_http")
    request = {"namespace": NAMESPACE, "eventHubName": EVENT_HUBS[0], "datasetId": dataset_id}
    print(f"\n== POST /api/dataflows {json.dumps(request)}")
    ok, body = _answer("  created", create(http_request("POST", "/api/dataflows", body=request)), 201)
    adobe = stack.adobe
    made = {
        "sourceConnectionId": [s["id"] for s in adobe.source_connections()],
        "targetConnectionId": [t["id"] for t in adobe.target_connections()],
        "flowId": [f["id"] for f in adobe.flows()],
    }
    for label, key in (
        ("connection", "connectionId"),
        ("source connection", "sourceConnectionId"),
        ("target connection", "targetConnectionId"),
        ("flow", "flowId"),
        ("dataset", "datasetId"),
    ):
        _field(label, body.get(key))
        ok &= key not in made or made[key] == [body.get(key)]
    _field("state", f"{body.get('state')} (event hub {body.get('eventHubName')} → dataset)")
    ok &= body.get("state") == "ready" and body.get("connectionId") == connection.get("connectionId")
    ok &= body.get("datasetId") == dataset_id
    repeated = _repeat(stack, lambda: create(http_request("POST", "/api/dataflows", body=request)), body, "flowId")
    return bool(ok) and repeated


def _reconcile(stack: LocalStack) -> bool:
    """Two namespaces that existed before the app (no event ever came) found by a reconcile pass."""
    from shared.runtime import get_runtime, reset_runtime

    subscription = "00000000-0000-0000-0000-0000000000d1"
    older = ("contoso-legacy-a", "contoso-legacy-b")
    stack.resource_graph.add_namespace(NAMESPACE, subscription_id=subscription)
    for name in older:
        stack.resource_graph.add_namespace(name, subscription_id=subscription)
    stack.add_eventhubs_namespace(older[0])  # the second one has no secret yet
    os.environ["AZURE_SUBSCRIPTION_IDS"] = subscription
    reset_runtime()
    print(f"\n== reconcile --now of subscription {subscription} (Resource Graph lists 3 namespaces)")
    report = get_runtime().reconciler().run(now=True)
    print(f"  {report.summary().removeprefix('reconcile: ')}")
    return report.seen == 3 and report.created == 1 and report.pending_secret == 1 and report.ready == 1


def main() -> int:
    """Run the demo; the exit status says whether every step answered as expected."""
    from shared.runtime import reset_runtime

    with LocalStack(find_repo_root(), events_queue="eventhubs-connection-events") as stack:
        os.environ.update(stack.env())
        reset_runtime()
        secret_name, _, _ = stack.add_eventhubs_namespace(NAMESPACE)
        stack.adobe.set_event_hubs(NAMESPACE, EVENT_HUBS)
        dataset_id = stack.adobe.add_dataset(DATASET)
        azurite_pid = stack.azurite.pid if stack.azurite else "-"
        print(f"Local stack up: Azurite (pid {azurite_pid}), Key Vault {stack.keyvault.url}")
        print(f"Adobe IMS {stack.adobe.ims_url}, Platform {stack.adobe.platform_url}")
        print(f"Namespace '{NAMESPACE}': SAS connection string in Key Vault secret '{secret_name}',")
        print(f"  event hubs {', '.join(EVENT_HUBS)}; Platform dataset '{DATASET}' ({dataset_id}).")

        ok, connection = _connection(stack)
        ok &= _dataflow(stack, dataset_id, connection)

        adobe = stack.adobe
        counts = {
            "connection": len(adobe.connections("prod")),
            "source connection": len(adobe.source_connections()),
            "target connection": len(adobe.target_connections()),
            "flow": len(adobe.flows()),
        }
        creates = len(adobe.calls("POST", r"/(connections|sourceConnections|targetConnections|flows)$"))
        print("\nAdobe objects in the stand-in:", ", ".join(f"{n} {kind}" for kind, n in counts.items()))
        print(f"Adobe create calls: {creates} (expected 4: each object once)")
        ok &= all(n == 1 for n in counts.values()) and creates == 4
        ok &= _reconcile(stack)
        reset_runtime()
    print("Local stack stopped. Demo", "succeeded." if ok else "FAILED.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
