"""`list`: connection records, then dataflow records, filtered by sandbox, namespace, state and kind: a
table and the per-state summary; with `--json`, one JSON line each (dataflows marked
`"kind": "dataflow"`) and the counts on stderr."""

from __future__ import annotations

import argparse
from typing import Any, Final

from shared.models import State
from shared.runtime import Runtime

from .console import Console
from .keys import optional_namespace, optional_sandbox
from .options import add_json
from .views import Record, kind, summary, table

KINDS: Final = ("connection", "dataflow")


def register(sub: Any) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = sub.add_parser("list", help="list connection and dataflow records")
    command.add_argument("--sandbox", help="only this sandbox")
    command.add_argument("--namespace", help="only this namespace")
    command.add_argument("--state", choices=[state.value for state in State], help="only records in this state")
    command.add_argument("--kind", choices=KINDS, help="only connections or only dataflows")
    add_json(command)
    command.set_defaults(run=run)
    return command


def _order(record: Record) -> tuple[int, str, str, str]:
    """Connections, then dataflows; each by sandbox, namespace and event hub as text (so `ns-1` before
    `ns-10`: the table's row keys put `ns-10|` first, since `0` sorts before `|`)."""
    return (KINDS.index(kind(record)), record.key.sandbox, record.key.namespace, record.key.event_hub or "")


def run(args: argparse.Namespace, runtime: Runtime, console: Console) -> int:
    sandbox, namespace = optional_sandbox(args.sandbox), optional_namespace(args.namespace)
    records: list[Record] = []
    if args.kind in (None, "connection"):
        records.extend(runtime.records.list(sandbox=sandbox, namespace=namespace))
    if args.kind in (None, "dataflow"):
        records.extend(runtime.dataflows.records.list(sandbox=sandbox, namespace=namespace))
    records = [record for record in records if not args.state or record.state.value == args.state]
    records.sort(key=_order)
    if not args.json:
        for line in table(records) if records else ():
            console.line(line)
        console.line(summary(records))
        return 0
    counts = dict.fromkeys(KINDS, 0)
    for record in records:
        counts[kind(record)] += 1
        console.result({"kind": "dataflow", **record.to_json()} if kind(record) == "dataflow" else record.to_json())
    console.note(f"{len(records)} record(s): {counts['connection']} connection(s), {counts['dataflow']} dataflow(s).")
    return 0
