"""Connection and dataflow records as table rows (for `list`, `show` and `delete`), and the per-state summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Final

from shared.dataflow_records import DataflowRecord
from shared.models import ConnectionRecord, State

from .table import render

Record = ConnectionRecord | DataflowRecord
HEADERS: Final = ("KIND", "NAMESPACE", "SANDBOX", "EVENT HUB", "STATE", "CONNECTION ID", "FLOW ID", "UPDATED", "ERROR")
NONE: Final = "-"


def kind(record: Record) -> str:
    return "dataflow" if isinstance(record, DataflowRecord) else "connection"


def row(record: Record) -> tuple[str, ...]:
    flow = record.flow_id if isinstance(record, DataflowRecord) else None
    return (
        kind(record),
        record.key.namespace,
        record.key.sandbox,
        record.key.event_hub or NONE,
        record.state.value,
        record.connection_id or NONE,
        flow or NONE,
        _when(record.updated_at),
        record.last_error.code if record.last_error else NONE,
    )


def table(records: Iterable[Record]) -> list[str]:
    """The records' table; the FLOW ID column only when a dataflow is among them."""
    listed = list(records)
    rows = [row(record) for record in listed]
    if not any(isinstance(record, DataflowRecord) for record in listed):
        flow = HEADERS.index("FLOW ID")
        return render(HEADERS[:flow] + HEADERS[flow + 1 :], [r[:flow] + r[flow + 1 :] for r in rows])
    return render(HEADERS, rows)


def summary(records: Iterable[Record]) -> str:
    """`3 ready, 1 failed, 1 pending_secret` (states in lifecycle order), or `no records`."""
    counts = Counter(record.state for record in records)
    return ", ".join(f"{counts[state]} {state.value}" for state in State if counts[state]) or "no records"


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
