"""Value types shared by the core and the adapters."""

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
class LastError:
    """The last failure recorded on a connection."""

    code: str
    message: str
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "at": _iso(self.at)}


@dataclass(frozen=True)
class ConnectionRecord:
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

    def request(self) -> ConnectionRequest:
        """The request that identifies this record's connection (to create it again)."""
        return ConnectionRequest(
            namespace=self.key.namespace,
            sandbox=self.key.sandbox,
            event_hub=self.key.event_hub,
            auth_type=self.auth_type,
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
            "createdAt": _iso(self.created_at),
            "updatedAt": _iso(self.updated_at),
            "lastError": self.last_error.to_json() if self.last_error else None,
        }
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


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
