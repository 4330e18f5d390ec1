"""`show`: one connection record with the dataflow records of its namespace (in its sandbox; of its event
hub only with `--event-hub`): a table, the errors and warnings in full, and the per-state summary; with
`--json`, the record with a `dataflows` list. A namespace without a namespace-wide connection but with
connections scoped to event hubs: the only one is shown (and the note says which), several are listed."""

from __future__ import annotations

import argparse
from typing import Any

from shared.errors import ConnectionNotFound
from shared.runtime import Runtime

from .console import Console
from .keys import add_key, connection_key
from .options import add_json
from .views import Record, kind, summary, table


def register(sub: Any) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = sub.add_parser("show", help="show one connection and its dataflows")
    add_key(command)
    add_json(command)
    command.set_defaults(run=run)
    return command


def run(args: argparse.Namespace, runtime: Runtime, console: Console) -> int:
    key = connection_key(args, runtime)
    try:
        record = runtime.service.get(key)
    except ConnectionNotFound:  # exit status 1, unless the namespace's connections are scoped
        scoped = (
            [] if key.event_hub else [r for r in runtime.records.list(key.sandbox, key.namespace) if r.key.event_hub]
        )
        if not scoped:
            raise
        if len(scoped) > 1:
            for line in table(list(scoped)):
                console.line(line)
            hubs = ", ".join(sorted(str(r.key.event_hub) for r in scoped))
            console.note(
                f"{key.namespace} has no namespace-wide connection; its connections are scoped to {hubs}: "
                "name one with --event-hub."
            )
            return 0
        record = scoped[0]
        key = record.key
        console.note(f"{key.namespace} has no namespace-wide connection; showing the one scoped to {key.event_hub}.")
    dataflows = [
        dataflow
        for dataflow in runtime.dataflows.records.list(sandbox=key.sandbox, namespace=key.namespace)
        if key.event_hub is None or dataflow.key.event_hub == key.event_hub
    ]
    if args.json:
        console.result({**record.to_json(), "dataflows": [d.to_json() for d in dataflows]}, indent=2)
        return 0
    records: list[Record] = [record, *dataflows]
    for line in table(records):
        console.line(line)
    if record.event_hubs is not None:
        console.line(f"event hubs: {', '.join(record.event_hubs) or 'none'}")
    for item in records:
        where = f"{kind(item)} {item.key}"
        if item.last_error is not None:
            console.line(f"{where}: last error {item.last_error.code}: {item.last_error.message}")
        warning = getattr(item, "warning", None)
        if warning is not None:
            console.line(f"{where}: warning {warning.code}: {warning.message}")
    console.line(summary(records))
    return 0
