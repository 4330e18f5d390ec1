"""HTTP adapters: request → ConnectionRequest / key → service → response."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import azure.functions as func

from shared import telemetry
from shared.dataflow_records import DataflowOutcome
from shared.errors import ConnectionNotFound, ConnectorError
from shared.eventhubs import validate_event_hub, validate_namespace, validate_sandbox
from shared.models import ConnectionKey, Outcome, Source
from shared.payloads import parse_dataflow_request, parse_request
from shared.runtime import Runtime, get_runtime

from .inputs import decode_json
from .outcomes import log_outcome, outcome_line
from .responses import error_response, json_response, unexpected_error_response


def create(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/connections: 201 created, 200 existing, or the contract's error."""
    return _create_or_get(
        req,
        "/api/connections",
        lambda runtime, body: parse_request(body, runtime.settings.default_sandbox),
        lambda runtime, request, source: runtime.service.create_or_get(request, source),
    )


def _create_or_get(
    req: func.HttpRequest,
    path: str,
    parse: Callable[[Runtime, Any], Any],
    operation: Callable[[Runtime, Any, Source], Outcome | DataflowOutcome],
) -> func.HttpResponse:
    """The POST skeleton: decode and parse, run the operation, answer 201/200 or the contract's error."""
    what = f"POST {path}"
    try:
        body = decode_json(req.get_body())
        runtime = get_runtime()
        request = parse(runtime, body)
        telemetry.note_key(request.key)
        outcome = operation(runtime, request, Source("http", req.headers.get("x-ms-client-request-id")))
    except ConnectorError as err:
        outcome_line(what, f"answered {err.http_status}", error=err, level=logging.WARNING)
        return error_response(err)
    except Exception as err:
        return unexpected_error_response(err)
    status = 201 if outcome.created else 200
    log_outcome(f"{what} {status}", outcome)
    body = outcome.record.to_json(created=outcome.created)
    return json_response(status, body, {"Location": _location(body)} if outcome.created else None)


def get(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/connections/{namespace}?sandbox=&eventHubName=: the record, or 404."""
    try:
        runtime = get_runtime()
        sandbox = req.params.get("sandbox")
        event_hub = req.params.get("eventHubName")
        key = ConnectionKey(
            sandbox=runtime.settings.default_sandbox if not sandbox else validate_sandbox(sandbox),
            namespace=validate_namespace(req.route_params.get("namespace", "")),
            event_hub=validate_event_hub(event_hub) if event_hub else None,
        )
        record = runtime.service.get(key)
    except ConnectionNotFound as err:
        return error_response(_with_scoped_hint(err, runtime, key))
    except ConnectorError as err:
        return error_response(err)
    except Exception as err:
        return unexpected_error_response(err)
    return json_response(200, record.to_json())


def _with_scoped_hint(err: ConnectionNotFound, runtime: Runtime, key: ConnectionKey) -> ConnectionNotFound:
    """A namespace-wide lookup of a namespace whose connections are scoped: the 404 names their event hubs."""
    if key.event_hub is not None:
        return err
    hubs = sorted({r.key.event_hub for r in runtime.records.list(key.sandbox, key.namespace) if r.key.event_hub})
    if not hubs:
        return err
    return ConnectionNotFound(
        f"No namespace-wide connection for {key.sandbox}/{key.namespace}; its connection(s) are scoped to "
        f"{', '.join(hubs)}: add ?eventHubName={hubs[0]}."
    )


def _location(record: dict[str, Any]) -> str:
    """The GET URL of a created connection or dataflow record (the 201's Location header)."""
    sandbox = quote(str(record["sandbox"]), safe="")
    if "flowId" in record:
        return f"/api/dataflows/{record['namespace']}/{quote(str(record['eventHubName']), safe='')}?sandbox={sandbox}"
    hub = record.get("eventHubName")
    scope = f"&eventHubName={quote(str(hub), safe='')}" if hub else ""
    return f"/api/connections/{record['namespace']}?sandbox={sandbox}{scope}"


def create_dataflow(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/dataflows: 201 created, 200 existing, or the contract's error."""
    return _create_or_get(
        req,
        "/api/dataflows",
        lambda runtime, body: parse_dataflow_request(body, runtime.settings.dataflow_defaults),
        lambda runtime, request, source: runtime.dataflows.create_or_get(request, source),
    )


def get_dataflow(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/dataflows/{namespace}/{eventHubName}?sandbox=: the record, or 404."""
    try:
        runtime = get_runtime()
        sandbox = req.params.get("sandbox")
        key = ConnectionKey(
            sandbox=runtime.settings.default_sandbox if not sandbox else validate_sandbox(sandbox),
            namespace=validate_namespace(req.route_params.get("namespace", "")),
            event_hub=validate_event_hub(req.route_params.get("eventHubName", "")),
        )
        record = runtime.dataflows.get(key)
    except ConnectorError as err:
        return error_response(err)
    except Exception as err:
        return unexpected_error_response(err)
    return json_response(200, record.to_json())
