"""Dataflows against the stand-ins: source connection, target connection and flow, each exactly once,
checked before anything is created, torn down in order, under the faults that would break them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from devstack.azurite import find_repo_root
from devstack.events import namespace_event, secret_event
from devstack.faults import Fault
from shared.runtime import reset_runtime
from tests.functional.conftest import App, body

NS = "contoso-flows"
HUB = "clicks"
ROOT = find_repo_root()
KINDS = ("connections", "sourceConnections", "targetConnections", "flows")


def set_env(app: App, monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for key, value in values.items():
        monkeypatch.setenv(key, value)
        app.env[key] = value
    reset_runtime()


def ready_namespace(app: App, hubs: tuple[str, ...] = (HUB, "views")) -> str:
    """A namespace with its secret and event hubs, and a dataset; returns the dataset id."""
    app.stack.add_eventhubs_namespace(NS)
    app.stack.adobe.set_event_hubs(NS, list(hubs))
    return app.stack.adobe.add_dataset("Clickstream events")


def counts(app: App, sandbox: str = "prod") -> dict[str, int]:
    adobe = app.stack.adobe
    return {
        "connections": len([c for c in adobe.connections(sandbox) if c["auth"]["params"]["namespace"] == NS]),
        "sourceConnections": len(adobe.source_connections(sandbox)),
        "targetConnections": len(adobe.target_connections(sandbox)),
        "flows": len(adobe.flows(sandbox)),
    }


ONE_OF_EACH = dict.fromkeys(KINDS, 1)


def test_a_new_namespace_to_a_dataflow_costs_one_dataset_read_one_explore_and_four_creates(app: App) -> None:
    dataset = ready_namespace(app)
    response = app.post_dataflow({"namespace": NS, "eventHubName": HUB, "datasetId": dataset})
    assert response.status_code == 201, body(response)
    record = body(response)
    adobe = app.stack.adobe
    [flow], [source], [target] = adobe.flows(), adobe.source_connections(), adobe.target_connections()
    assert record["state"] == "ready" and record["created"] is True
    assert record["flowId"] == flow["id"] and record["sourceConnectionId"] == source["id"]
    assert record["targetConnectionId"] == target["id"] and record["datasetId"] == dataset
    assert source["baseConnectionId"] == record["connectionId"] and source["params"]["eventHubName"] == HUB
    assert source["params"]["consumerGroup"] == "$Default" and source["params"]["dataType"] == "xdm"
    assert target["params"]["dataSetId"] == dataset and target["data"]["schema"]["id"].startswith(
        "https://ns.adobe.com/"
    )
    assert flow["name"] == f"Azure Event Hubs {NS} {HUB} dataflow"
    assert len(adobe.calls("GET", r"/catalog/dataSets/")) == 1
    assert len(adobe.calls("GET", r"/explore")) == 1
    assert len(adobe.calls("POST", r"/(connections|sourceConnections|targetConnections|flows)$")) == 4
    connection = body(app.get(NS))
    assert connection["eventHubs"] == sorted([HUB, "views"])

    adobe.reset_recording()
    app.stack.keyvault.reset_recording()
    again = app.post_dataflow({"namespace": NS, "eventHubName": HUB, "datasetId": dataset})
    assert again.status_code == 200 and body(again)["flowId"] == flow["id"]
    assert adobe.platform_requests == [] and app.stack.keyvault.requests == []
    assert body(app.get_dataflow(NS, HUB))["flowId"] == flow["id"]
    assert app.get_dataflow(NS, "views").status_code == 404


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"eventHubName": None}, 400, "InvalidRequest"),
        ({"datasetId": "0123456789abcdef01234567"}, 422, "DatasetNotFound"),
        ({"eventHubName": "not-listed"}, 422, "EventHubNotFound"),
        ({"dataType": "raw"}, 400, "InvalidRequest"),
        ({"reset": "yesterday"}, 400, "InvalidRequest"),
        ({"surprise": 1}, 400, "InvalidRequest"),
    ],
)
def test_bad_dataflow_requests_create_nothing(app: App, change: dict, status: int, code: str) -> None:
    dataset = ready_namespace(app)
    request = {"namespace": NS, "eventHubName": HUB, "datasetId": dataset, **change}
    response = app.post_dataflow({k: v for k, v in request.items() if v is not None})
    assert response.status_code == status and body(response)["error"]["code"] == code, body(response)
    assert not app.stack.adobe.calls("POST", r"/(sourceConnections|targetConnections|flows)$")


def test_a_hub_adobe_does_not_list_is_422_saying_a_new_hub_may_need_a_few_minutes(app: App) -> None:
    """An HTTP request carries no event time, so a hub created a moment ago cannot be told from a typo: the answer
    names both (the listing Adobe gave, and to ask again in a few minutes)."""
    dataset = ready_namespace(app)
    response = app.post_dataflow({"namespace": NS, "eventHubName": "just-made", "datasetId": dataset})
    error = body(response)["error"]
    assert response.status_code == 422 and error["code"] == "EventHubNotFound", error
    assert "may not be listed yet: ask again in a few minutes" in error["message"] and HUB in error["message"]


def test_a_dataset_without_schema_is_refused_before_any_create(app: App) -> None:
    ready_namespace(app)
    bare = app.stack.adobe.add_dataset("No schema", schema_id="")
    response = app.post_dataflow({"namespace": NS, "eventHubName": HUB, "datasetId": bare})
    assert response.status_code == 422 and body(response)["error"]["code"] == "DatasetNotFound"


def test_a_namespace_without_secret_is_422(app: App) -> None:
    dataset = app.stack.adobe.add_dataset("x")
    response = app.post_dataflow({"namespace": NS, "eventHubName": HUB, "datasetId": dataset})
    assert response.status_code == 422 and body(response)["error"]["code"] == "SecretNotFound"


def test_a_consumer_group_serves_one_flow_at_a_time(app: App) -> None:
    dataset = ready_namespace(app)
    dev_dataset = app.stack.adobe.add_dataset("dev copy", sandbox="dev")
    assert app.post_dataflow({"namespace": NS, "eventHubName": HUB, "datasetId": dataset}).status_code == 201
    clash = app.post_dataflow({"namespace": NS, "eventHubName": HUB, "datasetId": dev_dataset, "sandbox": "dev"})
    assert clash.status_code == 409 and body(clash)["error"]["code"] == "ConsumerGroupInUse"
    other = app.post_dataflow(
        {"namespace": NS, "eventHubName": HUB, "datasetId": dev_dataset, "sandbox": "dev", "consumerGroup": "aep-dev"}
    )
    assert other.status_code == 201, body(other)


def test_explore_refused_leaves_the_connection_ready_with_a_warning(app: App) -> None:
    dataset = ready_namespace(app)
    app.stack.adobe.refuse_explore(NS)
    created = body(app.post({"namespace": NS}))
    assert created["state"] == "ready" and created["warning"]["code"] == "EventHubsNotListed"
    assert "Manage" in created["warning"]["message"] and "eventHubs" not in created
    # without a listing the hub cannot be checked: the dataflow is made, Adobe itself validates it
    assert app.post_dataflow({"namespace": NS, "eventHubName": HUB, "datasetId": dataset}).status_code == 201


@pytest.mark.parametrize("kind", ["sourceConnections", "targetConnections", "flows"])
def test_a_lost_answer_at_any_step_ends_with_one_of_each_after_the_verify(app: App, kind: str) -> None:
    dataset = ready_namespace(app)
    app.stack.adobe.faults.add(Fault("POST", rf"/{kind}$", action="commit_then_stall", delay=2.0))
    response = app.post_dataflow({"namespace": NS, "eventHubName": HUB, "datasetId": dataset})
    assert response.status_code in (200, 201), body(response)
    app.drain_requests()
    assert counts(app) == ONE_OF_EACH
    assert body(app.get_dataflow(NS, HUB))["state"] == "ready"


def test_a_late_commit_of_the_flow_converges_after_the_verify(app: App) -> None:
    dataset = ready_namespace(app)
    app.stack.adobe.faults.add(Fault("POST", r"/flows$", action="late_commit", delay=2.5))
    response = app.post_dataflow({"namespace": NS, "eventHubName": HUB, "datasetId": dataset})
    assert response.status_code in (200, 201, 409, 502, 503), body(response)
    time.sleep(1.5)
    app.drain_requests()
    if body(app.get_dataflow(NS, HUB))["state"] != "ready":  # the retry a caller (or the queue) makes
        assert app.post_dataflow({"namespace": NS, "eventHubName": HUB, "datasetId": dataset}).status_code in (200, 201)
        app.drain_requests()
    assert counts(app) == ONE_OF_EACH
    record = body(app.get_dataflow(NS, HUB))
    assert record["state"] == "ready" and record["flowId"] == app.stack.adobe.flows()[0]["id"]


def test_a_failure_at_the_flow_step_keeps_source_and_target_for_the_retry(app: App) -> None:
    dataset = ready_namespace(app)
    refusal = {"type": "x/FLOW-1400-400", "title": "Bad Request", "status": 400, "detail": "flow refused"}
    app.stack.adobe.faults.add(Fault("POST", r"/flows$", status=400, body=refusal))
    failed = app.post_dataflow({"namespace": NS, "eventHubName": HUB, "datasetId": dataset})
    assert failed.status_code == 502
    record = body(app.get_dataflow(NS, HUB))
    assert record["state"] == "failed" and record["sourceConnectionId"] and record["targetConnectionId"]
    retried = app.post_dataflow({"namespace": NS, "eventHubName": HUB, "datasetId": dataset})
    assert retried.status_code == 201, body(retried)
    assert counts(app) == ONE_OF_EACH
    assert len(app.stack.adobe.calls("POST", r"/sourceConnections$")) == 1


def test_event_hub_events_create_and_tear_down_its_dataflow(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = ready_namespace(app)
    set_env(app, monkeypatch, DATAFLOW_DATASET_ID=dataset)
    t0 = datetime.now(UTC) - timedelta(minutes=30)
    app.event(namespace_event("write", NS, event_hub=HUB, event_time=t0))
    assert body(app.get_dataflow(NS, HUB))["state"] == "ready" and counts(app) == ONE_OF_EACH
    app.event(namespace_event("delete", NS, event_hub=HUB, event_time=t0 - timedelta(minutes=1)))  # late: nothing
    assert counts(app) == ONE_OF_EACH
    app.event(namespace_event("delete", NS, event_hub=HUB, event_time=t0 + timedelta(minutes=1)))
    assert body(app.get_dataflow(NS, HUB))["state"] == "deleted"
    assert counts(app) == {"connections": 1, "sourceConnections": 0, "targetConnections": 0, "flows": 0}
    deletes = [r.path.split("/")[-2] for r in app.stack.adobe.calls("DELETE")]
    assert deletes == ["flows", "sourceConnections", "targetConnections"]


def test_event_hub_created_without_a_default_dataset_is_ignored(app: App) -> None:
    ready_namespace(app)
    app.event(namespace_event("write", NS, event_hub=HUB, event_time=datetime.now(UTC)))
    assert app.get_dataflow(NS, HUB).status_code == 404 and not app.stack.adobe.platform_requests


def test_a_deleted_namespace_tears_down_its_dataflows_before_the_connection(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_env(app, monkeypatch, DELETE_CONNECTION_ON_NAMESPACE_DELETE="true")
    dataset = ready_namespace(app)
    for hub in (HUB, "views"):
        consumer = "$Default"
        request = {"namespace": NS, "eventHubName": hub, "datasetId": dataset, "consumerGroup": consumer}
        assert app.post_dataflow(request).status_code == 201
    app.event(namespace_event("delete", NS, event_time=datetime.now(UTC)))
    assert counts(app) == dict.fromkeys(KINDS, 0)  # no 1418-400: the flows went first
    assert body(app.get(NS))["state"] == "deleted" and body(app.get(NS))["lastError"] is None


def test_a_namespace_deleted_and_created_again_finds_the_dataflow_it_left_in_adobe(app: App) -> None:
    """Without DELETE_CONNECTION_ON_NAMESPACE_DELETE a deleted namespace's dataflow is only marked `deleted`; when
    the namespace comes back, the dataflow request finds its source, target and flow instead of making them again
    (Adobe would refuse the second flow on the same consumer group)."""
    dataset = ready_namespace(app)
    request = {"namespace": NS, "eventHubName": HUB, "datasetId": dataset}
    first = body(app.post_dataflow(request))
    t0 = datetime.now(UTC) - timedelta(minutes=30)
    app.event(namespace_event("delete", NS, event_time=t0))
    assert body(app.get_dataflow(NS, HUB))["state"] == "deleted" and counts(app) == ONE_OF_EACH  # left in Adobe
    app.event(namespace_event("write", NS, event_time=t0 + timedelta(minutes=1)))
    app.stack.adobe.reset_recording()
    again = app.post_dataflow(request)
    assert again.status_code == 200, body(again)
    assert [body(again)[f] for f in ("sourceConnectionId", "targetConnectionId", "flowId")] == [
        first[f] for f in ("sourceConnectionId", "targetConnectionId", "flowId")
    ]
    assert app.stack.adobe.calls("POST") == [] and counts(app) == ONE_OF_EACH
    assert body(app.get_dataflow(NS, HUB))["state"] == "ready"


def test_a_dataflow_waits_for_a_secret_that_comes_later(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = app.stack.adobe.add_dataset("later")
    app.stack.adobe.set_event_hubs(NS, [HUB])
    set_env(app, monkeypatch, DATAFLOW_DATASET_ID=dataset)
    app.event(namespace_event("write", NS, event_hub=HUB, event_time=datetime.now(UTC)))
    assert body(app.get_dataflow(NS, HUB))["state"] == "pending_secret"
    secret_name, _, _ = app.stack.add_eventhubs_namespace(NS)
    app.event(secret_event(secret_name, event_time=datetime.now(UTC)), function="on_secret_event")
    assert body(app.get_dataflow(NS, HUB))["state"] == "ready" and counts(app) == ONE_OF_EACH


def test_a_queue_message_can_ask_for_a_dataflow(app: App) -> None:
    dataset = ready_namespace(app)
    app.enqueue({"action": "dataflow", "namespace": NS, "eventHubName": HUB, "datasetId": dataset})
    assert body(app.get_dataflow(NS, HUB))["state"] == "ready" and counts(app) == ONE_OF_EACH


@pytest.mark.parametrize("deleted", [("flows",), ("flows", "targetConnections")])
def test_a_verify_creates_again_what_was_deleted_by_hand(app: App, deleted: tuple[str, ...]) -> None:
    """An operator deletes the flow (and its target) with the Platform API (Adobe refuses to delete a target a
    flow uses, 1418-400): the verify of that hub makes what is missing again, so Adobe holds one of each and
    the record is ready with the new ids."""
    dataset = ready_namespace(app)
    before = body(app.post_dataflow({"namespace": NS, "eventHubName": HUB, "datasetId": dataset}))
    adobe = app.stack.adobe
    headers = {
        "Authorization": f"Bearer {adobe.issue_token()}",
        "x-api-key": adobe.client_id,
        "x-gw-ims-org-id": adobe.org_id,
        "x-sandbox-name": "prod",
    }
    for kind in deleted:
        object_id = before["flowId" if kind == "flows" else "targetConnectionId"]
        gone = requests.delete(f"{adobe.flow_service_url}/{kind}/{object_id}", headers=headers, timeout=10)
        assert gone.status_code in (200, 204), gone.text
    app.enqueue({"action": "verify", "namespace": NS, "sandbox": "prod", "eventHubName": HUB})
    after = body(app.get_dataflow(NS, HUB))
    assert counts(app) == ONE_OF_EACH and after["state"] == "ready" and after["lastError"] is None
    assert after["flowId"] == adobe.flows()[0]["id"] != before["flowId"]
    assert after["targetConnectionId"] == adobe.target_connections()[0]["id"]
    assert (after["targetConnectionId"] == before["targetConnectionId"]) == (len(deleted) == 1)
    assert after["sourceConnectionId"] == before["sourceConnectionId"]


def test_eight_duplicate_requests_across_two_processes_make_one_of_each(app: App) -> None:
    dataset = ready_namespace(app)
    app.stack.adobe.create_delay = 0.5
    env = {**os.environ, **app.env}
    start_at = time.time() + 4.0
    request = json.dumps({"namespace": NS, "eventHubName": HUB, "datasetId": dataset})
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.functional.worker", request, str(start_at), "create_dataflow_http", "4"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    statuses = []
    for worker in workers:
        out, err = worker.communicate(timeout=90)
        assert worker.returncode == 0, err[-2000:]
        for line in out.strip().splitlines():
            result = json.loads(line)
            app.responses.append(json.dumps(result).encode())
            statuses.append(result["status"])
    assert counts(app) == ONE_OF_EACH
    assert statuses.count(201) == 1 and set(statuses) <= {200, 201, 409}, statuses
