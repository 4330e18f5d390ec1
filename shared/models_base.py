"""The value types every record shares: its key, auth type, state, last error, and where a request came from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class AuthType(StrEnum):
    """How Adobe authenticates to the namespace."""

    SAS = "sas"
    AAD = "aad"


class State(StrEnum):
    """The lifecycle state of a connection record."""

    CREATING = "creating"
    READY = "ready"
    PENDING_SECRET = "pending_secret"
    FAILED = "failed"
    DELETED = "deleted"


@dataclass(frozen=True)
class LastError:
    """The last failure recorded on a connection."""

    code: str
    message: str
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "at": iso(self.at)}


@dataclass(frozen=True)
class Warning:
    """Something the record's owner should fix that does not make it fail (e.g. `EventHubsNotListed`)."""

    code: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, order=True)
class ConnectionKey:
    """What identifies one connection: sandbox, lowercase namespace, lowercase event hub or None."""

    sandbox: str
    namespace: str
    event_hub: str | None = None

    @property
    def partition_key(self) -> str:
        return self.sandbox

    @property
    def row_key(self) -> str:
        # '|' never occurs in a namespace or an event hub name, and is legal in a RowKey.
        return f"{self.namespace}|{self.event_hub or ''}"

    @property
    def connection_name(self) -> str:
        """The deterministic Adobe connection name, used to find it again after a crash."""
        suffix = f" {self.event_hub}" if self.event_hub else ""
        return f"Azure Event Hubs {self.namespace}{suffix}"

    def __str__(self) -> str:
        return f"{self.sandbox}/{self.namespace}/{self.event_hub or '-'}"


@dataclass(frozen=True)
class Source:
    """Where a request came from, for records and logs: kind (http/queue/event) and message id."""

    kind: str
    id: str | None = None
    #: When the event happened (Event Grid `eventTime`): an event older than one applied changes nothing.
    event_time: datetime | None = None
    #: The namespace's Azure resource id, when the event (or listing) that asked showed it.
    resource_id: str | None = None

    @property
    def is_event(self) -> bool:
        """Nobody waits for the answer (an Event Grid event, or a namespace a reconcile found): a namespace
        without its secret yet is recorded `pending_secret`, not failed."""
        return self.kind in ("event", "reconcile")

    def describe(self) -> str:
        return f"{self.kind} {self.id or '-'}"
