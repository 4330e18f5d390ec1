"""Notifications for downstream automation: one JSON message per record change."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol

from . import telemetry
from .errors import ConnectorError
from .logs import log
from .models import ConnectionKey
from .sensitive import scrub

if TYPE_CHECKING:
    from azure.storage.queue import QueueClient


class Publishable(Protocol):
    """A record that can be announced: a connection or a dataflow."""

    @property
    def key(self) -> ConnectionKey: ...

    def to_json(self) -> dict[str, Any]: ...


class EventPublisher(Protocol):
    """Publishes `{"event", "record", "error"?}` messages."""

    def publish(self, event: str, record: Publishable, error: ConnectorError | None = None) -> None:
        """Send one notification; never raises (the record is the source of truth)."""
        ...


def notification(event: str, record: Publishable, error: ConnectorError | None = None) -> str:
    """The JSON text of one notification."""
    body: dict[str, object] = {"event": event, "record": record.to_json()}
    if error is not None:
        body["error"] = error.to_body()["error"]
    return scrub(json.dumps(body, separators=(",", ":")))


class QueueEventPublisher:
    """Puts notifications on the CONNECTION_EVENTS_QUEUE storage queue as plain JSON text."""

    def __init__(self, queue: QueueClient) -> None:
        self._queue = queue
        self.sent = 0

    def publish(self, event: str, record: Publishable, error: ConnectorError | None = None) -> None:
        from azure.core.exceptions import AzureError

        try:
            self._queue.send_message(notification(event, record, error))
            self.sent += 1
        except AzureError as err:
            log.error("Could not queue the %r notification for %s: %s", event, record.key, type(err).__name__)


class NoEvents:
    """The publisher when CONNECTION_EVENTS_QUEUE is not set."""

    def publish(self, event: str, record: Publishable, error: ConnectorError | None = None) -> None:
        return None


class CountedEvents:
    """Counts every notification of the core (created, failed by code, rotated, deleted) before publishing it."""

    def __init__(self, inner: EventPublisher) -> None:
        self.inner = inner

    def publish(self, event: str, record: Publishable, error: ConnectorError | None = None) -> None:
        telemetry.count_event(event, error.code if error else None, record.key.sandbox)
        self.inner.publish(event, record, error)
