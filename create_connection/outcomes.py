"""Outcome lines and queue/Event Grid dispositions, in one place: return (done, or failed for good) or raise (retry)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import azure.functions as func

from shared import telemetry
from shared.dataflow_records import DataflowOutcome
from shared.errors import ConnectorError, SecretNotFound
from shared.logs import log
from shared.models import ConnectionKey, Outcome, State

# The fields repeated in an outcome line's text (all of them are its structured fields too).
_IN_TEXT = ("namespace", "sandbox", "event_hub", "state", "error_code", "adobe_request_id")
# How the text says the two dispositions of an error (the `outcome` field is the short word).
_SAID = {"failed": "failed permanently", "retry": "will be retried"}


@contextmanager
def invocation(context: func.Context) -> Iterator[None]:
    """One function invocation: its span, and the invocation id its outcome line carries."""
    with telemetry.invocation(str(context.function_name), context.invocation_id):
        yield


def outcome_line(
    what: str,
    outcome: str,
    *,
    key: ConnectionKey | None = None,
    state: str | None = None,
    error: ConnectorError | None = None,
    level: int = logging.INFO,
) -> None:
    """The one line an invocation ends with: readable text, and the same facts as structured fields
    (`extra`: custom dimensions in Application Insights)."""
    fields = telemetry.outcome_fields(key, state=state, error_code=error.code if error else None, outcome=outcome)
    telemetry.record_outcome(fields)
    facts = " ".join(f"{name}={fields[name]}" for name in _IN_TEXT if name in fields)
    detail = f" ({error.message})" if error is not None else ""
    log.log(level, "%s: %s %s%s", what, _SAID.get(outcome, outcome), facts, detail, extra=fields)


def settle(err: ConnectorError, what: str, *, event: bool = False) -> None:
    """Permanent (400/404/422/502): logged (and recorded by the service when the key is known), the
    invocation returns. Transient or configuration (409/500/503): raise, so the platform redelivers.

    For an `event` (nobody waits for the answer: Event Grid, a reconcile message), a missing secret is no
    failure: the record waits in `pending_secret` (the usual order in Azure), logged at INFO."""
    if event and isinstance(err, SecretNotFound):
        pending = State.PENDING_SECRET.value
        outcome_line(what, pending, state=pending, error=err)
        return
    if err.permanent:
        outcome_line(what, "failed", error=err, level=logging.WARNING)
        return
    outcome_line(what, "retry", error=err, level=logging.WARNING)
    raise err


def log_outcome(what: str, outcome: Outcome | DataflowOutcome) -> None:
    """The outcome line of an invocation that created or found a connection or dataflow."""
    record = outcome.record
    outcome_line(what, "created" if outcome.created else "existing", key=record.key, state=record.state.value)
