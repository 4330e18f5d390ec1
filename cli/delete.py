"""`delete`: mark one connection record `deleted`, after its dataflows, as a deleted namespace does; with
`--adobe` the dataflows' objects and then the connection are deleted in Adobe too (Adobe refuses to delete
a connection that flows use). The deletion itself is the core's, under the claim protocol.

`--dry-run` shows what would be deleted and changes nothing. `--adobe` asks before deleting on a terminal
(`--yes` answers for it; without a terminal `--yes` is required). Records already deleted (and, with
`--adobe`, already gone from Adobe) are left as they are, and the command says so."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from shared.dataflow_records import DataflowRecord
from shared.errors import InvalidRequest
from shared.models import Source
from shared.runtime import Runtime

from .console import Console
from .keys import add_key, connection_key
from .views import Record, kind, table


def register(sub: Any) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = sub.add_parser("delete", help="mark a connection (and its dataflows) deleted")
    add_key(command)
    command.add_argument("--adobe", action="store_true", help="also delete the dataflows and the connection in Adobe")
    command.add_argument("--yes", action="store_true", help="delete in Adobe without asking")
    command.add_argument("--dry-run", action="store_true", help="show what would be deleted; change nothing")
    command.set_defaults(run=run)
    return command


def run(args: argparse.Namespace, runtime: Runtime, console: Console) -> int:
    key = connection_key(args, runtime)
    current = runtime.service.get(key)  # ConnectionNotFound: exit status 1
    source = Source("cli")
    flow_records = [
        flow
        for flow in runtime.dataflows.records.list(sandbox=key.sandbox, namespace=key.namespace)
        if key.event_hub is None or flow.key.event_hub == key.event_hub
    ]
    flows = [flow.key for flow in flow_records]
    candidates: list[Record] = [current, *flow_records]
    to_do = [item for item in candidates if _to_delete(item, in_adobe=args.adobe)]
    where = "and in Adobe" if args.adobe else "records only, Adobe untouched"
    if not to_do:
        console.note(f"{key}: already deleted ({where}); nothing changed.")
        return 0
    if args.dry_run:
        for line in table(to_do):
            console.line(line)
        console.note(f"dry run: would delete {_described(to_do, in_adobe=args.adobe)} ({where}); nothing changed.")
        return 0
    if args.adobe and not args.yes and not _confirmed(console, f"Delete {_described(to_do, in_adobe=True)} in Adobe?"):
        console.note("not confirmed: nothing deleted.")
        return 1
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
    console.note(f"{key}: connection {record.state.value}, {len(dataflows)} dataflow(s) deleted ({where}).")
    return 1 if left else 0


def _to_delete(record: Record, *, in_adobe: bool) -> bool:
    """Whether deleting changes this record: not yet deleted, or (with Adobe) its objects still there."""
    return record.state.value != "deleted" or (in_adobe and _left_in_adobe(record))


def _described(records: list[Record], *, in_adobe: bool) -> str:
    """`the connection <id> and 2 dataflow(s) of prod/contoso-telemetry/-` (ids only when in Adobe)."""
    parts = []
    for item in records:
        ident = item.flow_id if isinstance(item, DataflowRecord) else item.connection_id
        parts.append(f"{kind(item)} {item.key}" + (f" ({ident})" if in_adobe and ident else ""))
    return ", ".join(parts)


def _confirmed(console: Console, question: str) -> bool:
    """Ask on the terminal; InvalidRequest (exit 2) when there is none to ask on."""
    if not sys.stdin.isatty():
        raise InvalidRequest("delete --adobe deletes in Adobe at once: add --yes to confirm (no terminal to ask on).")
    console.prompt(f"{question} [y/N] ")
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _left_in_adobe(record: Record) -> bool:
    """Whether the record's Adobe objects may still exist (a connection never created has none)."""
    return not record.adobe_deleted and (isinstance(record, DataflowRecord) or record.connection_id is not None)
