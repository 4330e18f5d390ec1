"""Queue adapter: message → typed request (create, verify, dataflow, reconcile) → service → return or raise."""

from __future__ import annotations

import azure.functions as func

from shared import telemetry
from shared.dataflow_records import DataflowRequest
from shared.errors import ConnectorError
from shared.models import Source
from shared.payloads import ReconcileRequest, VerifyRequest, parse_queue_message
from shared.runtime import get_runtime

from .inputs import decode_queue_message
from .outcomes import log_outcome, outcome_line, settle


def handle(msg: func.QueueMessage) -> None:
    """Create (or find) the connection a queue message asks for, or verify one."""
    what = f"queue message {msg.id or '-'} (dequeue {msg.dequeue_count or '?'})"
    reconcile = False  # handled like a namespace-created event: no secret yet is pending, not a failure
    try:
        runtime = get_runtime()
        request = parse_queue_message(decode_queue_message(msg.get_body()), runtime.settings.dataflow_defaults)
        source = Source("queue", msg.id)
        if isinstance(request, VerifyRequest):
            telemetry.note_key(request.key)
            record = runtime.service.verify(request.key, source)
            dataflow = runtime.dataflows.verify(request.key, source) if request.key.event_hub else None
            states = [r.state.value for r in (record, dataflow) if r is not None] or ["no record"]
            outcome_line(what, "verified", key=request.key, state=", ".join(states))
            return
        if isinstance(request, ReconcileRequest):
            reconcile = True
            telemetry.note_key(request.request.key)
            log_outcome(what, runtime.service.create_or_get(request.request, Source("reconcile", msg.id)))
            return
        telemetry.note_key(request.key)
        if isinstance(request, DataflowRequest):
            log_outcome(what, runtime.dataflows.create_or_get(request, source))
            return
        outcome = runtime.service.create_or_get(request, source)
    except ConnectorError as err:
        settle(err, what, event=reconcile)
        return
    log_outcome(what, outcome)
