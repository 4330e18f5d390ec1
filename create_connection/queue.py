"""Queue adapter: message → typed request (create or verify) → service → return or raise."""

from __future__ import annotations

import azure.functions as func

from shared.errors import ConnectorError
from shared.logs import log
from shared.models import Source
from shared.payloads import VerifyRequest, parse_queue_message
from shared.runtime import get_runtime

from .inputs import decode_queue_message
from .outcomes import log_outcome, settle


def handle(msg: func.QueueMessage) -> None:
    """Create (or find) the connection a queue message asks for, or verify one."""
    what = f"queue message {msg.id or '-'} (dequeue {msg.dequeue_count or '?'})"
    try:
        runtime = get_runtime()
        request = parse_queue_message(decode_queue_message(msg.get_body()), runtime.settings.default_sandbox)
        source = Source("queue", msg.id)
        if isinstance(request, VerifyRequest):
            record = runtime.service.verify(request.key, source)
            log.info("%s: verified %s (%s)", what, request.key, record.state.value if record else "no record")
            return
        outcome = runtime.service.create_or_get(request, source)
    except ConnectorError as err:
        settle(err, what)
        return
    log_outcome(what, outcome)
