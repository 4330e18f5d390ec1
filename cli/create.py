"""`create`: the connection of one namespace, or of every line of a file (a backfill)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Final

from shared.errors import ConnectorError, InvalidRequest
from shared.models import ConnectionRequest, Source
from shared.payloads import parse_request
from shared.runtime import Runtime

from .batch import run_batch
from .console import Console
from .inputs import parse_file
from .options import add_json, add_workers, named_by_option

#: request field (as in POST /api/connections) -> the option (or argument) that fills it in.
OPTIONS: Final = {
    "namespace": "NAMESPACE",
    "sandbox": "--sandbox",
    "eventHubName": "--event-hub",
    "authType": "--auth-type",
    "name": "--name",
    "description": "--description",
}


def register(sub: Any) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = sub.add_parser("create", help="create (or find) connections")
    command.add_argument("namespace", metavar="NAMESPACE", nargs="?", help="the Event Hubs namespace")
    command.add_argument("--file", help="one namespace (or JSON request) per line; the options apply to namespaces")
    add_workers(command)
    add_json(command, "JSON lines on a terminal too (they are what a pipe or file gets)")
    command.add_argument("--auth-type", choices=("sas", "aad"), help="how Adobe authenticates (default: sas)")
    command.add_argument("--sandbox", help="the Platform sandbox (default: the app's default sandbox)")
    command.add_argument("--event-hub", help="scope the connection to one event hub")
    command.add_argument("--name", help="the connection's name in Adobe (default: Azure Event Hubs <namespace>)")
    command.add_argument("--description", help="the connection's description in Adobe")
    command.set_defaults(run=run)
    return command


def run(args: argparse.Namespace, runtime: Runtime, console: Console) -> int:
    sandbox = runtime.settings.default_sandbox
    given = {
        "sandbox": args.sandbox,
        "eventHubName": args.event_hub,
        "authType": args.auth_type,
        "name": args.name,
        "description": args.description,
    }
    overrides = {field: value for field, value in given.items() if value is not None}
    if args.file and args.namespace:
        raise InvalidRequest("create takes a NAMESPACE or --file, not both.")
    if args.file:
        if args.name is not None:
            # Adobe finds a connection again by its name: one name for many namespaces would mix them up.
            raise InvalidRequest('--name names one connection: give it with a NAMESPACE, or as "name" in a JSON line.')
        # A line is a namespace name (the options apply) or a JSON request object (taken as it is).
        requests = parse_file(
            Path(args.file),
            lambda text: parse_request(
                json.loads(text) if text.startswith("{") else {"namespace": text, **overrides}, sandbox
            ),
        )
    elif args.namespace:
        try:
            requests = [parse_request({"namespace": args.namespace, **overrides}, sandbox)]
        except InvalidRequest as err:
            raise named_by_option(err, OPTIONS) from None
    else:
        raise InvalidRequest("create needs a NAMESPACE or --file.")
    as_json = True if args.json else None  # else JSON lines only when stdout is not a terminal
    return run_batch(requests, lambda request: _create_one(runtime, request), args.workers, console, as_json=as_json)


def _create_one(runtime: Runtime, request: ConnectionRequest) -> dict[str, Any]:
    try:
        outcome = runtime.service.create_or_get(request, Source("cli"))
    except ConnectorError as err:
        return {
            "namespace": request.namespace,
            "sandbox": request.sandbox,
            "eventHubName": request.event_hub,
            **err.to_body(),
        }
    return outcome.record.to_json(created=outcome.created)
