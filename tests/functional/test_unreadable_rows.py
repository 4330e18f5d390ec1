"""A row that does not decode is reported (table, partition, row key) and skipped by every listing; an
operation on that very identity answers 500 RecordUnreadable naming the row (contract: "Every event, secret
and record reaches its end state"; issue 20, item 4). The rows are tampered with the real azure-data-tables
client, as an operator editing the table by hand would."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.data.tables import TableClient, TableServiceClient, UpdateMode
from azure.functions.timer import TimerRequest

from devstack.azurite import find_repo_root
from devstack.events import namespace_event
from devstack.host import indexed_function
from shared.errors import RecordUnreadable
from shared.records import UNREADABLE_RECORD
from shared.runtime import reset_runtime
from tests.functional.conftest import App, body

SUBSCRIPTION = "00000000-0000-0000-0000-0000000000a1"
TAMPERED = "contoso-tampered"
OTHERS = ("contoso-healthy-a", "contoso-healthy-b")


def _table(app: App, name: str | None = None) -> TableClient:
    service = TableServiceClient.from_connection_string(app.stack.storage_connection_string)
    return service.get_table_client(name or app.table)


def _state_ready(entity: dict[str, Any]) -> dict[str, Any]:
    return {**entity, "State": "Ready"}  # hand-edited: the states are lowercase


def _no_state(entity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entity.items() if k != "State"}


def _bad_date(entity: dict[str, Any]) -> dict[str, Any]:
    return {**entity, "UpdatedAt": "last tuesday"}


TAMPERINGS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "state-Ready": _state_ready,
    "missing-field": _no_state,
    "bad-date": _bad_date,
}


def tamper(
    app: App, namespace: str, change: Callable[[dict[str, Any]], dict[str, Any]], table: str | None = None
) -> None:
    """Replace the row of `namespace` (event hub none) with a hand-edited one."""
    client = _table(app, table)
    entity = dict(client.get_entity("prod", f"{namespace}|"))
    client.upsert_entity(change(entity), mode=UpdateMode.REPLACE)


@pytest.fixture
def managed(app: App, monkeypatch: pytest.MonkeyPatch) -> App:
    """Three ready connections of a managed subscription; then the row of TAMPERED is edited by hand."""
    monkeypatch.setenv("AZURE_SUBSCRIPTION_IDS", SUBSCRIPTION)
    app.env["AZURE_SUBSCRIPTION_IDS"] = SUBSCRIPTION
    reset_runtime()
    for namespace in (TAMPERED, *OTHERS):
        app.stack.seed_namespace(namespace, subscription_id=SUBSCRIPTION)
        assert app.post({"namespace": namespace}).status_code == 201
    return app


def _assert_names_the_row(error: dict[str, Any], app: App) -> None:
    assert error["code"] == "RecordUnreadable"
    assert error["record"] == {"table": app.table, "partitionKey": "prod", "rowKey": f"{TAMPERED}|"}
    assert app.table in error["message"] and f"{TAMPERED}|" in error["message"]


@pytest.mark.parametrize("tampering", TAMPERINGS)
def test_an_operation_on_the_tampered_identity_answers_500_naming_the_row(managed: App, tampering: str) -> None:
    app = managed
    tamper(app, TAMPERED, TAMPERINGS[tampering])
    shown = app.get(TAMPERED)
    assert shown.status_code == 500
    _assert_names_the_row(body(shown)["error"], app)
    posted = app.post({"namespace": TAMPERED})
    assert posted.status_code == 500
    _assert_names_the_row(body(posted)["error"], app)
    for namespace in OTHERS:
        assert body(app.get(namespace))["state"] == "ready"
    with pytest.raises(RecordUnreadable):  # raised: the platform redelivers, as for any 500
        app.enqueue({"namespace": TAMPERED})


def _unreadable_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith(UNREADABLE_RECORD)]


def test_a_reconcile_pass_and_another_namespaces_delete_event_skip_the_row(
    managed: App, caplog: pytest.LogCaptureFixture
) -> None:
    app = managed
    tamper(app, TAMPERED, _state_ready)
    caplog.clear()
    indexed_function("reconcile_timer")(TimerRequest(past_due=False))  # completes: no exception
    summaries = [r.getMessage() for r in caplog.records if "namespaces seen" in r.getMessage()]
    assert summaries and "3 namespaces seen" in summaries[-1]
    [line] = _unreadable_lines(caplog)  # once for the pass's listing
    assert line.levelno == logging.ERROR
    assert (line.table, line.partition_key, line.row_key) == (app.table, "prod", f"{TAMPERED}|")  # type: ignore[attr-defined]

    app.event(namespace_event("delete", OTHERS[0], event_time=datetime.now(UTC), subscription_id=SUBSCRIPTION))
    assert body(app.get(OTHERS[0]))["state"] == "deleted"
    assert body(app.get(OTHERS[1]))["state"] == "ready"

    # the tampered namespace's own delete event marks what can be read and reports the row, it does not raise
    app.event(namespace_event("delete", TAMPERED, event_time=datetime.now(UTC), subscription_id=SUBSCRIPTION))
    assert app.entity(TAMPERED)["State"] == "Ready"  # left for the operator to fix


def test_cli_list_prints_the_others_and_a_line_about_the_row(managed: App) -> None:
    app = managed
    tamper(app, TAMPERED, _no_state)
    result = subprocess.run(
        [sys.executable, "-m", "cli", "list"],
        cwd=find_repo_root(),
        env={**os.environ, **app.env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    app.responses.append((result.stdout + result.stderr).encode())
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for namespace in OTHERS:
        assert namespace in result.stdout
    assert TAMPERED not in result.stdout
    [line] = [line for line in result.stderr.splitlines() if UNREADABLE_RECORD in line]
    assert app.table in line and f"RowKey '{TAMPERED}|'" in line and "'State' is missing" in line

    shown = subprocess.run(
        [sys.executable, "-m", "cli", "show", TAMPERED],
        cwd=find_repo_root(),
        env={**os.environ, **app.env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    app.responses.append((shown.stdout + shown.stderr).encode())
    assert shown.returncode == 1 and "Traceback" not in shown.stderr
    assert "RecordUnreadable" in shown.stderr and f"{TAMPERED}|" in shown.stderr


def test_a_tampered_dataflow_row_is_skipped_by_the_namespace_teardown(managed: App) -> None:
    app = managed
    namespace = OTHERS[0]
    app.stack.adobe.set_event_hubs(namespace, ["clicks", "views"])
    dataset = app.stack.adobe.add_dataset("Clickstream events")
    for hub in ("clicks", "views"):
        made = app.post_dataflow({"namespace": namespace, "eventHubName": hub, "datasetId": dataset})
        assert made.status_code == 201, body(made)
    flows = _table(app, app.env["DATAFLOWS_TABLE"])
    entity = dict(flows.get_entity("prod", f"{namespace}|clicks"))
    flows.upsert_entity({**entity, "State": "Ready"}, mode=UpdateMode.REPLACE)

    shown = app.get_dataflow(namespace, "clicks")
    assert shown.status_code == 500 and body(shown)["error"]["code"] == "RecordUnreadable"
    assert body(shown)["error"]["record"]["rowKey"] == f"{namespace}|clicks"

    app.event(namespace_event("delete", namespace, event_time=datetime.now(UTC), subscription_id=SUBSCRIPTION))
    assert body(app.get_dataflow(namespace, "views"))["state"] == "deleted"
    assert body(app.get(namespace))["state"] == "deleted"
