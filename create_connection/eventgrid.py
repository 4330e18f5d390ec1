"""Event Grid adapters: resource events for namespaces, Key Vault events for secrets.

Both functions take either delivery schema of an Event Grid subscription: the Event Grid schema
(``func.EventGridEvent``) or CloudEvents 1.0 (the worker's converter hands a ``func.CloudEvent`` to
the same binding when the body has ``specversion``). :func:`delivered` reads either into one
:class:`Delivered` (``type`` is ``eventType``, ``time`` is ``eventTime``; the resource id is the
``subject`` in both, and a Key Vault CloudEvent's ``source`` is the vault), so nothing after it
knows which schema came.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

import azure.functions as func

from shared import telemetry
from shared.dataflow_records import DataflowRequest
from shared.errors import ConnectorError, InvalidRequest
from shared.eventhubs import validate_event_hub, validate_namespace
from shared.models import ConnectionRequest, Source
from shared.resource_ids import note_resource_id
from shared.runtime import Runtime, get_runtime

from .outcomes import outcome_line, settle

WRITE_SUCCESS: Final = "microsoft.resources.resourcewritesuccess"
DELETE_SUCCESS: Final = "microsoft.resources.resourcedeletesuccess"
NAMESPACE_WRITE: Final = "microsoft.eventhub/namespaces/write"
NAMESPACE_DELETE: Final = "microsoft.eventhub/namespaces/delete"
EVENTHUB_WRITE: Final = "microsoft.eventhub/namespaces/eventhubs/write"
EVENTHUB_DELETE: Final = "microsoft.eventhub/namespaces/eventhubs/delete"
_NAMESPACE_ID: Final = re.compile(
    r"/subscriptions/([^/]+)/resourcegroups/[^/]+/providers/microsoft\.eventhub/namespaces/([^/]+)"
    r"(?:/eventhubs/([^/]+))?/?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class NamespaceEvent:
    """A parsed resource event about an Event Hubs namespace."""

    action: str  # "write" or "delete"
    namespace: str
    subscription_id: str
    event_hub: str | None = None  # set for an event hub's write or delete
    resource_id: str | None = None  # the namespace's Azure resource id


def parse_namespace_event(event_type: str, subject: str | None, data: Any) -> NamespaceEvent | None:
    """The namespace event, None for an event to ignore; InvalidRequest for a malformed one."""
    kind = (event_type or "").lower()
    if kind not in (WRITE_SUCCESS, DELETE_SUCCESS):
        return None
    if not isinstance(data, dict):
        raise InvalidRequest("The event has no data object.", field="data")
    operation = data.get("operationName")
    if not isinstance(operation, str):
        raise InvalidRequest("The event's data.operationName is missing or not a string.", field="data.operationName")
    wanted = (NAMESPACE_WRITE, EVENTHUB_WRITE) if kind == WRITE_SUCCESS else (NAMESPACE_DELETE, EVENTHUB_DELETE)
    if operation.lower() not in wanted:
        return None
    resource = subject if isinstance(subject, str) and subject else data.get("resourceUri")
    if not isinstance(resource, str) or not resource:
        raise InvalidRequest("The event has no subject or data.resourceUri naming the namespace.", field="subject")
    match = _NAMESPACE_ID.fullmatch(resource.strip())
    if match is None:
        raise InvalidRequest("The event's subject is not an Event Hubs namespace resource id.", field="subject")
    hub = match.group(3)
    if (hub is None) != (operation.lower() in (NAMESPACE_WRITE, NAMESPACE_DELETE)):
        raise InvalidRequest("The event's subject does not match its data.operationName.", field="subject")
    return NamespaceEvent(
        "write" if kind == WRITE_SUCCESS else "delete",
        validate_namespace(match.group(2), "subject"),
        match.group(1),
        validate_event_hub(hub, "subject") if hub else None,
        resource.strip()[: match.end(2)],
    )


AnyEvent = func.EventGridEvent | func.CloudEvent
"""What the Event Grid trigger binding passes: the Event Grid schema's event or a CloudEvent."""


@dataclass(frozen=True)
class Delivered:
    """One event, whichever schema delivered it; wrong types made harmless (a non-string type is empty)."""

    id: str | None
    type: str
    subject: str | None
    time: datetime | None
    data: Any
    schema: str  # "eventgrid" or "cloudevents"


def delivered(event: AnyEvent) -> Delivered:
    """The event's type, subject, time and data (``type``/``time`` of a CloudEvent, ``eventType``/``eventTime``)."""
    try:
        data = event.get_json()
    except ValueError:
        data = None
    if isinstance(event, func.CloudEvent):
        event_type, when, schema = event.type, event.time, "cloudevents"
    else:
        event_type, when, schema = event.event_type, event.event_time, "eventgrid"
    subject = event.subject if isinstance(event.subject, str) else None
    return Delivered(
        event.id if isinstance(event.id, str) else None,
        event_type if isinstance(event_type, str) else "",
        subject,
        (when if when.tzinfo else when.replace(tzinfo=UTC)) if isinstance(when, datetime) else None,
        data,
        schema,
    )


def _handle(
    event: AnyEvent, apply: Callable[[Callable[[], Runtime], str, str | None, Any, Source], str | None]
) -> None:
    """The skeleton of both Event Grid functions: parse, apply, log one outcome line, settle errors."""
    body = delivered(event)
    what = f"event {body.id or '-'} ({body.type or 'no type'})"
    try:
        outcome = apply(get_runtime, body.type, body.subject, body.data, Source("event", body.id, body.time))
    except ConnectorError as err:
        settle(err, what, event=True)
        return
    if outcome is not None:
        outcome_line(what, outcome)


def handle_namespace_event(event: AnyEvent) -> None:
    """Create the connection for a created namespace; mark records of a deleted one."""
    _handle(event, _apply_namespace_event)


def _apply_namespace_event(
    runtime_of: Callable[[], Runtime], event_type: str, subject: str | None, data: Any, source: Source
) -> str | None:
    parsed = parse_namespace_event(event_type, subject, data)
    if parsed is None:
        return "ignored: not an Event Hubs namespace write or delete"
    runtime = runtime_of()
    telemetry.note_subject(parsed.namespace, event_hub=parsed.event_hub)
    if not runtime.settings.manages_subscription(parsed.subscription_id):
        return f"ignored: subscription {parsed.subscription_id} is not in AZURE_SUBSCRIPTION_IDS"
    source = replace(source, resource_id=parsed.resource_id)
    if parsed.event_hub is not None:
        return _apply_event_hub_event(runtime, parsed, source)
    if parsed.action == "delete":
        gone = runtime.dataflows.namespace_gone(parsed.namespace, source)
        marked = f"{gone.connections} record(s) and {gone.dataflows} dataflow(s) marked"
        return f"namespace {parsed.namespace} deleted, {marked}"
    request = ConnectionRequest(namespace=parsed.namespace, sandbox=runtime.settings.default_sandbox)
    telemetry.note_key(request.key)
    outcome = runtime.service.create_or_get(request, source)
    _note_resource_id(runtime, request.sandbox, parsed.namespace, subject, data)
    state = "created" if outcome.created else "existing"
    return f"{outcome.record.key} {outcome.record.state.value} ({state})"


def _note_resource_id(runtime: Runtime, sandbox: str, namespace: str, subject: str | None, data: Any) -> None:
    """The event names the namespace's resource id: note it for health's metrics query (best effort)."""
    resource = subject or (data.get("resourceUri") if isinstance(data, dict) else None)
    if isinstance(resource, str):
        note_resource_id(runtime.records, sandbox, namespace, resource)


def _apply_event_hub_event(runtime: Runtime, parsed: NamespaceEvent, source: Source) -> str:
    """An event hub created (its dataflow, when DATAFLOW_DATASET_ID is set) or deleted (its dataflows torn down)."""
    assert parsed.event_hub is not None
    if parsed.action == "delete":
        torn = runtime.dataflows.tear_down_event_hub(parsed.namespace, parsed.event_hub, source)
        return f"event hub {parsed.namespace}/{parsed.event_hub} deleted, {torn} dataflow(s) torn down"
    defaults = runtime.settings.dataflow_defaults
    if defaults.dataset_id is None:
        return "ignored: a new event hub, and DATAFLOW_DATASET_ID is not set"
    request = DataflowRequest(
        namespace=parsed.namespace,
        sandbox=defaults.sandbox,
        event_hub=parsed.event_hub,
        dataset_id=defaults.dataset_id,
        data_type=defaults.data_type,
        consumer_group=defaults.consumer_group,
        reset=defaults.reset,
    )
    if defaults.data_type == "raw":
        return "ignored: DATAFLOW_DATA_TYPE raw needs a mappingId; create the dataflow with POST /api/dataflows"
    telemetry.note_key(request.key)
    flow = runtime.dataflows.create_or_get(request, source)
    return f"dataflow {flow.record.key} {flow.record.state.value}"


SECRET_NEW_VERSION: Final = "microsoft.keyvault.secretnewversioncreated"
SECRET_NEAR_EXPIRY: Final = "microsoft.keyvault.secretnearexpiry"


def parse_secret_event(event_type: str, subject: str | None, data: Any) -> tuple[str, str] | None:
    """(kind, secret name) of a Key Vault secret event; None to ignore; InvalidRequest when malformed.

    `data` keys are matched ignoring case and stray spaces (Microsoft's own sample has them).
    """
    kind = (event_type or "").lower()
    if kind not in (SECRET_NEW_VERSION, SECRET_NEAR_EXPIRY):
        return None
    fields = {str(k).strip().lower(): v for k, v in data.items()} if isinstance(data, dict) else {}
    object_type = fields.get("objecttype")
    if isinstance(object_type, str) and object_type.lower() != "secret":
        return None
    name = fields.get("objectname") if isinstance(fields.get("objectname"), str) else subject
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest("The event names no secret (data.ObjectName or subject).", field="data.ObjectName")
    return ("new_version" if kind == SECRET_NEW_VERSION else "near_expiry"), name.strip()


def handle_secret_event(event: AnyEvent) -> None:
    """Rotate, create (pending) or flag the connections behind a Key Vault secret."""
    _handle(event, _apply_secret_event)


def _apply_secret_event(
    runtime_of: Callable[[], Runtime], event_type: str, subject: str | None, data: Any, source: Source
) -> str | None:
    parsed = parse_secret_event(event_type, subject, data)
    if parsed is None:
        return "ignored: not a secret new-version or near-expiry event"
    kind, secret_name = parsed
    runtime = runtime_of()
    owner = runtime.settings.secret_owner(secret_name)
    if owner is not None:
        telemetry.note_subject(owner[1])
    # Key Vault events are ordered by secret versions, not by event time.
    source = Source(source.kind, source.id)
    if kind == "near_expiry":
        flagged = runtime.secret_events.near_expiry(secret_name, source)
        return f"secret {secret_name} near expiry, {flagged} record(s) flagged"
    changed = runtime.secret_events.new_version(secret_name, source)
    return f"secret {secret_name}, {changed} connection(s) created or rotated"
