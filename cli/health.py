"""`health`: every dataflow's health as its record holds it (status, records in/out/failed, hub
messages, since when); `--now` runs a health pass first. Exit 1 when any dataflow is `failing`,
`stalled` or `disabled` (for scheduled checks); with `--json`, one JSON line per dataflow."""

from __future__ import annotations

import argparse
from typing import Any

from shared.health_status import HealthStatus
from shared.models import State
from shared.models_base import iso
from shared.runtime import Runtime

from .console import Console
from .options import add_json
from .table import render

HEADERS = ("SANDBOX", "NAMESPACE", "EVENT HUB", "HEALTH", "IN", "OUT", "FAILED", "HUB MESSAGES", "SINCE", "MESSAGE")


def register(sub: Any) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = sub.add_parser("health", help="is data arriving? every dataflow's health")
    command.add_argument("--now", action="store_true", help="run a health pass first (reads Adobe and Azure Monitor)")
    add_json(command)
    command.set_defaults(run=run)
    return command


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def run(args: argparse.Namespace, runtime: Runtime, console: Console) -> int:
    if args.now:
        console.note(runtime.health().run().summary())
    records = sorted((r for r in runtime.dataflows.records.list() if r.state is State.READY), key=lambda r: r.key)
    unhealthy = 0
    rows = []
    for record in records:
        health = record.health
        if health is not None and health.status.unhealthy:
            unhealthy += 1
        if args.json:
            console.result(
                {
                    "namespace": record.key.namespace,
                    "sandbox": record.key.sandbox,
                    "eventHubName": record.key.event_hub,
                    "flowId": record.flow_id,
                    "health": health.to_json() if health else None,
                }
            )
            continue
        rows.append(
            (
                record.key.sandbox,
                record.key.namespace,
                record.key.event_hub or "",
                health.status.value if health else "not checked",
                _cell(health.records.records_in if health else None),
                _cell(health.records.records_out if health else None),
                _cell(health.records.failed if health else None),
                _cell(health.hub_messages if health else None),
                iso(health.since) if health else "-",
                (health.message[:60] if health else ""),
            )
        )
    if not args.json:
        for line in render(HEADERS, rows) if rows else ():
            console.line(line)
    bad = ", ".join(s.value for s in HealthStatus if s.unhealthy)
    console.note(f"{len(records)} ready dataflow(s), {unhealthy} unhealthy ({bad}).")
    return 1 if unhealthy else 0
