"""`create`: the connection of one namespace, or of every line of a file (a backfill)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

from shared.errors import ConnectorError, InvalidRequest
from shared.models import ConnectionRequest, Source
from shared.payloads import parse_request
from shared.runtime import Runtime

from .batch import run_batch
from .inputs import parse_file
from .options import add_workers


def register(sub: Any) -> None:
    command: argparse.ArgumentParser = sub.add_parser("create", help="create (or find) connections")
    command.add_argument("namespace", nargs="?")
    command.add_argument("--file", help="one namespace (or JSON request) per line")
    add_workers(command)
    command.add_argument("--auth-type", choices=("sas", "aad"))
    command.add_argument("--sandbox")
    command.add_argument("--event-hub")
    command.set_defaults(run=run)


def run(args: argparse.Namespace, runtime: Runtime, out: TextIO, err: TextIO) -> int:
    sandbox = runtime.settings.default_sandbox
    overrides = {
        k: v
        for k, v in (("sandbox", args.sandbox), ("eventHubName", args.event_hub), ("authType", args.auth_type))
        if v
    }
    if args.file:
        # A line is a namespace name (the options apply) or a JSON request object (taken as it is).
        requests = parse_file(
            Path(args.file),
            lambda text: parse_request(
                json.loads(text) if text.startswith("{") else {"namespace": text, **overrides}, sandbox
            ),
        )
    elif args.namespace:
        requests = [parse_request({"namespace": args.namespace, **overrides}, sandbox)]
    else:
        raise InvalidRequest("create needs a namespace or --file.")
    return run_batch(requests, lambda request: _create_one(runtime, request), args.workers, out, err)


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
