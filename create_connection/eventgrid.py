"""Event Grid adapters: resource events for namespaces, Key Vault events for secrets."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import azure.functions as func

from shared.errors import ConnectorError, InvalidRequest
from shared.eventhubs import validate_namespace
from shared.models import ConnectionRequest
from shared.runtime import get_runtime
from shared.service import Source

from .queue import log_outcome, settle

log = logging.getLogger("eventhubs_connector")

WRITE_SUCCESS: Final = "microsoft.resources.resourcewritesuccess"
DELETE_SUCCESS: Final = "microsoft.resources.resourcedeletesuccess"
NAMESPACE_WRITE: Final = "microsoft.eventhub/namespaces/write"
NAMESPACE_DELETE: Final = "microsoft.eventhub/namespaces/delete"
_NAMESPACE_ID: Final = re.compile(
    r"/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.eventhub/namespaces/([^/]+)/?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class NamespaceEvent:
    """A parsed resource event about an Event Hubs namespace."""

    action: str  # "write" or "delete"
    namespace: str


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
    wanted = NAMESPACE_WRITE if kind == WRITE_SUCCESS else NAMESPACE_DELETE
    if operation.lower() != wanted:
        return None
    resource = subject if isinstance(subject, str) and subject else data.get("resourceUri")
    if not isinstance(resource, str) or not resource:
        raise InvalidRequest("The event has no subject or data.resourceUri naming the namespace.", field="subject")
    match = _NAMESPACE_ID.fullmatch(resource.strip())
    if match is None:
        raise InvalidRequest("The event's subject is not an Event Hubs namespace resource id.", field="subject")
    return NamespaceEvent("write" if kind == WRITE_SUCCESS else "delete", validate_namespace(match.group(1), "subject"))


def _event_time(event: func.EventGridEvent) -> datetime | None:
    when = event.event_time
    if not isinstance(when, datetime):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _event_body(event: func.EventGridEvent) -> tuple[str, str | None, Any]:
    """(event type, subject, data) with wrong types made harmless: a non-string type or subject is empty."""
    try:
        data = event.get_json()
    except ValueError:
        data = None
    event_type = event.event_type if isinstance(event.event_type, str) else ""
    subject = event.subject if isinstance(event.subject, str) else None
    return event_type, subject, data


def handle_namespace_event(event: func.EventGridEvent) -> None:
    """Create the connection for a created namespace; mark records of a deleted one."""
    event_type, subject, data = _event_body(event)
    what = f"event {event.id or '-'} ({event_type or 'no type'})"
    try:
        parsed = parse_namespace_event(event_type, subject, data)
        if parsed is None:
            log.info("%s ignored: not an Event Hubs namespace write or delete", what)
            return
        runtime = get_runtime()
        source = Source("event", event.id, _event_time(event))
        if parsed.action == "delete":
            changed = runtime.service.mark_namespace_deleted(parsed.namespace, source)
            log.info("%s: namespace %s deleted, %d record(s) marked", what, parsed.namespace, changed)
            return
        request = ConnectionRequest(namespace=parsed.namespace, sandbox=runtime.settings.default_sandbox)
        outcome = runtime.service.create_or_get(request, source)
    except ConnectorError as err:
        settle(err, what)
        return
    log_outcome(what, outcome)


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


def handle_secret_event(event: func.EventGridEvent) -> None:
    """Rotate, create (pending) or flag the connections behind a Key Vault secret."""
    event_type, subject, data = _event_body(event)
    what = f"event {event.id or '-'} ({event_type or 'no type'})"
    try:
        parsed = parse_secret_event(event_type, subject, data)
        if parsed is None:
            log.info("%s ignored: not a secret new-version or near-expiry event", what)
            return
        kind, secret_name = parsed
        runtime = get_runtime()
        source = Source("event", event.id)
        if kind == "near_expiry":
            flagged = runtime.secret_events.near_expiry(secret_name, source)
            log.info("%s: secret %s near expiry, %d record(s) flagged", what, secret_name, flagged)
            return
        changed = runtime.secret_events.new_version(secret_name, source)
    except ConnectorError as err:
        settle(err, what)
        return
    log.info("%s: secret %s, %d connection(s) created or rotated", what, secret_name, changed)
