"""Is data arriving? `health_timer` and `adobe_events_http` as the host indexes them, against Azurite,
the Adobe stand-in (runs, flow state, Observability), Azure Monitor metrics on the Resource
Manager stand-in and signed I/O Events: each status and transition, repair, the webhook's handshake,
signatures, recipients, replays, a metrics outage; alerts on the events queue."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest
from azure.data.tables import TableServiceClient
from azure.functions.timer import TimerRequest

from devstack.events import namespace_event
from devstack.faults import Fault
from devstack.host import http_request, indexed_function
from tests.functional.conftest import App, assert_no_secret_fragments, body

pytestmark = pytest.mark.timeout(120)

NS = "contoso-health"
HUB = "clicks"


def set_env(app: App, monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    from shared.runtime import reset_runtime

    for key, value in values.items():
        monkeypatch.setenv(key, value)
        app.env[key] = value
    reset_runtime()


class Flow:
    """One ready dataflow with its namespace's resource id noted, and what a test scripts about it."""

    def __init__(self, app: App, monkeypatch: pytest.MonkeyPatch, *, note_resource_id: bool = True) -> None:
        self.app = app
        set_env(app, monkeypatch, CONNECTION_EVENTS_QUEUE="health-" + app.table.lower()[:20])
        seeded = app.stack.seed_namespace(NS, event_hubs=(HUB, "views"))
        self.resource_id = seeded.resource_id
        if note_resource_id:  # the namespace's Event Grid event notes it, as in Azure
            app.event(namespace_event("write", NS, event_time=datetime.now(UTC)))
        else:
            app.post({"namespace": NS})
        self.dataset = app.stack.adobe.add_dataset("Clickstream")
        created = app.post_dataflow({"namespace": NS, "eventHubName": HUB, "datasetId": self.dataset})
        assert created.status_code == 201, body(created)
        self.flow_id: str = body(created)["flowId"]

    def hub_messages(self, count: int, minutes_ago: float = 90) -> None:
        at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
        self.app.stack.metrics.add_messages(self.resource_id, HUB, count, at)

    def run(self, status: str = "success", records_in: int = 100, failed: int = 0, **extra: Any) -> dict[str, Any]:
        return self.app.stack.adobe.add_run(
            self.flow_id, status=status, records_in=records_in, records_failed=failed, **extra
        )

    def health(self) -> dict[str, Any]:
        answer = self.app.get_dataflow(NS, HUB)
        assert answer.status_code == 200
        health: dict[str, Any] = body(answer).get("health")
        return health

    def alerts(self) -> list[tuple[str, str]]:
        return [
            (m["event"], m["record"]["health"]["status"])
            for m in self.app.events_queue_messages()
            if m["event"] in ("dataflow-unhealthy", "dataflow-recovered")
        ]


def health_pass() -> None:
    indexed_function("health_timer")(TimerRequest(past_due=False))


@pytest.fixture
def flow(app: App, monkeypatch: pytest.MonkeyPatch) -> Flow:
    return Flow(app, monkeypatch)


# -- statuses and transitions through the timer ----------------------------------------------------


def test_healthy_then_failing_then_recovered_alerts_on_each_change_only(app: App, flow: Flow) -> None:
    flow.hub_messages(100)
    flow.run(records_in=100)
    health_pass()
    health = flow.health()
    assert health["status"] == "healthy" and health["records"] == {"in": 100, "out": 100, "failed": 0}
    assert health["hubMessages"] == 100 and flow.alerts() == []
    assert set(health) >= {"status", "checkedAt", "since", "window", "records", "hubMessages", "message"}

    injected = time.monotonic()
    flow.run("failed", records_in=50, failed=50, errors=[{"code": "CONNECTOR-2001", "message": "bad"}])
    health_pass()  # the next timer period
    assert flow.alerts() == [("dataflow-unhealthy", "failing")]
    print(f"failed run -> dataflow-unhealthy through the timer: {time.monotonic() - injected:.2f} s")
    failing = flow.health()
    assert failing["status"] == "failing" and "CONNECTOR-2001" in failing["message"]
    health_pass()
    assert flow.alerts() == [("dataflow-unhealthy", "failing")]  # the same status twice: nothing
    assert flow.health()["since"] == failing["since"]

    app.stack.adobe.store.clear("runs")  # the failed run left the window
    flow.run(records_in=80)
    health_pass()
    assert flow.alerts() == [("dataflow-unhealthy", "failing"), ("dataflow-recovered", "healthy")]
    dataflows = TableServiceClient.from_connection_string(app.stack.storage_connection_string)
    rows = [dict(e) for e in dataflows.get_table_client(app.env["DATAFLOWS_TABLE"]).list_entities()]
    assert any("Health" in row for row in rows)
    assert_no_secret_fragments(
        app.stack,
        {"dataflow records": json.dumps(rows, default=str), "alerts": json.dumps(app.events_queue_messages())},
    )


def test_stalled_when_the_hub_has_traffic_and_adobe_lists_no_run_and_counts_nothing(flow: Flow) -> None:
    flow.hub_messages(40)
    health_pass()
    health = flow.health()
    assert health["status"] == "stalled" and health["hubMessages"] == 40
    assert health["records"] == {"in": None, "out": None, "failed": None}
    assert flow.alerts() == [("dataflow-unhealthy", "stalled")]


def test_no_runs_but_the_dataset_metric_counts_records_is_healthy(app: App, flow: Flow) -> None:
    flow.hub_messages(40)
    app.stack.adobe.add_dataset_records(flow.dataset, 40, datetime.now(UTC) - timedelta(minutes=30))
    health_pass()
    assert flow.health()["status"] == "healthy" and flow.alerts() == []
    assert len(app.stack.adobe.platform.calls("POST", r"/observability/insights/metrics")) == 1


def test_a_quiet_hub_is_healthy(flow: Flow) -> None:
    health_pass()
    assert flow.health()["status"] == "healthy" and flow.health()["hubMessages"] == 0


def test_a_run_listed_late_is_seen_by_the_next_pass(flow: Flow) -> None:
    flow.hub_messages(40)
    flow.run(records_in=40, listed_after=time.time() + 3600)  # Adobe lists it later
    health_pass()
    assert flow.health()["status"] == "stalled"


def test_disabled_by_adobe_and_repaired_with_health_reenable(
    app: App, flow: Flow, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.stack.adobe.set_flow_state(flow.flow_id, "disabled")
    health_pass()
    assert flow.health()["status"] == "disabled" and flow.alerts() == [("dataflow-unhealthy", "disabled")]
    assert app.stack.adobe.platform.calls("POST", r"/action") == []

    set_env(app, monkeypatch, HEALTH_REENABLE="true")
    health_pass()
    [enable] = app.stack.adobe.platform.calls("POST", r"/flows/.+/action")
    assert enable.query["op"] == ["enable"]
    assert app.stack.adobe.flows()[0]["state"] == "enabled"
    health = flow.health()
    assert health["status"] == "disabled" and "reenabledAt" in health and "enabled again" in health["message"]
    health_pass()
    assert flow.health()["status"] == "healthy"
    assert flow.alerts() == [("dataflow-unhealthy", "disabled"), ("dataflow-recovered", "healthy")]
    assert len(app.stack.adobe.platform.calls("POST", r"/action")) == 1


def test_a_metrics_outage_is_unknown_and_alerts_nothing(app: App, flow: Flow) -> None:
    app.stack.metrics.outage = 503
    health_pass()
    health = flow.health()
    assert health["status"] == "unknown" and "Azure Monitor" in health["message"] and health["hubMessages"] is None
    assert flow.alerts() == []


def test_without_a_noted_resource_id_hub_traffic_is_unknown(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    flow = Flow(app, monkeypatch, note_resource_id=False)
    health_pass()
    assert flow.health()["status"] == "unknown" and "resource id" in flow.health()["message"]
    assert app.stack.resource_graph.calls("GET", r"/Microsoft.Insights/metrics") == []


def test_a_pass_costs_one_flow_read_one_runs_listing_and_one_metrics_query(app: App, flow: Flow) -> None:
    second = app.post_dataflow({"namespace": NS, "eventHubName": "views", "datasetId": flow.dataset})
    assert second.status_code == 201
    flow.run(records_in=10)
    app.stack.adobe.reset_recording()
    app.stack.resource_graph.reset_recording()
    health_pass()
    platform = app.stack.adobe.platform
    assert len(platform.calls("GET", r"/flows/[^/]+$")) == 2
    assert len(platform.calls("GET", r"/runs(\?|$)")) == 2
    assert len(platform.calls("POST", r"/observability")) == 1  # "views" lists no run
    assert len(app.stack.resource_graph.calls("GET", r"/Microsoft.Insights/metrics")) == 1


def test_a_429_storm_on_runs_is_waited_out_as_adobe_asks(app: App, flow: Flow) -> None:
    flow.run(records_in=10)
    app.stack.adobe.platform.faults.add(Fault("GET", r"/runs\?", status=429, headers={"Retry-After": "1"}, times=2))
    health_pass()
    assert flow.health()["status"] == "healthy"
    assert len(app.stack.adobe.platform.calls("GET", r"/runs(\?|$)")) == 3


# -- the I/O Events webhook ------------------------------------------------------------------------


def webhook(method: str, raw: bytes = b"", headers: dict[str, str] | None = None, **params: str) -> func.HttpResponse:
    request = http_request(method, "/api/adobe-events", body=raw, params=params, headers=headers or {})
    response: func.HttpResponse = indexed_function("adobe_events_http")(request)
    return response


def delivery(app: App, run: dict[str, Any], **fields: Any) -> tuple[bytes, dict[str, str]]:
    values = {
        "recipient_client_id": app.stack.adobe_client_id,
        "event_code": "source_flow_run_error",
        "org_id": app.stack.adobe_org_id,
        **fields,
    }
    return app.stack.ioevents.deliver(run, **values)


def test_the_challenge_handshake(app: App) -> None:
    answer = webhook("GET", challenge="8ec8d794-e0ab-42df-9017-e3dada8e84f7")
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    assert answer.get_body() == b"8ec8d794-e0ab-42df-9017-e3dada8e84f7"


def test_a_signed_failed_run_alerts_at_once_and_a_replay_changes_nothing(app: App, flow: Flow) -> None:
    flow.run(records_in=10)
    health_pass()
    assert flow.health()["status"] == "healthy"
    injected = time.monotonic()
    run = flow.run("failed", records_in=5, failed=5, listed_after=time.time() + 3600)  # not listed yet
    raw, headers = delivery(app, run, event_id="evt-1")
    answer = webhook("POST", raw, headers)
    assert answer.status_code == 200 and json.loads(answer.get_body()) == {"status": "applied"}
    assert flow.alerts() == [("dataflow-unhealthy", "failing")]
    print(f"failed run -> dataflow-unhealthy through I/O Events: {time.monotonic() - injected:.2f} s")
    before = flow.health()
    again = webhook("POST", raw, headers)
    assert json.loads(again.get_body()) == {"status": "duplicate"}
    assert flow.health() == before and len(flow.alerts()) == 1
    assert app.stack.ioevents.calls("GET") and len(app.stack.ioevents.calls("GET")) <= 2  # keys cached


def test_bad_signature_wrong_recipient_unknown_key_path_and_size_are_refused(app: App, flow: Flow) -> None:
    run = flow.run("failed", records_in=5, failed=5)
    raw, headers = delivery(app, run)
    tampered = raw.replace(b'"failed"', b'"success"')
    assert webhook("POST", tampered, headers).status_code == 401
    assert webhook("POST", raw, {}).status_code == 401
    elsewhere = {
        **headers,
        "x-adobe-public-key1-path": "//attacker.example/key.pem",
        "x-adobe-public-key2-path": "/nope.pem",
    }
    assert webhook("POST", raw, elsewhere).status_code == 401
    other_raw, other_headers = delivery(app, run, recipient_client_id="someone-else")
    assert webhook("POST", other_raw, other_headers).status_code == 401
    assert webhook("POST", b"x" * (256 * 1024 + 1), headers).status_code == 413
    assert flow.alerts() == [] and flow.health() is None
    fetched = {r.path for r in app.stack.ioevents.calls("GET")}
    assert fetched <= {"/prod/keys/pub-key-voy5XEbWmT.pem", "/prod/keys/pub-key-maAv3Tg6ZH.pem", "/nope.pem"}


def test_an_event_for_an_unknown_flow_is_acknowledged(app: App, flow: Flow) -> None:
    raw, headers = delivery(app, {"id": "r9", "flowId": "00000000-0000-0000-0000-00000000abcd", "metrics": {}})
    answer = webhook("POST", raw, headers)
    assert answer.status_code == 200 and json.loads(answer.get_body()) == {"status": "unknown-flow"}


# -- the operator's command ------------------------------------------------------------------------


def test_cli_health_prints_each_dataflow_and_exits_1_when_one_is_unhealthy(app: App, flow: Flow) -> None:
    import io

    from cli.main import main

    out, err = io.StringIO(), io.StringIO()
    assert main(["health", "--now"], out, err) == 0, err.getvalue()
    assert "healthy" in out.getvalue() and NS in out.getvalue()
    flow.run("failed", records_in=5, failed=5)
    out, err = io.StringIO(), io.StringIO()
    assert main(["health", "--now", "--json"], out, err) == 1
    [line] = [json.loads(text) for text in out.getvalue().splitlines() if text.strip()]
    assert line["eventHubName"] == HUB and line["health"]["status"] == "failing"
    assert line["health"]["records"] == {"in": 5, "out": 0, "failed": 5}
    assert "1 unhealthy" in err.getvalue()
