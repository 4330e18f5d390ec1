"""`make demo`: the main job on local defaults, no Azure or Adobe account needed.

Starts Azurite and the loopback stand-ins (managed identity, Key Vault over HTTPS, Resource Graph,
Adobe IMS, Catalog and Flow Service) and tells a short story, on one screen: what the vault holds
(values masked); `create_connection_http` answering 201 with the connection id, exactly as the
Functions host would call it, and the same request answering 200 with no Adobe call; the stored
record; the dataflow of one event hub into a dataset through `create_dataflow_http`, and its
repeat; a reconcile pass finding namespaces that existed before the app; then, is data arriving? A
health pass over the dataflow (hub traffic and a successful run scripted in the stand-ins: healthy),
and a failed run turning it `failing` at the next pass, with the `dataflow-unhealthy` message the
events queue got. Then it stops everything.
`--verbose` adds every request and response body and the Adobe calls, secrets masked.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any, TextIO

import azure.functions as func
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueClient

from devstack.azurite import find_repo_root
from devstack.demo_view import Masker, View, call_name, describe_secret, format_time
from devstack.faults import RecordedRequest
from devstack.host import http_request, indexed_function, response_json
from devstack.resourcegraph import DEFAULT_SUBSCRIPTION
from devstack.stack import LocalStack

NAMESPACE = "contoso-telemetry"
EVENT_HUBS = ("clicks", "views")
DATASET = "Clickstream events"
OLDER = ("contoso-legacy-a", "contoso-legacy-b")  # in Resource Graph before the app ran; b has no secret
HUB_MESSAGES = 120  # what the demo's event hub received (Azure Monitor), all of it counted by Adobe's run
FAILED_RUN = {"code": "CONNECTOR-2001", "message": "The consumer group of the event hub was deleted"}


@contextmanager
def app_environment(values: Mapping[str, str]) -> Iterator[None]:
    """The app's settings in os.environ and a fresh worker runtime; both restored on the way out."""
    from shared.runtime import reset_runtime

    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    reset_runtime()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_runtime()


class AdobeCalls:
    """The requests both Adobe servers received since :meth:`mark`, in order."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.marked = (0, 0)

    @property
    def total(self) -> int:
        return len(self.stack.adobe.ims_requests) + len(self.stack.adobe.platform_requests)

    def mark(self) -> int:
        self.marked = (len(self.stack.adobe.ims_requests), len(self.stack.adobe.platform_requests))
        return sum(self.marked)

    def since(self) -> list[RecordedRequest]:
        ims, platform = self.marked
        new = self.stack.adobe.ims_requests[ims:] + self.stack.adobe.platform_requests[platform:]
        return sorted(new, key=lambda request: request.at)


def _status(response: func.HttpResponse) -> str:
    return f"{response.status_code} {HTTPStatus(response.status_code).phrase}"


def _post(function: str, path: str, body: dict[str, Any]) -> tuple[func.HttpResponse, dict[str, Any]]:
    response = indexed_function(function)(http_request("POST", path, body=body))
    answer: dict[str, Any] = response_json(response)
    return response, answer


def _vault(stack: LocalStack, view: View) -> None:
    view.line("1. The Key Vault stand-in holds (values masked):")
    view.rows([(name, describe_secret(stack.keyvault.get_value(name) or "")) for name in stack.keyvault.secret_names()])
    view.line(f"   Adobe sees event hubs {', '.join(EVENT_HUBS)} in {NAMESPACE}, and a dataset {DATASET!r}.")


def _connection(view: View, calls: AdobeCalls) -> tuple[bool, dict[str, Any]]:
    """POST /api/connections and its repeat; whether both answered as expected, and the body."""
    path, request = "/api/connections", {"namespace": NAMESPACE, "description": "Demo connection"}
    view.line(f"2. POST {path} {json.dumps(request)}")
    before = calls.mark()
    response, body = _post("create_connection_http", path, request)
    made = calls.since()
    view.line(f"   → {_status(response)}: connectionId {body.get('connectionId')}, state {body.get('state')}")
    view.listing(f"   Adobe calls {before} → {calls.total}:", [call_name(r) for r in made])
    view.exchange(f"POST {path}", request, _status(response), body, made)
    ok = response.status_code == 201 and body.get("state") == "ready" and body.get("eventHubs") == list(EVENT_HUBS)

    before = calls.mark()
    again, repeat = _post("create_connection_http", path, request)
    same = "the same" if repeat.get("connectionId") == body.get("connectionId") else "ANOTHER"
    view.line(f"3. The same POST again → {_status(again)}: {same} connectionId; Adobe calls {before} → {calls.total}")
    view.exchange(f"POST {path}", request, _status(again), repeat, calls.since())
    ok &= again.status_code == 200 and same == "the same" and calls.total == before
    return ok, body


def _record(stack: LocalStack, view: View, connection_id: str) -> bool:
    """The stored record, as a small table; GET /api/connections answers the same connection."""
    tables = TableServiceClient.from_connection_string(stack.storage_connection_string)
    entity = tables.get_table_client(stack.connections_table).get_entity("prod", f"{NAMESPACE}|")
    path = f"/api/connections/{NAMESPACE}"
    fetched = indexed_function("get_connection_http")(http_request("GET", path, route_params={"namespace": NAMESPACE}))
    got = response_json(fetched)
    view.line(f"4. The record in table {stack.connections_table} (GET {path}: {_status(fetched)})")
    view.rows(
        [
            ("namespace", f"{entity['Namespace']} (sandbox {entity['PartitionKey']})"),
            ("state", entity["State"]),
            ("connection id", entity["ConnectionId"]),
            ("event hubs", ", ".join(json.loads(entity.get("EventHubs") or "[]"))),
            ("secret", f"{entity['SecretName']}, version {entity['SecretVersion']}"),
            ("created", f"{format_time(entity['CreatedAt'])} (updated {format_time(entity['UpdatedAt'])})"),
        ]
    )
    view.exchange(f"GET {path}", None, _status(fetched), got)
    return bool(entity["ConnectionId"] == connection_id == got.get("connectionId") and fetched.status_code == 200)


def _dataflow(stack: LocalStack, view: View, calls: AdobeCalls, dataset_id: str, connection_id: str) -> bool:
    """POST /api/dataflows for the first event hub, and its repeat."""
    path, request = "/api/dataflows", {"namespace": NAMESPACE, "eventHubName": EVENT_HUBS[0], "datasetId": dataset_id}
    view.line(f"5. POST {path} {json.dumps(request)}")
    before = calls.mark()
    response, body = _post("create_dataflow_http", path, request)
    made = calls.since()
    view.line(
        f"   → {_status(response)}: state {body.get('state')}, event hub {body.get('eventHubName')} → {DATASET!r}"
    )
    view.rows(
        [
            ("source connection", body.get("sourceConnectionId")),
            ("target connection", body.get("targetConnectionId")),
            ("flow", body.get("flowId")),
        ]
    )
    view.listing(f"   Adobe calls {before} → {calls.total}:", [call_name(r) for r in made])
    view.exchange(f"POST {path}", request, _status(response), body, made)
    adobe = stack.adobe
    objects = {
        "sourceConnectionId": [s["id"] for s in adobe.source_connections()],
        "targetConnectionId": [t["id"] for t in adobe.target_connections()],
        "flowId": [f["id"] for f in adobe.flows()],
    }
    ok = response.status_code == 201 and body.get("state") == "ready" and body.get("datasetId") == dataset_id
    ok &= body.get("connectionId") == connection_id and all(ids == [body.get(key)] for key, ids in objects.items())

    before = calls.mark()
    again, repeat = _post("create_dataflow_http", path, request)
    same = "the same" if repeat.get("flowId") == body.get("flowId") else "ANOTHER"
    view.line(f"   The same POST again → {_status(again)}: {same} flowId; Adobe calls {before} → {calls.total}")
    view.exchange(f"POST {path}", request, _status(again), repeat, calls.since())
    return ok and again.status_code == 200 and same == "the same" and calls.total == before


def _reconcile(stack: LocalStack, view: View) -> bool:
    """Two namespaces that existed before the app (no event ever came) found by a reconcile pass."""
    from shared.runtime import get_runtime

    stack.seed_namespace(OLDER[0])
    stack.seed_namespace(OLDER[1], secret=False)
    view.line("6. Reconcile (the timer's pass): Resource Graph lists 3 namespaces, 2 older than the app")
    tables = TableServiceClient.from_connection_string(stack.storage_connection_string)
    table = tables.get_table_client(stack.connections_table)
    before = {e["Namespace"]: e["State"] for e in table.list_entities()}
    report = get_runtime().reconciler().run(now=True)
    view.dump("report", dataclasses.asdict(report))
    rows = []
    for namespace in (*OLDER, NAMESPACE):
        entity = table.get_entity("prod", f"{namespace}|")
        state, code = entity["State"], entity.get("LastErrorCode")
        if code:
            outcome = f"{state} ({code}): its secret is not in the vault yet"
        elif before.get(namespace) == state:
            outcome = f"{state} already: nothing to do"
        else:
            outcome = f"{state}: connection created by the pass"
        rows.append((namespace, outcome))
    view.rows(rows)
    return report.seen == 3 and report.created == 1 and report.pending_secret == 1 and report.ready == 1


def _health_pass(view: View) -> dict[str, Any]:
    """One `health_timer` invocation, as the host calls it on its schedule; the dataflow's health as
    GET /api/dataflows/{namespace}/{eventHubName} answers it."""
    from azure.functions.timer import TimerRequest

    indexed_function("health_timer")(TimerRequest(past_due=False))
    path = f"/api/dataflows/{NAMESPACE}/{EVENT_HUBS[0]}"
    route = {"namespace": NAMESPACE, "eventHubName": EVENT_HUBS[0]}
    response = indexed_function("get_dataflow_http")(http_request("GET", path, route_params=route))
    health: dict[str, Any] = response_json(response).get("health") or {}
    view.dump(f"health (GET {path}: {_status(response)})", health)
    return health


def _health_line(health: dict[str, Any]) -> str:
    failed = (health.get("records") or {}).get("failed")
    hub = health.get("hubMessages")
    return f"{health.get('status')}: {health.get('message')}; hub messages {hub}, failed {failed}"


def _alerts(stack: LocalStack) -> list[dict[str, Any]]:
    """The dataflow-unhealthy / dataflow-recovered messages on the events queue (as downstream reads them)."""
    queue = QueueClient.from_connection_string(stack.storage_connection_string, str(stack.events_queue))
    messages = [json.loads(m.content) for m in queue.peek_messages(max_messages=32)]
    return [m for m in messages if m.get("event") in ("dataflow-unhealthy", "dataflow-recovered")]


def _health(stack: LocalStack, view: View, resource_id: str) -> bool:
    """Is data arriving? Hub traffic and a successful run scripted: healthy, no alert; a failed run: the next
    pass turns the dataflow failing and the dataflow-unhealthy message goes on the events queue."""
    hub, flow_id = EVENT_HUBS[0], str(stack.adobe.flows()[0]["id"])
    stack.metrics.add_messages(resource_id, hub, HUB_MESSAGES, datetime.now(UTC) - timedelta(minutes=90))
    stack.adobe.add_run(flow_id, records_in=HUB_MESSAGES)
    view.line(f"7. Is data arriving? {hub} received {HUB_MESSAGES} messages; Adobe's hourly run read them all")
    healthy = _health_pass(view)
    view.line(f"   health_timer → {_health_line(healthy)}")
    quiet = _alerts(stack) == []
    stack.adobe.add_run(flow_id, status="failed", records_in=40, records_failed=40, errors=[FAILED_RUN])
    view.line(f"   Then a run fails ({FAILED_RUN['code']}); the next pass → failing, and the events queue gets:")
    failing = _health_pass(view)
    alerts = _alerts(stack)
    for alert in alerts:
        record, health = alert.get("record") or {}, (alert.get("record") or {}).get("health") or {}
        since = format_time(datetime.fromisoformat(str(health.get("since"))))
        where = f"{record.get('namespace')}/{record.get('eventHubName')}"
        view.line(f"     {alert.get('event')}  {where}: {health.get('status')} since {since}")
        view.line(f"       {health.get('message')}")
        view.dump("message", alert)
    return (
        quiet
        and healthy.get("status") == "healthy"
        and failing.get("status") == "failing"
        and [(a["event"], a["record"]["health"]["status"]) for a in alerts] == [("dataflow-unhealthy", "failing")]
    )


def run(stack: LocalStack, *, out: TextIO = sys.stdout, verbose: bool = False) -> bool:
    """Tell the story on a started ``stack``; whether every step answered as expected."""
    view = View(out, Masker(stack.known_secret_values), verbose=verbose)
    calls = AdobeCalls(stack)
    with app_environment({**stack.env(), "AZURE_SUBSCRIPTION_IDS": DEFAULT_SUBSCRIPTION}):
        seeded = stack.seed_namespace(NAMESPACE, event_hubs=EVENT_HUBS)
        dataset_id = stack.adobe.add_dataset(DATASET)
        view.line("make demo: the connector on local stand-ins of Azure and Adobe, all on 127.0.0.1")
        view.line()
        _vault(stack, view)
        ok, connection = _connection(view, calls)
        ok &= _record(stack, view, str(connection.get("connectionId")))
        ok &= _dataflow(stack, view, calls, dataset_id, str(connection.get("connectionId")))
        adobe = stack.adobe
        objects = [adobe.connections("prod"), adobe.source_connections(), adobe.target_connections(), adobe.flows()]
        creates = len(adobe.calls("POST", r"/(connections|sourceConnections|targetConnections|flows)$"))
        kinds = ("connection", "source connection", "target connection", "flow")
        counts = ", ".join(f"{len(o)} {kind}" for o, kind in zip(objects, kinds, strict=True))
        view.line(f"   Adobe holds {counts}: {creates} creates, one each")
        ok &= all(len(o) == 1 for o in objects) and creates == 4
        ok &= _reconcile(stack, view)
        ok &= _health(stack, view, seeded.resource_id)
    return bool(ok)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; the exit status says whether every step answered as expected."""
    parser = argparse.ArgumentParser(prog="python -m devstack.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--verbose", action="store_true", help="print every request and response body (masked)")
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:  # the app's log lines would interleave with the story
        logging.getLogger().addHandler(logging.NullHandler())
    with LocalStack(find_repo_root(), events_queue="eventhubs-connection-events") as stack:
        ok = run(stack, verbose=args.verbose)
    print("\nLocal stack stopped. Demo", "succeeded." if ok else "FAILED.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
