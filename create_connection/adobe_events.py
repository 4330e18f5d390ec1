"""HTTP adapter of the Adobe I/O Events webhook: the challenge, the signature, one run event."""

from __future__ import annotations

import time

import azure.functions as func

from shared.credentials import load_adobe_credentials
from shared.errors import ConnectorError, PayloadTooLarge, SignatureInvalid
from shared.logs import log
from shared.retry import Deadline
from shared.runtime import get_runtime

from .outcomes import outcome_line
from .responses import error_response, json_response, unexpected_error_response


def challenge(req: func.HttpRequest) -> func.HttpResponse:
    """GET ?challenge=<v>: the value, as text/plain (Adobe's registration handshake)."""
    value = req.params.get("challenge")
    if not value:
        return json_response(400, {"error": {"code": "InvalidRequest", "message": "challenge is required."}})
    return func.HttpResponse(value[:512], status_code=200, mimetype="text/plain", charset="utf-8")


def deliver(req: func.HttpRequest) -> func.HttpResponse:
    """POST: a signed delivery. 401 when neither signature verifies or the recipient is another client,
    413 over 256 KiB; a run event for a recorded flow updates its health at once."""
    what = "adobe event"
    try:
        raw = req.get_body() or b""
        from shared.ioevents import MAX_BODY_BYTES, parse_delivery  # on first delivery: no cold-start cost

        if len(raw) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"The delivery is {len(raw)} bytes; the limit is {MAX_BODY_BYTES} bytes.")
        runtime = get_runtime()
        runtime.io_events().verify(raw, dict(req.headers))
        delivery = parse_delivery(raw, req.headers.get("x-adobe-event-id"))
        deadline = Deadline(time.monotonic, runtime.settings.retry_budget_seconds)
        client_id = load_adobe_credentials(runtime.secrets, runtime.settings, deadline).client_id
        if delivery.recipient_client_id != client_id:
            raise SignatureInvalid("The delivery is for another Adobe client (recipient_client_id).")
        if not delivery.about_a_run or delivery.run is None or delivery.flow_id is None:
            outcome_line(what, f"ignored: event {delivery.event_code or '-'} is not about a flow run")
            return json_response(200, {"status": "ignored"})
        status = runtime.health().apply_run_event(delivery.flow_id, delivery.run, delivery.event_id)
    except ConnectorError as err:
        if err.http_status < 500:
            log.warning("%s refused: %s (%s)", what, err.code, err.message)
        return error_response(err)
    except Exception as err:
        return unexpected_error_response(err)
    outcome_line(what, f"{status}: {delivery.event_code} for flow {delivery.flow_id}")
    return json_response(200, {"status": status})
