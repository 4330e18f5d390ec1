"""Exactly one Adobe connection per (sandbox, namespace, event hub), across threads, processes and crashes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from devstack.azurite import find_repo_root
from devstack.faults import Fault
from shared.runtime import reset_runtime
from tests.functional.conftest import App, body

NS = "contoso-telemetry"
ROOT = find_repo_root()


def assert_record_or_409(answers: list[tuple[int, dict, dict]], connection_id: str) -> None:
    for status, answer, headers in answers:
        if status == 409:
            assert answer["error"]["code"] == "ConnectionBeingCreated"
            assert int(headers["Retry-After"]) >= 1
        else:
            assert status in (200, 201), answer
            assert answer["connectionId"] == connection_id and answer["state"] == "ready"
    assert sum(1 for status, _, _ in answers if status == 201) == 1


def test_eight_concurrent_threads_create_one_connection(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.stack.adobe.create_delay = 1.0
    app.runtime  # noqa: B018 - one worker: its clients are built once and shared by the threads

    def call(_: int) -> tuple[int, dict, dict]:
        response = app.post({"namespace": NS})
        return response.status_code, body(response), dict(response.headers)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, range(8)))
    [connection] = app.stack.adobe.connections("prod")
    assert app.adobe_creates() == 1
    assert_record_or_409(answers, connection["id"])


def test_eight_concurrent_processes_create_one_connection(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.stack.adobe.create_delay = 1.0
    env = {**os.environ, **app.env}
    start_at = time.time() + 4.0
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.functional.worker", json.dumps({"namespace": NS}), str(start_at)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    answers = []
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err[-2000:]
        result = json.loads(out.strip().splitlines()[-1])
        app.responses.append(json.dumps(result).encode())
        answers.append((result["status"], result["body"], result["headers"]))
    [connection] = app.stack.adobe.connections("prod")
    assert app.adobe_creates() == 1
    assert_record_or_409(answers, connection["id"])


def test_create_committed_but_answer_lost_is_adopted_not_duplicated(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    # Adobe stores the connection, then stalls its answer past the client's 1.5 s timeout.
    app.stack.adobe.faults.add(Fault("POST", r"/connections$", action="commit_then_stall", delay=3.0))
    response = app.post({"namespace": NS})
    [connection] = app.stack.adobe.connections("prod")
    assert response.status_code == 200  # adopted after the uncertain outcome: never a second 201
    assert body(response)["connectionId"] == connection["id"] and body(response)["created"] is False
    assert app.adobe_creates() == 1
    lookups = app.stack.adobe.calls("GET", r"/connections\?")
    assert lookups and "name%3D%3DAzure+Event+Hubs+contoso-telemetry" in lookups[0].target.replace("%20", "+")
    # Later attempts, over HTTP and the queue, see the record: still exactly one.
    assert app.post({"namespace": NS}).status_code == 200
    app.enqueue({"namespace": NS})
    assert len(app.stack.adobe.connections("prod")) == 1


def test_uncertain_create_then_give_up_is_adopted_by_the_next_attempt(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    # Every create is committed but its answer is lost, and every lookup fails: the call gives up.
    app.stack.adobe.faults.add(Fault("POST", r"/connections$", action="commit_then_stall", delay=2.0, times=1))
    app.stack.adobe.faults.add(Fault("GET", r"/connections\?", status=503, times=-1))
    first = app.post({"namespace": NS})
    assert first.status_code == 503
    entity = app.entity(NS)
    assert entity["State"] == "failed" and entity["MayExist"] is True
    app.stack.adobe.clear_faults()
    # The queue redelivery looks the name up first and adopts the committed connection.
    app.enqueue({"namespace": NS})
    [connection] = app.stack.adobe.connections("prod")
    assert app.entity(NS)["ConnectionId"] == connection["id"]
    assert app.entity(NS)["State"] == "ready"
    assert app.adobe_creates() == 1


def test_worker_dying_after_claim_is_taken_over_after_the_lease(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    app.stack.add_eventhubs_namespace(NS)
    # The lease must exceed the budget plus one call's connect and read timeout: 2 + 0.5 + 0.5 < 3.5.
    timing = {
        "CLAIM_LEASE_SECONDS": "3.5",
        "RETRY_BUDGET_SECONDS": "2",
        "HTTP_TIMEOUT_SECONDS": "0.5",
        "CLAIM_WAIT_SECONDS": "6",
    }
    for key, value in timing.items():
        monkeypatch.setenv(key, value)
        app.env[key] = value
    reset_runtime()
    # The doomed worker's create reaches Adobe and is committed; it dies before recording it.
    app.stack.adobe.faults.add(Fault("POST", r"/connections$", action="commit_then_stall", delay=8.0))
    doomed = subprocess.Popen(
        [sys.executable, "-m", "tests.functional.worker", json.dumps({"namespace": NS})],
        cwd=ROOT,
        env={**os.environ, **app.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            if app.stack.adobe.connections("prod"):
                break
            time.sleep(0.05)
        assert app.entity(NS)["State"] == "creating"
    finally:
        doomed.kill()
        doomed.wait(timeout=10)
    started = time.monotonic()
    response = app.post({"namespace": NS})
    waited = time.monotonic() - started
    [connection] = app.stack.adobe.connections("prod")
    assert response.status_code == 200, body(response)
    assert body(response)["connectionId"] == connection["id"]
    assert app.adobe_creates() == 1
    assert waited < 8  # at most the dead worker's lease (3.5 s) plus the work
    assert app.stack.adobe.calls("GET", r"/connections\?")  # took over, looked the name up, adopted


def test_live_claim_beyond_the_wait_answers_409_with_retry_after(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    app.stack.add_eventhubs_namespace(NS)
    monkeypatch.setenv("CLAIM_WAIT_SECONDS", "0.5")
    reset_runtime()
    app.stack.adobe.create_delay = 1.2  # within the client's 1.5 s timeout
    app.runtime  # noqa: B018 - clients built before the race
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(app.post, {"namespace": NS})
        for _ in range(100):  # until the first request holds the claim
            if app.stack.adobe.calls("POST", r"/connections$"):
                break
            time.sleep(0.02)
        second = app.post({"namespace": NS})
        assert first.result().status_code == 201
    assert second.status_code == 409
    assert body(second)["error"]["code"] == "ConnectionBeingCreated"
    assert 1 <= int(second.headers["Retry-After"]) <= 30
    assert app.adobe_creates() == 1


def test_failure_before_any_create_needs_no_lookup_afterwards(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.stack.adobe.ims_faults.add(Fault("POST", r"/ims/token/v3", status=503, times=-1))
    assert app.post({"namespace": NS}).status_code == 503
    assert app.entity(NS)["MayExist"] is False  # no POST went out: nothing to look up
    app.stack.adobe.clear_faults()
    assert app.post({"namespace": NS}).status_code == 201
    assert app.stack.adobe.calls("GET", r"/connections\?") == []
