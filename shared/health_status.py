"""A dataflow's health as its record holds it: the status, since when, over which window, and why."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from .models_base import iso
from .sensitive import scrub


class HealthStatus(StrEnum):
    """The contract's statuses, in precedence order after `unknown`."""

    HEALTHY = "healthy"
    FAILING = "failing"
    STALLED = "stalled"
    DISABLED = "disabled"
    UNKNOWN = "unknown"

    @property
    def unhealthy(self) -> bool:
        """What pages an operator (and makes `cli health` exit 1)."""
        return self in (HealthStatus.FAILING, HealthStatus.STALLED, HealthStatus.DISABLED)


@dataclass(frozen=True)
class RecordCounts:
    """Adobe's records over the window: in, out, failed (None when Adobe listed no run)."""

    records_in: int | None = None
    records_out: int | None = None
    failed: int | None = None


@dataclass(frozen=True)
class Health:
    """`health` of a dataflow record. `alerted` is the last status an alert was decided on (never
    `unknown`): a change against it publishes; it is bookkeeping, not part of the contract's JSON."""

    status: HealthStatus
    checked_at: datetime
    since: datetime
    window_from: datetime
    window_to: datetime
    records: RecordCounts
    hub_messages: int | None
    message: str
    alerted: HealthStatus | None = None
    reenabled_at: datetime | None = None
    #: Ids of the last I/O Events deliveries applied (at-least-once delivery: a repeat changes nothing).
    event_ids: tuple[str, ...] = ()

    def with_event(self, event_id: str, keep: int = 20) -> Health:
        return replace(self, event_ids=(*self.event_ids, event_id)[-keep:])

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": self.status.value,
            "checkedAt": iso(self.checked_at),
            "since": iso(self.since),
            "window": {"from": iso(self.window_from), "to": iso(self.window_to)},
            "records": {"in": self.records.records_in, "out": self.records.records_out, "failed": self.records.failed},
            "hubMessages": self.hub_messages,
            "message": self.message,
        }
        if self.reenabled_at is not None:
            body["reenabledAt"] = iso(self.reenabled_at)
        return body

    def to_column(self) -> str:
        """The one Table column the health is kept in (JSON; the message scrubbed once more)."""
        body = self.to_json()
        body["message"] = scrub(self.message)
        body["alerted"] = self.alerted.value if self.alerted else None
        body["eventIds"] = list(self.event_ids)
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def from_column(cls, text: str) -> Health | None:
        """The health kept in a Table column; None when it cannot be read (it is checked again)."""
        try:
            body = json.loads(text)
            records = body.get("records") or {}
            return cls(
                status=HealthStatus(body["status"]),
                checked_at=_time(body["checkedAt"]),
                since=_time(body["since"]),
                window_from=_time(body["window"]["from"]),
                window_to=_time(body["window"]["to"]),
                records=RecordCounts(records.get("in"), records.get("out"), records.get("failed")),
                hub_messages=body.get("hubMessages"),
                message=str(body.get("message") or ""),
                alerted=HealthStatus(body["alerted"]) if body.get("alerted") else None,
                reenabled_at=_time(body["reenabledAt"]) if body.get("reenabledAt") else None,
                event_ids=tuple(str(i) for i in body.get("eventIds") or ()),
            )
        except (ValueError, KeyError, TypeError):
            return None


def _time(text: str) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
