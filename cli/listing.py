"""`list`: connection records (one JSON line each, as stored), then dataflow records (marked
`"kind": "dataflow"`), filtered by sandbox, namespace, state and kind."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from shared.models import State
from shared.runtime import Runtime

from .keys import optional_namespace, optional_sandbox
from .output import emit

KINDS = ("connection", "dataflow")


def register(sub: Any) -> None:
    command: argparse.ArgumentParser = sub.add_parser("list", help="list connection and dataflow records")
    command.add_argument("--sandbox")
    command.add_argument("--namespace")
    command.add_argument("--state", choices=[state.value for state in State])
    command.add_argument("--kind", choices=KINDS, help="only connections or only dataflows")
    command.set_defaults(run=run)


def run(args: argparse.Namespace, runtime: Runtime, out: TextIO, err: TextIO) -> int:
    sandbox, namespace = optional_sandbox(args.sandbox), optional_namespace(args.namespace)
    counts = dict.fromkeys(KINDS, 0)
    if args.kind in (None, "connection"):
        for record in runtime.records.list(sandbox=sandbox, namespace=namespace):
            if not args.state or record.state.value == args.state:
                emit(out, record.to_json())
                counts["connection"] += 1
    if args.kind in (None, "dataflow"):
        for dataflow in runtime.dataflows.records.list(sandbox=sandbox, namespace=namespace):
            if not args.state or dataflow.state.value == args.state:
                emit(out, {"kind": "dataflow", **dataflow.to_json()})
                counts["dataflow"] += 1
    err.write(
        f"{sum(counts.values())} record(s): {counts['connection']} connection(s), {counts['dataflow']} dataflow(s).\n"
    )
    return 0
