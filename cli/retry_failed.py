"""`retry-failed`: put every `failed` record whose cause a retry can help back on the request queue (a
create, or a dataflow, message: handled by `create_connection_queue` under the claim protocol). Whether
a retry can help is the error code's, as the queue decides it (`shared.errors.retryable`)."""

from __future__ import annotations

import argparse
from typing import Any

from shared.dataflow_records import DataflowRecord
from shared.errors import retryable
from shared.models import State
from shared.runtime import Runtime

from .console import Console
from .listing import KINDS
from .messages import create_message, dataflow_message
from .table import render
from .views import NONE, Record, kind

HEADERS = ("ACTION", "KIND", "NAMESPACE", "SANDBOX", "EVENT HUB", "ERROR", "WHY")


def register(sub: Any) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = sub.add_parser(
        "retry-failed", help="queue every failed record whose cause a retry can help"
    )
    command.add_argument("--dry-run", action="store_true", help="report only: queue nothing")
    command.add_argument("--kind", choices=KINDS, help="only connections or only dataflows")
    command.set_defaults(run=run)
    return command


def run(args: argparse.Namespace, runtime: Runtime, console: Console) -> int:
    records: list[Record] = []
    if args.kind in (None, "connection"):
        records.extend(runtime.records.list())
    if args.kind in (None, "dataflow"):
        records.extend(runtime.dataflows.records.list())
    rows, queued = [], 0
    for record in (r for r in records if r.state is State.FAILED):
        code = record.last_error.code if record.last_error is not None else None
        verdict = retryable(code) if code is not None else None
        if verdict:
            if not args.dry_run:
                runtime.verifies.send(_message(record))
            queued += 1
            action, why = ("would queue" if args.dry_run else "queued"), "a retry can help"
        else:
            action = "left"
            why = "permanent: fix the cause" if verdict is False else "no known error code"
        key = record.key
        rows.append((action, kind(record), key.namespace, key.sandbox, key.event_hub or NONE, code or NONE, why))
    for line in render(HEADERS, rows) if rows else ():
        console.line(line)
    verb = "would be queued" if args.dry_run else "queued"
    console.line(f"{queued} {verb}, {len(rows) - queued} left failed (of {len(rows)} failed record(s)).")
    return 0


def _message(record: Record) -> str:
    if isinstance(record, DataflowRecord):
        return dataflow_message(record.request())
    return create_message(record.request())
