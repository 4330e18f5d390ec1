"""The functions, each a few lines: trigger input → core → response, return or raise."""

from __future__ import annotations

import azure.functions as func

from . import adobe_events, eventgrid, http, queue
from . import timer as timer_module
from .outcomes import invocation

bp = func.Blueprint()  # type: ignore[no-untyped-call]


@bp.function_name("create_connection_http")
@bp.route(route="connections", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def create_connection_http(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Create (or return) the Adobe connection for one Event Hubs namespace."""
    with invocation(context):
        return http.create(req)


@bp.function_name("get_connection_http")
@bp.route(route="connections/{namespace}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_connection_http(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Return the stored record of a connection, 404 when none."""
    with invocation(context):
        return http.get(req)


@bp.function_name("create_dataflow_http")
@bp.route(route="dataflows", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def create_dataflow_http(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Create (or return) the dataflow of one event hub into a Platform dataset."""
    with invocation(context):
        return http.create_dataflow(req)


@bp.function_name("get_dataflow_http")
@bp.route(route="dataflows/{namespace}/{eventHubName}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_dataflow_http(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Return the stored record of a dataflow, 404 when none."""
    with invocation(context):
        return http.get_dataflow(req)


@bp.function_name("create_connection_queue")
@bp.queue_trigger(arg_name="msg", queue_name="eventhubs-connection-requests", connection="AzureWebJobsStorage")
def create_connection_queue(msg: func.QueueMessage, context: func.Context) -> None:
    """The POST, from a queue message."""
    with invocation(context):
        queue.handle(msg)


@bp.function_name("on_namespace_event")
@bp.event_grid_trigger(arg_name="event")
def on_namespace_event(event: func.EventGridEvent, context: func.Context) -> None:
    """Event Grid: a namespace was created (create its connection) or deleted (mark it)."""
    with invocation(context):
        eventgrid.handle_namespace_event(event)


@bp.function_name("on_secret_event")
@bp.event_grid_trigger(arg_name="event")
def on_secret_event(event: func.EventGridEvent, context: func.Context) -> None:
    """Event Grid (Key Vault): a secret's new version rotates or creates its connections."""
    with invocation(context):
        eventgrid.handle_secret_event(event)


@bp.function_name("reconcile_timer")
@bp.timer_trigger(schedule="%RECONCILE_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
def reconcile_timer(timer: func.TimerRequest, context: func.Context) -> None:
    """Timer: every namespace of AZURE_SUBSCRIPTION_IDS, even those whose events were missed."""
    with invocation(context):
        timer_module.reconcile(timer)


@bp.function_name("health_timer")
@bp.timer_trigger(schedule="%HEALTH_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
def health_timer(timer: func.TimerRequest, context: func.Context) -> None:
    """Timer: is data arriving? The health of every ready dataflow; a change alerts."""
    with invocation(context):
        timer_module.health(timer)


@bp.function_name("adobe_events_http")
@bp.route(route="adobe-events", methods=["GET", "POST"], auth_level=func.AuthLevel.FUNCTION)
def adobe_events_http(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Adobe I/O Events webhook: the challenge (GET), signed run events (POST)."""
    with invocation(context):
        return adobe_events.challenge(req) if req.method.upper() == "GET" else adobe_events.deliver(req)
