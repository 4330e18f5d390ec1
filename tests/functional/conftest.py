"""Functional tier: the indexed functions against Azurite and the loopback stand-ins.

One LocalStack per test session; every test gets its own records table, a clean stack (no faults,
no Adobe connections) and a fresh worker runtime built from the environment, as the host does.
Every test is also checked for leaks: no secret value the stand-ins know may appear in a captured
log line (root logger at DEBUG), a function response, a stored record or a queue message.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
import pytest
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueClient

from devstack.azurite import find_repo_root
from devstack.host import event_grid_event, http_request, indexed_function, queue_message
from devstack.stack import LocalStack
from shared.runtime import Runtime, get_runtime, reset_runtime
from tests.openapi_contract import assert_response_matches

EVENTS_DIR = find_repo_root() / "tests" / "events"

# Short bounds so failure paths finish in seconds (the defaults are for production).
TEST_SETTINGS = {
    "HTTP_TIMEOUT_SECONDS": "1.5",
    "RETRY_BUDGET_SECONDS": "6",
    "CLAIM_LEASE_SECONDS": "15",
    "CLAIM_WAIT_SECONDS": "4",
    "VERIFY_DELAY_SECONDS": "2",
}
REQUESTS_QUEUE = "eventhubs-connection-requests"
FRAGMENT = 8  # the contract: no run of 8 or more characters of a secret anywhere


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    with LocalStack(find_repo_root(), sandboxes=("prod", "dev")) as local:
        yield local


@dataclass
class App:
    """The function app as the host runs it, on the test's stack, with what it answered."""

    stack: LocalStack
    env: dict[str, str]
    responses: list[bytes] = field(default_factory=list)
    delivered_messages: list[str] = field(default_factory=list)

    @property
    def runtime(self) -> Runtime:
        return get_runtime()

    @property
    def table(self) -> str:
        return self.env["CONNECTIONS_TABLE"]

    def post(self, body: Any, **headers: str) -> func.HttpResponse:
        response = indexed_function("create_connection_http")(
            http_request("POST", "/api/connections", body=body, headers=headers)
        )
        return self._checked("POST", "/api/connections", response)

    def get(self, namespace: str, **params: str) -> func.HttpResponse:
        response = indexed_function("get_connection_http")(
            http_request("GET", f"/api/connections/{namespace}", route_params={"namespace": namespace}, params=params)
        )
        return self._checked("GET", f"/api/connections/{namespace}", response)

    def post_dataflow(self, body: Any, **headers: str) -> func.HttpResponse:
        response = indexed_function("create_dataflow_http")(
            http_request("POST", "/api/dataflows", body=body, headers=headers)
        )
        return self._checked("POST", "/api/dataflows", response)

    def get_dataflow(self, namespace: str, event_hub: str, **params: str) -> func.HttpResponse:
        path = f"/api/dataflows/{namespace}/{event_hub}"
        route = {"namespace": namespace, "eventHubName": event_hub}
        response = indexed_function("get_dataflow_http")(http_request("GET", path, route_params=route, params=params))
        return self._checked("GET", path, response)

    def _checked(self, method: str, path: str, response: func.HttpResponse) -> func.HttpResponse:
        """Every HTTP answer is kept for the leak check and validated against openapi.yaml."""
        self.responses.append(response.get_body())
        assert_response_matches(
            method,
            path,
            response.status_code,
            json.loads(response.get_body()),
            {**response.headers, "Content-Type": response.mimetype},
        )
        return response

    def enqueue(self, body: Any, message_id: str | None = None) -> None:
        """Deliver one queue message to create_connection_queue (raises when the host would retry)."""
        indexed_function("create_connection_queue")(queue_message(body, message_id=message_id))

    def event(self, name_or_event: str | dict[str, Any], function: str = "on_namespace_event", **changes: Any) -> None:
        """Deliver an Event Grid event (a file name under tests/events, or the event itself)."""
        event = load_event(name_or_event) if isinstance(name_or_event, str) else name_or_event
        event.update(changes)
        indexed_function(function)(event_grid_event(event))

    def entities(self) -> list[dict[str, Any]]:
        service = TableServiceClient.from_connection_string(self.stack.storage_connection_string)
        return [dict(e) for e in service.get_table_client(self.table).list_entities()]

    def dataflow_entities(self) -> list[dict[str, Any]]:
        service = TableServiceClient.from_connection_string(self.stack.storage_connection_string)
        table = service.get_table_client(self.env["DATAFLOWS_TABLE"])
        try:
            return [dict(e) for e in table.list_entities()]
        except ResourceNotFoundError:  # no dataflow was ever recorded
            return []

    def entity(self, namespace: str, sandbox: str = "prod", event_hub: str = "") -> dict[str, Any]:
        service = TableServiceClient.from_connection_string(self.stack.storage_connection_string)
        return dict(service.get_table_client(self.table).get_entity(sandbox, f"{namespace}|{event_hub}"))

    def events_queue_messages(self) -> list[dict[str, Any]]:
        name = self.env.get("CONNECTION_EVENTS_QUEUE")
        if not name:
            return []
        queue = QueueClient.from_connection_string(self.stack.storage_connection_string, name)
        return [json.loads(m.content) for m in queue.peek_messages(max_messages=32)]

    def request_queue(self) -> QueueClient:
        return QueueClient.from_connection_string(self.stack.storage_connection_string, REQUESTS_QUEUE)

    def request_queue_messages(self) -> list[dict[str, Any]]:
        """Every message on the request queue, visible or not yet (delayed verifies included)."""
        properties = self.request_queue().get_queue_properties()
        return [{"approximate_count": properties.approximate_message_count}]

    def drain_requests(self, *, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Deliver every request-queue message (waiting for delayed ones) to create_connection_queue, as the
        host would: a message whose invocation raises comes back after a short visibility timeout."""
        queue = self.request_queue()
        delivered: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if queue.get_queue_properties().approximate_message_count == 0:
                return delivered
            for message in queue.receive_messages(max_messages=16, visibility_timeout=3):
                content = json.loads(message.content)
                self.delivered_messages.append(message.content)
                try:
                    indexed_function("create_connection_queue")(queue_message(message.content, message_id=message.id))
                except Exception:
                    continue  # redelivered after the visibility timeout, as the host does
                queue.delete_message(message)
                delivered.append(content)
            time.sleep(0.25)
        raise AssertionError(f"the request queue did not drain in {timeout} s")

    def adobe_creates(self) -> int:
        return len(self.stack.adobe.calls("POST", r"/connections$"))


def load_event(name: str) -> dict[str, Any]:
    """A sample event from tests/events (a fresh copy with a fresh id)."""
    event = json.loads((EVENTS_DIR / name).read_text())
    event["id"] = str(uuid.uuid4())
    return event  # type: ignore[no-any-return]


@pytest.fixture
def app(stack: LocalStack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Iterator[App]:
    stack.reset()
    for secret in stack.keyvault.secret_names():
        if not secret.startswith("adobe-"):
            stack.keyvault.delete_secret(secret)
    for name in (
        "IDENTITY_SERVER_THUMBPRINT",
        "MSI_ENDPOINT",
        "MSI_SECRET",
        "AZURE_CLIENT_ID",
        "CONNECTION_EVENTS_QUEUE",
    ):
        monkeypatch.delenv(name, raising=False)
    env = stack.apply_env(monkeypatch.setenv)
    env["CONNECTIONS_TABLE"] = "T" + uuid.uuid4().hex[:16]
    env["DATAFLOWS_TABLE"] = "F" + uuid.uuid4().hex[:16]
    env.update(TEST_SETTINGS)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    caplog.set_level(logging.DEBUG)
    reset_runtime()
    application = App(stack, env)
    requests_queue = application.request_queue()
    try:
        requests_queue.create_queue()
    except ResourceExistsError:
        requests_queue.clear_messages()
    yield application
    reset_runtime()
    _assert_no_leaks(application, caplog)
    errors = [e for s in (stack.identity, stack.keyvault, stack.adobe.ims, stack.adobe.platform) for e in s.errors]
    for server in (stack.identity, stack.keyvault, stack.adobe.ims, stack.adobe.platform):
        server.errors.clear()
    assert not errors, "a stand-in handler raised:\n" + "\n".join(errors)


def _assert_no_leaks(app: App, caplog: pytest.LogCaptureFixture) -> None:
    places = {
        "log": caplog.text + "\n".join(r.getMessage() for r in caplog.records),
        "responses": b"\n".join(app.responses).decode("utf-8", "replace"),
        "records": json.dumps(_safe_entities(app), default=str),
        "events queue": json.dumps(app.events_queue_messages()),
        "request queue": "\n".join(app.delivered_messages),
    }
    assert_no_secret_fragments(app.stack, places)


def secret_fragments(stack: LocalStack) -> set[str]:
    """Every run of FRAGMENT characters of a secret the stack handed out. Whole connection strings and
    JSON documents are checked through their secret parts (their namespace and rule name are public)."""
    fragments = set()
    for value in stack.known_secret_values():
        if "Endpoint=" in value or value.lstrip().startswith("{"):
            continue
        fragments.update(value[i : i + FRAGMENT] for i in range(max(1, len(value) - FRAGMENT + 1)))
    return fragments


def assert_no_secret_fragments(stack: LocalStack, places: dict[str, str]) -> None:
    secrets = stack.known_secret_values()
    fragments = secret_fragments(stack)
    for place, text in places.items():
        assert not [s for s in secrets if s in text], f"a secret value appeared in {place}"
        windows = {text[i : i + FRAGMENT] for i in range(len(text) - FRAGMENT + 1)}
        leaked = windows & fragments
        assert not leaked, f"a fragment of a secret appeared in {place}: {len(leaked)} run(s) of {FRAGMENT}"


def _safe_entities(app: App) -> list[dict[str, Any]]:
    try:
        return app.entities()
    except Exception:  # the table may not exist when the test never reached storage
        return []


def body(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())
