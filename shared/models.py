"""Value types shared by the core and the adapters."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from .lifecycle import Lifecycle
from .models_base import AuthType, LastError, State, Warning, iso

__all__ = [
    "AuthType",
    "ConnectionKey",
    "ConnectionRecord",
    "ConnectionRequest",
    "LastError",
    "Outcome",
    "Source",
    "State",
    "Warning",
]


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
class ConnectionRequest:
    """One validated request to create (or return) a connection."""

    namespace: str
    sandbox: str
    event_hub: str | None = None
    auth_type: AuthType = AuthType.SAS
    name: str | None = None
    description: str | None = None

    @property
    def key(self) -> ConnectionKey:
        return ConnectionKey(self.sandbox, self.namespace, self.event_hub)


@dataclass(frozen=True)
class ConnectionRecord(Lifecycle):
    """The stored record of one connection, as the contract shows it."""

    key: ConnectionKey
    state: State
    auth_type: AuthType
    name: str
    created_at: datetime
    updated_at: datetime
    connection_id: str | None = None
    etag: str | None = None
    last_error: LastError | None = None
    secret_name: str | None = None
    secret_version: str | None = None
    source_id: str | None = None
    near_expiry: bool = False
    verified_at: datetime | None = None
    adobe_deleted: bool = False
    # Bookkeeping of the claim (not part of the contract's record).
    lease_until: datetime | None = None
    owner: str | None = None
    may_exist: bool = False
    last_event_at: datetime | None = None
    #: The request's description (given to Adobe), kept so that a retry or a re-create sends it again.
    description: str | None = None
    #: Recorded by reconcile from what Adobe held (storage was lost): objects made on this connection (a
    #: dataflow's source, target and flow) may exist without a record, so they are looked up before a create.
    adopted: bool = False
    #: The event hubs Flow Service explore listed (None: not listed); `warning` says why not.
    event_hubs: tuple[str, ...] | None = None
    warning: Warning | None = None
    #: The namespace's Azure resource id, as Resource Graph or an Event Grid event showed it (health
    #: reads the hubs' traffic with it); None until one is noted.
    resource_id: str | None = None

    def explored(self, event_hubs: tuple[str, ...] | None, warning: Warning | None) -> ConnectionRecord:
        """The record with what explore listed (or the warning that says why it could not)."""
        return replace(self, event_hubs=event_hubs, warning=warning)

    # -- named transitions (each returns the new record) -------------------------------------------

    def completed(
        self, connection_id: str, etag: str | None, *, secret_version: str | None, now: datetime
    ) -> ConnectionRecord:
        """`ready` with the Adobe connection; the claim is released."""
        return replace(
            self,
            state=State.READY,
            connection_id=connection_id,
            etag=etag,
            secret_version=secret_version,
            updated_at=now,
            verified_at=now,
            last_error=None,
            lease_until=None,
            owner=None,
            may_exist=False,
            adobe_deleted=False,
        )

    def request(self) -> ConnectionRequest:
        """The request that identifies this record's connection (to create it again)."""
        return ConnectionRequest(
            namespace=self.key.namespace,
            sandbox=self.key.sandbox,
            event_hub=self.key.event_hub,
            auth_type=self.auth_type,
            name=self.name if self.name != self.key.connection_name else None,
            description=self.description,
        )

    def to_json(self, *, created: bool | None = None) -> dict[str, Any]:
        """The contract's record shape, plus `created` when given."""
        body: dict[str, Any] = {
            "connectionId": self.connection_id,
            "etag": self.etag,
            "namespace": self.key.namespace,
            "sandbox": self.key.sandbox,
            "eventHubName": self.key.event_hub,
            "authType": self.auth_type.value,
            "state": self.state.value,
            "name": self.name,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "lastError": self.last_error.to_json() if self.last_error else None,
        }
        if self.event_hubs is not None:
            body["eventHubs"] = list(self.event_hubs)
        if self.warning is not None:
            body["warning"] = self.warning.to_json()
        if self.secret_version is not None:
            body["secretVersion"] = self.secret_version
        if self.near_expiry:
            body["secretNearExpiry"] = True
        if created is not None:
            body["created"] = created
        return body


@dataclass(frozen=True)
class Source:
    """Where a request came from, for records and logs: kind (http/queue/event) and message id."""

    kind: str
    id: str | None = None
    #: When the event happened (Event Grid `eventTime`): an event older than one applied changes nothing.
    event_time: datetime | None = None

    @property
    def is_event(self) -> bool:
        """Nobody waits for the answer (an Event Grid event, or a namespace a reconcile found): a namespace
        without its secret yet is recorded `pending_secret`, not failed."""
        return self.kind in ("event", "reconcile")

    def describe(self) -> str:
        return f"{self.kind} {self.id or '-'}"


@dataclass(frozen=True)
class Outcome:
    """What the service returns for a create: the record, and whether this call created it."""

    record: ConnectionRecord
    created: bool
