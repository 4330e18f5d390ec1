"""`dataflow`: the dataflow of one event hub into a dataset, or of every line of a file (JSON lines,
the body of POST /api/dataflows each); with `--file` the options fill in what a line leaves out."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Final

from shared.dataflow_records import DataflowRequest
from shared.errors import ConnectorError, InvalidRequest
from shared.models import Source
from shared.payloads import parse_dataflow_request
from shared.runtime import Runtime
from shared.settings import DataflowDefaults

from .batch import run_batch
from .console import Console
from .inputs import parse_file
from .options import add_json, add_workers, named_by_option

#: option -> (request field as in POST /api/dataflows, choices, help).
OPTIONS: Final[dict[str, tuple[str, tuple[str, ...] | None, str]]] = {
    "--namespace": ("namespace", None, "the Event Hubs namespace"),
    "--event-hub": ("eventHubName", None, "the event hub to read"),
    "--dataset": ("datasetId", None, "the Platform dataset to write (default: DATAFLOW_DATASET_ID)"),
    "--sandbox": ("sandbox", None, "the Platform sandbox (default: the app's default sandbox)"),
    "--data-type": ("dataType", ("xdm", "raw"), "what the events are (default: DATAFLOW_DATA_TYPE)"),
    "--consumer-group": ("consumerGroup", None, "the consumer group to read with (default: DATAFLOW_CONSUMER_GROUP)"),
    "--reset": ("reset", ("earliest", "latest"), "where a new flow starts reading (default: DATAFLOW_RESET)"),
    "--mapping-id": ("mappingId", None, "a Data Prep mapping set id (required with --data-type raw)"),
    "--name": ("name", None, "the flow's name (default: a deterministic one)"),
}


def _dest(option: str) -> str:
    return option.removeprefix("--").replace("-", "_")


def register(sub: Any) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = sub.add_parser("dataflow", help="create (or find) dataflows into datasets")
    command.add_argument("--file", help="one JSON dataflow request per line (the options fill in missing fields)")
    add_workers(command)
    add_json(command, "JSON lines on a terminal too (they are what a pipe or file gets)")
    for option, (_, choices, text) in OPTIONS.items():
        command.add_argument(option, choices=choices, help=text)
    command.set_defaults(run=run)
    return command


def run(args: argparse.Namespace, runtime: Runtime, console: Console) -> int:
    given = {field: value for option, (field, *_) in OPTIONS.items() if (value := getattr(args, _dest(option)))}
    defaults = runtime.settings.dataflow_defaults
    if args.file:
        if "name" in given:
            # Adobe finds a flow again by its name: one name for many flows would mix them up.
            raise InvalidRequest('--name names one flow: give it without --file, or as "name" in a JSON line.')
        requests = parse_file(Path(args.file), lambda text: _from_line(text, given, defaults))
    elif "namespace" in given or "eventHubName" in given:
        requests = [_from_options(given, defaults)]
    else:
        raise InvalidRequest("dataflow needs --namespace and --event-hub (and --dataset), or --file.")
    as_json = True if args.json else None  # else JSON lines only when stdout is not a terminal
    return run_batch(requests, lambda request: _create_one(runtime, request), args.workers, console, as_json=as_json)


def _from_line(text: str, given: dict[str, str], defaults: DataflowDefaults) -> DataflowRequest:
    body = json.loads(text)
    return parse_dataflow_request({**given, **body} if isinstance(body, dict) else body, defaults)


def _from_options(given: dict[str, str], defaults: DataflowDefaults) -> DataflowRequest:
    try:
        return parse_dataflow_request(given, defaults)
    except InvalidRequest as err:
        raise named_by_option(err, {field: option for option, (field, *_) in OPTIONS.items()}) from None


def _create_one(runtime: Runtime, request: DataflowRequest) -> dict[str, Any]:
    try:
        outcome = runtime.dataflows.create_or_get(request, Source("cli"))
    except ConnectorError as err:
        return {
            "namespace": request.namespace,
            "sandbox": request.sandbox,
            "eventHubName": request.event_hub,
            "datasetId": request.dataset_id,
            **err.to_body(),
        }
    return outcome.record.to_json(created=outcome.created)
