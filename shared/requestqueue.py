"""The request queue (`eventhubs-connection-requests`): delayed verify messages go back onto it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from . import telemetry
from .models import ConnectionKey
from .records import storage_errors

if TYPE_CHECKING:
    from azure.storage.queue import QueueClient

REQUESTS_QUEUE: Final = "eventhubs-connection-requests"


def verify_message(key: ConnectionKey) -> str:
    """The JSON text of `{"action": "verify", "namespace", "sandbox", "eventHubName"}`."""
    body: dict[str, Any] = {"action": "verify", "namespace": key.namespace, "sandbox": key.sandbox}
    if key.event_hub:
        body["eventHubName"] = key.event_hub
    return json.dumps(body, separators=(",", ":"))


class RequestQueue:
    """Puts messages on the request queue (delayed verifies, reconcile creates); the client is built on first use."""

    def __init__(self, make_client: Callable[[], QueueClient]) -> None:
        self._make_client = make_client
        self._client: QueueClient | None = None
        self._lock = threading.Lock()
        self.sent = 0

    def _queue(self) -> QueueClient:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def schedule(self, key: ConnectionKey, delay: float) -> None:
        self.send(verify_message(key), delay=delay)

    def send(self, text: str, *, delay: float = 0) -> None:
        """Put one JSON message on the request queue (visible after `delay` seconds)."""
        from azure.core.exceptions import ResourceNotFoundError

        queue = self._queue()
        for attempt in (1, 2):
            try:
                with (
                    telemetry.span("Queue send_message", {"messaging.destination.name": REQUESTS_QUEUE}),
                    storage_errors(),
                ):
                    queue.send_message(text, visibility_timeout=max(0, round(delay)) or None)
                self.sent += 1
                return
            except ResourceNotFoundError:
                if attempt == 2:
                    raise
                with storage_errors():
                    try:
                        queue.create_queue()
                    except Exception as err:  # ResourceExistsError: created meanwhile
                        if type(err).__name__ != "ResourceExistsError":
                            raise
