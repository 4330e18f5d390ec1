"""Seeded chaos: slow, late, dropped and failed creates, duplicate and out-of-order events, over HTTP, the
queue and Event Grid, from two worker processes at once; then the redeliveries and the delayed verifies.

Whatever the interleaving, once the verifies have run: exactly one Adobe connection per namespace,
recorded `ready`; at most one 201 per connection; no 8-character run of a secret in any output.
"""

from __future__ import annotations

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

from devstack.azurite import find_repo_root
from devstack.events import namespace_event
from devstack.faults import Fault
from shared.runtime import reset_runtime
from tests.functional.conftest import App, assert_no_secret_fragments

ROOT = find_repo_root()
CREATE = r"/connections$"
NAMESPACES = ("contoso-chaos-a", "contoso-chaos-b", "contoso-chaos-c")
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
    """Per namespace: two POSTs, two queue messages, three namespace-write events (one duplicated) and a
    delete older than the newest write, all shuffled."""
    base = datetime.now(UTC) - timedelta(hours=1)
    ops: list[dict[str, Any]] = []
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
    rng.shuffle(ops)
    for index, op in enumerate(ops):
        op["id"] = f"op{index}"
    return ops


def run_workers(app: App, ops: list[dict[str, Any]], tmp_path: Path) -> tuple[list[dict[str, Any]], str]:
    halves = [ops[0::2], ops[1::2]]
    env = {**os.environ, **app.env}
    workers = []
    for index, half in enumerate(halves):
        plan = tmp_path / f"plan{index}.json"
        plan.write_text(json.dumps({"ops": half, "threads": 4, "log": str(tmp_path / f"worker{index}.log")}))
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
        if op["kind"] == "http":
            response = app.post(op["body"])
            return {"status": response.status_code, "body": json.loads(response.get_body())}
        if op["kind"] == "queue":
            app.enqueue(op["body"])
        else:
            app.event(op["body"])
    except Exception as err:
        return {"status": "raised", "error": type(err).__name__}
    return {"status": "ok"}


@pytest.mark.parametrize("seed", SEEDS)
def test_chaos_converges_to_exactly_one_connection_per_namespace(
    app: App, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    for key, value in {"DELETE_CONNECTION_ON_NAMESPACE_DELETE": "true", "CLAIM_WAIT_SECONDS": "3"}.items():
        monkeypatch.setenv(key, value)
        app.env[key] = value
    reset_runtime()
    for namespace in NAMESPACES:
        app.stack.add_eventhubs_namespace(namespace)
    for fault in faults(rng):
        app.stack.adobe.faults.add(fault)
    ops = operations(rng)

    results, worker_output = run_workers(app, ops, tmp_path)
    assert len(results) == len(ops)
    app.stack.adobe.clear_faults()
    time.sleep(2.5)  # every late commit has landed

    by_id = {op["id"]: op for op in ops}
    pending = [r["id"] for r in results if r["status"] in ("raised", 409, 503)]
    answers = [r for r in results if r["kind"] == "http"]
    for _ in range(4):  # redeliveries, until every invocation has succeeded
        replayed = {op_id: replay(app, by_id[op_id]) for op_id in pending}
        answers += [r for op_id, r in replayed.items() if by_id[op_id]["kind"] == "http"]
        pending = [op_id for op_id, r in replayed.items() if r["status"] in ("raised", 409, 503)]
        if not pending:
            break
    assert not pending, f"still failing after the redeliveries: {pending}"
    app.drain_requests(timeout=40)

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
                + json.dumps(results, default=str)
                + "\n---\n"
                + json.dumps(app.entity(namespace), default=str)
            )
        assert len(connections) == 1, f"seed {seed}: {namespace} has {len(connections)} connections in Adobe"
        entity = app.entity(namespace)
        assert entity["State"] == "ready" and entity["ConnectionId"] == connections[0]["id"], entity
    created = [a["body"]["connectionId"] for a in answers if a["status"] == 201]
    assert len(created) == len(set(created)), f"seed {seed}: two 201 answers for one connection"
    assert_no_secret_fragments(app.stack, {"worker output and logs": worker_output})
