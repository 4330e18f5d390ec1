"""Timer adapter: the reconcile pass on its schedule; its summary is the outcome line."""

from __future__ import annotations

import azure.functions as func

from shared.errors import ConnectorError
from shared.runtime import get_runtime

from .outcomes import outcome_line, settle


def reconcile(timer: func.TimerRequest) -> None:
    """List every namespace of AZURE_SUBSCRIPTION_IDS and make the records match (work goes on the queue)."""
    what = "reconcile timer" + (" (past due)" if timer.past_due else "")
    try:
        report = get_runtime().reconciler().run()
    except ConnectorError as err:
        settle(err, what)
        return
    outcome_line(what, report.summary())


def health(timer: func.TimerRequest) -> None:
    """Check every ready dataflow's health; alerts go on the events queue, the summary is the outcome line."""
    what = "health timer" + (" (past due)" if timer.past_due else "")
    try:
        report = get_runtime().health().run()
    except ConnectorError as err:
        settle(err, what)
        return
    outcome_line(what, report.summary())
