"""Drives the functions the way the Functions host indexes and calls them (used by tests and the demo)."""

from __future__ import annotations

import inspect
import json
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func

_index: dict[str, Callable[..., Any]] = {}
_index_lock = threading.Lock()


class InvocationContext(func.Context):  # the stub types thread_local_storage as the class, not an instance
    """The `context` argument the worker passes to a function that declares one: a new invocation id per call."""

    def __init__(self, function_name: str, function_directory: str) -> None:
        self._function_name = function_name
        self._function_directory = function_directory
        self._invocation_id = str(uuid.uuid4())
        self._local = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> threading.local:  # type: ignore[override]
        return self._local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> Any:
        return None

    @property
    def retry_context(self) -> Any:
        return None


def indexed_function(name: str) -> Callable[..., Any]:
    """The user function registered under `name` in function_app.app, called as the worker calls it:
    with a new `context` (and invocation id) when the function declares one.

    The host indexes the app once per worker (`app.get_functions()` may not be called twice).
    """
    with _index_lock:
        if not _index:
            import function_app

            for function in function_app.app.get_functions():
                _index[str(function.get_function_name())] = function.get_user_function()
    try:
        user = _index[name]
    except KeyError:
        raise LookupError(f"no function named {name!r} is indexed") from None
    if "context" not in inspect.signature(user).parameters:
        return user
    directory = str(Path(inspect.getfile(user)).parent)

    def call(*args: Any, **kwargs: Any) -> Any:
        return user(*args, context=InvocationContext(name, directory), **kwargs)

    return call


def http_request(
    method: str,
    path: str,
    *,
    body: bytes | str | Mapping[str, Any] | None = None,
    params: Mapping[str, str] | None = None,
    route_params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> func.HttpRequest:
    """A real `func.HttpRequest` for `http://localhost:7071{path}`."""
    if isinstance(body, Mapping):
        raw = json.dumps(body).encode()
    elif isinstance(body, str):
        raw = body.encode()
    else:
        raw = body or b""
    return func.HttpRequest(
        method=method,
        url=f"http://localhost:7071{path}",
        headers={"Content-Type": "application/json", **(headers or {})},
        params=dict(params or {}),
        route_params=dict(route_params or {}),
        body=raw,
    )


def queue_message(body: bytes | str | Mapping[str, Any], *, message_id: str | None = None) -> func.QueueMessage:
    """A real `func.QueueMessage` as the queue trigger delivers it."""
    raw = json.dumps(body).encode() if isinstance(body, Mapping) else body.encode() if isinstance(body, str) else body
    return func.QueueMessage(id=message_id or uuid.uuid4().hex, body=raw, pop_receipt="receipt")


_EVENT_TIME = re.compile(
    r"^(?P<base>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?)(?:[.,](?P<fraction>\d+))?(?P<zone>[Zz]|[+-]\d{2}:?\d{2})?$"
)


def parse_event_time(value: str) -> datetime:
    """An Event Grid ``eventTime`` (``2026-11-26T08:00:00.0000000Z``: 7 fraction digits, ``Z``) as
    an aware datetime; any number of fraction digits (cut to microseconds), ``Z``/``z`` or an
    offset, none meaning UTC; other ISO 8601 forms as ``datetime.fromisoformat`` reads them.
    ValueError when it is not a time."""
    match = _EVENT_TIME.match(value.strip())
    if match is None:  # other ISO 8601 forms (a date alone, basic format): as Python reads them
        fallback = datetime.fromisoformat(value)
        return fallback if fallback.tzinfo is not None else fallback.replace(tzinfo=UTC)
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    zone = match["zone"] or "Z"
    offset = "+00:00" if zone in ("Z", "z") else zone
    parsed = datetime.fromisoformat(f"{match['base']}.{fraction}{offset}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def event_grid_event(event: Mapping[str, Any]) -> func.EventGridEvent:
    """A real `func.EventGridEvent` from an event in Event Grid's JSON schema."""
    when = event.get("eventTime")
    return func.EventGridEvent(
        id=str(event.get("id", uuid.uuid4().hex)),
        data=event.get("data"),  # type: ignore[arg-type]
        topic=str(event.get("topic", "")),
        subject=event.get("subject"),  # type: ignore[arg-type]
        event_type=event.get("eventType"),  # type: ignore[arg-type]
        event_time=parse_event_time(when) if isinstance(when, str) else datetime.now(UTC),
        data_version=str(event.get("dataVersion", "")),
    )


def delivered_event(body: Mapping[str, Any]) -> func.EventGridEvent | func.CloudEvent:
    """What the Python worker passes an Event Grid trigger for one event of a delivery, in either
    schema: azure.functions' own converter decodes the JSON (a ``func.CloudEvent`` when it has
    ``specversion``, else a ``func.EventGridEvent``), as the worker does for ``eventGridTrigger``."""
    from azure.functions import meta
    from azure.functions.eventgrid import EventGridEventInConverter

    decoded: func.EventGridEvent | func.CloudEvent = EventGridEventInConverter.decode(
        meta.Datum(json.dumps(body), "json"), trigger_metadata={}
    )
    return decoded


def response_json(response: func.HttpResponse) -> Any:
    """The decoded JSON body of a function's response."""
    return json.loads(response.get_body())
