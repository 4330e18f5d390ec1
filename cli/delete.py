"""`delete`: mark one connection record `deleted`, after its dataflows, as a deleted namespace does; with
`--adobe` the dataflows' objects and then the connection are deleted in Adobe too (Adobe refuses to delete
a connection that flows use). The deletion itself is the core's, under the claim protocol."""

from __future__ import annotations

import argparse
from typing import Any

from shared.dataflow_records import DataflowRecord
from shared.models import Source
from shared.runtime import Runtime

from .console import Console
from .keys import add_key, connection_key
from .views import Record, kind, table


def register(sub: Any) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = sub.add_parser("delete", help="mark a connection (and its dataflows) deleted")
    add_key(command)
    command.add_argument("--adobe", action="store_true", help="also delete the dataflows and the connection in Adobe")
    command.set_defaults(run=run)
    return command


def run(args: argparse.Namespace, runtime: Runtime, console: Console) -> int:
    key = connection_key(args, runtime)
    runtime.service.get(key)  # ConnectionNotFound: exit status 1
    source = Source("cli")
    flows = [
        flow.key
        for flow in runtime.dataflows.records.list(sandbox=key.sandbox, namespace=key.namespace)
        if key.event_hub is None or flow.key.event_hub == key.event_hub
    ]
    for flow_key in flows:  # first: Adobe refuses to delete a connection used by flows (1418-400)
        runtime.dataflows.tear_down(flow_key, source, in_adobe=args.adobe)
    runtime.service.mark_deleted(key, source, in_adobe=args.adobe)
    record = runtime.service.get(key)
    dataflows = [runtime.dataflows.get(flow_key) for flow_key in flows]
    records: list[Record] = [record, *dataflows]
    for line in table(records):
        console.line(line)
    left = [item for item in records if args.adobe and _left_in_adobe(item)]
    for item in left:
        error = f"{item.last_error.code}: {item.last_error.message}" if item.last_error else "not deleted"
        console.note(f"error: {kind(item)} {item.key} is still in Adobe: {error}")
    where = "and in Adobe" if args.adobe else "records only, Adobe untouched"
    console.note(f"{key}: connection {record.state.value}, {len(dataflows)} dataflow(s) deleted ({where}).")
    return 1 if left else 0


def _left_in_adobe(record: Record) -> bool:
    """Whether the record's Adobe objects may still exist (a connection never created has none)."""
    return not record.adobe_deleted and (isinstance(record, DataflowRecord) or record.connection_id is not None)
