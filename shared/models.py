"""Value types shared by the core and the adapters."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from .lifecycle import Lifecycle
from .models_base import AuthType, ConnectionKey, LastError, Source, State, Warning, iso

_SUBSCRIPTION: Final = re.compile(r"/subscriptions/([^/]+)/", re.IGNORECASE)


def subscription_of(resource_id: str | None) -> str | None:
    """The lowercase subscription id in an Azure resource id, or None."""
    match = _SUBSCRIPTION.match(resource_id or "")
    return match.group(1).lower() if match else None


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
    #: The namespace's Azure resource id, as a Resource Graph listing or an Event Grid event last showed it.
    resource_id: str | None = None

    @property
    def subscription_id(self) -> str | None:
        """The subscription the namespace was last seen in (None: never seen by a listing or an event)."""
        return subscription_of(self.resource_id)

    def applied(self, source: Source) -> ConnectionRecord:
        """The record noting the event's time and where the event showed its namespace."""
        return super().applied(source).seen_at(source.resource_id)

    def seen_at(self, resource_id: str | None) -> ConnectionRecord:
        """The record noting where a listing or an event showed its namespace."""
        if resource_id is None or resource_id == self.resource_id:
            return self
        return replace(self, resource_id=resource_id)

    def explored(self, event_hubs: tuple[str, ...] | None, warning: Warning | None) -> ConnectionRecord:
        """The record with what explore listed (or the warning that says why it could not)."""
        return replace(self, event_hubs=event_hubs, warning=warning)

    # -- named transitions (each returns the new record) -------------------------------------------

    def completed(
        self,
        connection_id: str,
        etag: str | None,
        *,
        secret_version: str | None,
        now: datetime,
        name: str | None = None,
    ) -> ConnectionRecord:
        """`ready` with the Adobe connection (under `name` when one was found under another, made by hand); the
        claim is released."""
        return replace(
            self,
            name=name or self.name,
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
class Outcome:
    """What the service returns for a create: the record, and whether this call created it."""

    record: ConnectionRecord
    created: bool
