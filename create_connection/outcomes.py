"""Queue and Event Grid dispositions, in one place: return (done, or failed for good) or raise (retry)."""

from __future__ import annotations

from shared.errors import ConnectorError
from shared.logs import log
from shared.models import Outcome


def settle(err: ConnectorError, what: str) -> None:
    """Permanent (400/404/422/502): logged (and recorded by the service when the key is known), the
    invocation returns. Transient or configuration (409/500/503): raise, so the platform redelivers."""
    if err.permanent:
        log.warning("%s failed permanently: %s %s", what, err.code, err.message)
        return
    log.warning("%s will be retried: %s %s", what, err.code, err.message)
    raise err


def log_outcome(what: str, outcome: Outcome) -> None:
    """The one outcome line of a queue or Event Grid invocation that created or found a connection."""
    state = "created" if outcome.created else "existing"
    log.info("%s: %s %s (%s)", what, outcome.record.key, outcome.record.state.value, state)
