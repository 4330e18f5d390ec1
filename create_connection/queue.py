"""Queue adapter: message → ConnectionRequest → service → return (done or permanent) or raise (retry)."""

from __future__ import annotations

import logging

import azure.functions as func

from shared.errors import ConnectorError
from shared.eventhubs import parse_request
from shared.models import Outcome
from shared.runtime import get_runtime
from shared.service import Source

from .inputs import decode_queue_message

log = logging.getLogger("eventhubs_connector")


def settle(err: ConnectorError, what: str) -> None:
    """The queue/Event Grid disposition of an error, in one place.

    Permanent (400/404/422/502): logged (and recorded by the service when the key is known),
    the invocation returns. Transient or configuration (409/500/503): raise for redelivery.
    """
    if err.permanent:
        log.warning("%s failed permanently: %s %s", what, err.code, err.message)
        return
    log.warning("%s will be retried: %s %s", what, err.code, err.message)
    raise err


def handle(msg: func.QueueMessage) -> None:
    """Create (or find) the connection a queue message asks for."""
    what = f"queue message {msg.id or '-'} (dequeue {msg.dequeue_count or '?'})"
    try:
        runtime = get_runtime()
        request = parse_request(decode_queue_message(msg.get_body()), runtime.settings.default_sandbox)
        outcome = runtime.service.create_or_get(request, Source("queue", msg.id))
    except ConnectorError as err:
        settle(err, what)
        return
    log_outcome(what, outcome)


def log_outcome(what: str, outcome: Outcome) -> None:
    """The one outcome line of a queue or Event Grid invocation that created or found a connection."""
    state = "created" if outcome.created else "existing"
    log.info("%s: %s %s (%s)", what, outcome.record.key, outcome.record.state.value, state)
