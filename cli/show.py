"""`show`: one connection record, with the dataflow records of its namespace (in its sandbox; of its
event hub only with `--event-hub`) as `dataflows`."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from shared.runtime import Runtime

from .keys import connection_key
from .output import emit


def register(sub: Any) -> None:
    command: argparse.ArgumentParser = sub.add_parser("show", help="show one connection and its dataflows")
    command.add_argument("namespace")
    command.add_argument("--sandbox")
    command.add_argument("--event-hub")
    command.set_defaults(run=run)


def run(args: argparse.Namespace, runtime: Runtime, out: TextIO, err: TextIO) -> int:
    key = connection_key(args, runtime)
    record = runtime.service.get(key)  # ConnectionNotFound: exit status 1
    dataflows = [
        dataflow.to_json()
        for dataflow in runtime.dataflows.records.list(sandbox=key.sandbox, namespace=key.namespace)
        if key.event_hub is None or dataflow.key.event_hub == key.event_hub
    ]
    emit(out, {**record.to_json(), "dataflows": dataflows}, indent=2)
    return 0
