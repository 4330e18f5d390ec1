"""The value types every record shares: auth type, state, last error."""

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
