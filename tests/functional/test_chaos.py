"""Seeded chaos: slow, late, dropped and failed creates, duplicate and out-of-order events, over HTTP, the
queue and Event Grid, from two worker processes at once; then the redeliveries and the delayed verifies.

One worker's clock runs ten minutes ahead of the other's. Whatever the interleaving, once the verifies have run (and the old delete events have come again, late):
exactly one Adobe connection per namespace, recorded `ready`; at most one 201 per connection; no
8-character run of a secret in any output. The same for the dataflows of event hubs. A hand-edited row
that does not decode sits among the records all along: every listing skips it, nothing stops on it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableServiceClient

from devstack.azurite import find_repo_root
from devstack.events import namespace_event, secret_event
from devstack.faults import Fault
from devstack.stack import eventhubs_connection_string, random_sas_key
from shared.records import UNREADABLE_RECORD
from shared.runtime import reset_runtime
from tests.functional.conftest import App, assert_no_secret_fragments

ROOT = find_repo_root()
CREATE = r"/connections$"
NAMESPACES = ("contoso-chaos-a", "contoso-chaos-b", "contoso-chaos-c")
#: Deleted before its older create event is delivered: a tombstone, never a connection.
GONE = "contoso-chaos-gone"
#: CI runs five seeds; CHAOS_SEEDS=1,2,...,50 runs more.
SEEDS = [int(seed) for seed in os.environ.get("CHAOS_SEEDS", "1,2,3,4,5").split(",") if seed.strip()]


def faults(rng: random.Random) -> list[Fault]:
    """Up to four misbehaving creates and one failing lookup, each once, in a random order."""
    menu = [
        Fault("POST", CREATE, action="late_commit", delay=2.2),
        Fault("POST", CREATE, action="late_commit", delay=1.8),
        Fault("POST", CREATE, action="commit_then_stall", delay=2.0),
        Fault("POST", CREATE, action="drop"),
        Fault("POST", CREATE, status=503, body={"error_code": "503000", "message": "busy"}),
        Fault("POST", CREATE, status=429, headers={"Retry-After": "0"}),
        Fault("GET", r"/connections\?", status=503, body={"error_code": "503000", "message": "busy"}),
    ]
    return rng.sample(menu, k=rng.randint(2, 5))


def operations(rng: random.Random) -> list[dict[str, Any]]:
    """Per namespace: two POSTs, two queue messages, three namespace-write events (one duplicated), a delete
    older than the newest write and a key rotation (Key Vault write, then its event); for one more namespace, a
    delete and the older write it overtook. All shuffled."""
    base = datetime.now(UTC) - timedelta(hours=1)
    ops: list[dict[str, Any]] = [
        {"kind": "event", "body": namespace_event(action, GONE, event_time=base + timedelta(minutes=minutes))}
        for action, minutes in (("delete", 30), ("write", 5))
    ]
    for namespace in NAMESPACES:
        ops += [{"kind": "http", "body": {"namespace": namespace}} for _ in range(2)]
        ops += [{"kind": "queue", "body": {"namespace": namespace}} for _ in range(2)]
        for minutes in (0, 10, 20, 20):
            ops.append(
                {
                    "kind": "event",
                    "body": namespace_event("write", namespace, event_time=base + timedelta(minutes=minutes)),
                }
            )
        ops.append(
            {"kind": "event", "body": namespace_event("delete", namespace, event_time=base + timedelta(minutes=15))}
        )
        secret = f"eventhubs-sas-{namespace}"
        rotated = eventhubs_connection_string(namespace, "RootManageSharedAccessKey", random_sas_key())
        event = secret_event(secret, event_time=base + timedelta(minutes=rng.randint(1, 30)))
        ops.append({"kind": "rotate", "secret": secret, "value": rotated, "body": event})
    rng.shuffle(ops)
    for index, op in enumerate(ops):
        op["id"] = f"op{index}"
    return ops


def tamper_row(app: App, seed: int) -> dict[str, Any]:
    """A hand-edited record (`State` = `Ready`) of one chaos namespace in another sandbox: every delete event of
    that namespace lists it beside the real ones."""
    table = TableServiceClient.from_connection_string(app.stack.storage_connection_string).get_table_client(app.table)
    with contextlib.suppress(ResourceExistsError):
        table.create_table()
    namespace = NAMESPACES[seed % len(NAMESPACES)]  # not drawn from the seed's generator: its runs stay as they were
    entity = {
        "PartitionKey": "dev",
        "RowKey": f"{namespace}|",
        "Namespace": namespace,
        "State": "Ready",
        "AuthType": "sas",
        "Name": f"Azure Event Hubs {namespace}",
    }
    table.create_entity(entity)
    return entity


def run_workers(app: App, ops: list[dict[str, Any]], tmp_path: Path) -> tuple[list[dict[str, Any]], str]:
    halves = [ops[0::2], ops[1::2]]
    env = {**os.environ, **app.env}
    workers = []
    for index, half in enumerate(halves):
        plan = tmp_path / f"plan{index}.json"
        log = str(tmp_path / f"worker{index}.log")
        # The second worker's clock runs ten minutes ahead (more than any lease): leases are judged on
        # storage's time, so it never takes over the first worker's live claims.
        skew = 600 if index == 1 else 0
        plan.write_text(json.dumps({"ops": half, "threads": 4, "log": log, "clock_skew_seconds": skew}))
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "tests.functional.chaos_worker", str(plan)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results, output = [], []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err[-3000:]
        output.append(out)
        results += [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    logs = "\n".join(p.read_text() for p in tmp_path.glob("worker*.log"))
    return results, "\n".join(output) + logs


def replay(app: App, op: dict[str, Any]) -> dict[str, Any]:
    """The platform's redelivery of an invocation that raised (an HTTP caller retries on 409/503)."""
    try:
        if op["kind"] in ("http", "http_dataflow"):
            response = (app.post if op["kind"] == "http" else app.post_dataflow)(op["body"])
            return {"status": response.status_code, "body": json.loads(response.get_body())}
        if op["kind"] == "queue":
            app.enqueue(op["body"])
        elif op["kind"] == "rotate":  # redelivered: the event again (the key is already in Key Vault)
            app.event(op["body"], function="on_secret_event")
        else:
            app.event(op["body"])
    except Exception as err:
        return {"status": "raised", "error": type(err).__name__}
    return {"status": "ok"}


def run_chaos(
    app: App, injected: list[Fault], ops: list[dict[str, Any]], tmp_path: Path
) -> tuple[list[dict[str, Any]], str]:
    """The ops on two worker processes under the faults; then, faults gone, the redeliveries, the delayed
    verifies and the late deletes. (Every HTTP answer given, the workers' output and logs.)"""
    for fault in injected:
        app.stack.adobe.faults.add(fault)
    results, worker_output = run_workers(app, ops, tmp_path)
    assert len(results) == len(ops)
    app.stack.adobe.clear_faults()
    time.sleep(2.5)  # every late commit has landed
    answers = redeliver(app, ops, results)
    redeliver_late_deletes(app, ops)
    return answers, worker_output


def redeliver_late_deletes(app: App, ops: list[dict[str, Any]]) -> None:
    """Event Grid delivers at least once, and a redelivery may come much later: each delete event again, once
    everything has settled. Older than the newest write applied, it must change nothing."""
    for op in ops:
        if op["kind"] == "event" and op["body"]["eventType"].endswith("DeleteSuccess"):
            assert replay(app, op) == {"status": "ok"}


def redeliver(app: App, ops: list[dict[str, Any]], results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replay what raised (or answered 409/503) until everything has succeeded, then run the delayed verifies;
    every HTTP answer given."""
    by_id = {op["id"]: op for op in ops}
    pending = [r["id"] for r in results if r["status"] in ("raised", 409, 503)]
    answers = [r for r in results if r["kind"].startswith("http")]
    for _ in range(4):  # redeliveries, until every invocation has succeeded
        replayed = {op_id: replay(app, by_id[op_id]) for op_id in pending}
        answers += [r for op_id, r in replayed.items() if by_id[op_id]["kind"].startswith("http")]
        pending = [op_id for op_id, r in replayed.items() if r["status"] in ("raised", 409, 503)]
        if not pending:
            break
    assert not pending, f"still failing after the redeliveries: {pending}"
    app.drain_requests(timeout=40)
    return answers


@pytest.mark.parametrize("seed", SEEDS)
def test_chaos_converges_to_exactly_one_connection_per_namespace(
    app: App, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    for key, value in {"DELETE_CONNECTION_ON_NAMESPACE_DELETE": "true", "CLAIM_WAIT_SECONDS": "3"}.items():
        monkeypatch.setenv(key, value)
        app.env[key] = value
    reset_runtime()
    for namespace in (*NAMESPACES, GONE):
        app.stack.add_eventhubs_namespace(namespace)
    tampered = tamper_row(app, seed)
    answers, worker_output = run_chaos(app, faults(rng), operations(rng), tmp_path)
    for namespace in NAMESPACES:  # a verify pass: a key that met a stale cache elsewhere is rotated by it
        app.enqueue({"action": "verify", "namespace": namespace, "sandbox": "prod"})

    for namespace in NAMESPACES:
        connections = [c for c in app.stack.adobe.connections("prod") if c["auth"]["params"]["namespace"] == namespace]
        if len(connections) != 1 and os.environ.get("CHAOS_DUMP"):
            trace = [
                f"{r.method} {r.target} {r.fault or ''} {r.body[:200]!r}" for r in app.stack.adobe.platform_requests
            ]
            Path(os.environ["CHAOS_DUMP"]).write_text(
                "\n".join(trace)
                + "\n---\n"
                + worker_output
                + "\n---\n"
                + json.dumps(answers, default=str)
                + "\n---\n"
                + json.dumps(app.entity(namespace), default=str)
            )
        assert len(connections) == 1, f"seed {seed}: {namespace} has {len(connections)} connections in Adobe"
        entity = app.entity(namespace)
        assert entity["State"] == "ready" and entity["ConnectionId"] == connections[0]["id"], entity
        newest = app.stack.keyvault.get_value(f"eventhubs-sas-{namespace}") or ""
        assert f"SharedAccessKey={connections[0]['auth']['params']['sasKey']}" in newest, f"{namespace}: old key"
    gone = [c for c in app.stack.adobe.connections("prod") if c["auth"]["params"]["namespace"] == GONE]
    assert gone == [] and app.entity(GONE)["State"] == "deleted", f"seed {seed}: a deleted namespace connected"
    created = [a["body"]["connectionId"] for a in answers if a["status"] == 201]
    assert len(created) == len(set(created)), f"seed {seed}: two 201 answers for one connection"
    assert app.entity(tampered["Namespace"], sandbox="dev")["State"] == "Ready"  # skipped, left for the operator
    assert f"RowKey '{tampered['RowKey']}'" in caplog.text and UNREADABLE_RECORD in caplog.text  # reported
    assert_no_secret_fragments(app.stack, {"worker output and logs": worker_output})


HUBS = ("clicks", "views")
FLOW_NAMESPACE = "contoso-chaos-flows"


def dataflow_faults(rng: random.Random) -> list[Fault]:
    """Misbehaving creates of the dataflow's three objects, each once, some of them in a random order."""
    menu = [
        Fault("POST", r"/sourceConnections$", action="late_commit", delay=2.2),
        Fault("POST", r"/targetConnections$", action="commit_then_stall", delay=2.0),
        Fault("POST", r"/flows$", action="late_commit", delay=1.8),
        Fault("POST", r"/flows$", action="drop"),
        Fault("POST", r"/sourceConnections$", status=503, body={"error_code": "503000", "message": "busy"}),
        Fault("POST", r"/targetConnections$", status=429, headers={"Retry-After": "1"}),
        Fault("GET", r"/flows\?", status=503, body={"error_code": "503000", "message": "busy"}),
    ]
    return rng.sample(menu, k=rng.randint(2, 5))


def dataflow_operations(rng: random.Random, dataset: str) -> list[dict[str, Any]]:
    """Per event hub: two dataflow POSTs, two queue messages, three hub-write events (one duplicated) and a hub
    delete older than the newest write, all shuffled."""
    base = datetime.now(UTC) - timedelta(hours=1)
    ops: list[dict[str, Any]] = []
    for hub in HUBS:
        request = {"namespace": FLOW_NAMESPACE, "eventHubName": hub, "datasetId": dataset}
        ops += [{"kind": "http_dataflow", "body": request} for _ in range(2)]
        ops += [{"kind": "queue", "body": {"action": "dataflow", **request}} for _ in range(2)]
        for minutes in (0, 10, 20, 20):
            event = namespace_event(
                "write", FLOW_NAMESPACE, event_hub=hub, event_time=base + timedelta(minutes=minutes)
            )
            ops.append({"kind": "event", "body": event})
        event = namespace_event("delete", FLOW_NAMESPACE, event_hub=hub, event_time=base + timedelta(minutes=15))
        ops.append({"kind": "event", "body": event})
    rng.shuffle(ops)
    for index, op in enumerate(ops):
        op["id"] = f"op{index}"
    return ops


@pytest.mark.parametrize("seed", SEEDS)
def test_chaos_converges_to_exactly_one_dataflow_per_event_hub(
    app: App, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, seed: int
) -> None:
    """The same chaos for dataflows: whatever the interleaving of requests, hub events (a late delete among
    them) and faults at each of the three creates, every hub ends with exactly one source, target and flow,
    recorded `ready`, the flow joining the recorded two."""
    rng = random.Random(seed)
    app.stack.add_eventhubs_namespace(FLOW_NAMESPACE)
    app.stack.adobe.set_event_hubs(FLOW_NAMESPACE, list(HUBS))
    dataset = app.stack.adobe.add_dataset("Chaos events")
    for key, value in {"DATAFLOW_DATASET_ID": dataset, "CLAIM_WAIT_SECONDS": "3"}.items():
        monkeypatch.setenv(key, value)
        app.env[key] = value
    reset_runtime()
    assert app.post({"namespace": FLOW_NAMESPACE}).status_code == 201  # the base connection, before the chaos
    answers, worker_output = run_chaos(app, dataflow_faults(rng), dataflow_operations(rng, dataset), tmp_path)

    adobe = app.stack.adobe
    for hub in HUBS:
        prefix = f"Azure Event Hubs {FLOW_NAMESPACE} {hub} "
        sources = [o for o in adobe.source_connections() if o["name"] == prefix + "source"]
        targets = [o for o in adobe.target_connections() if o["name"] == prefix + "target"]
        flows = [o for o in adobe.flows() if o["name"] == prefix + "dataflow"]
        assert (len(sources), len(targets), len(flows)) == (1, 1, 1), f"seed {seed}: {hub}"
        record = json.loads(app.get_dataflow(FLOW_NAMESPACE, hub).get_body())
        assert record["state"] == "ready", record
        assert (record["sourceConnectionId"], record["targetConnectionId"], record["flowId"]) == (
            sources[0]["id"],
            targets[0]["id"],
            flows[0]["id"],
        )
        assert flows[0]["sourceConnectionIds"] == [sources[0]["id"]]
        assert flows[0]["targetConnectionIds"] == [targets[0]["id"]]
    created = [(a["body"]["eventHubName"], a["body"]["flowId"]) for a in answers if a["status"] == 201]
    assert len(created) == len(set(created)), f"seed {seed}: two 201 answers for one dataflow"
    assert_no_secret_fragments(app.stack, {"worker output and logs": worker_output})
