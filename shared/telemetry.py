"""Telemetry: the fields of an invocation's outcome line, spans around outbound calls, counters.

Off unless APPLICATIONINSIGHTS_CONNECTION_STRING is set: then `span()` and `count()` cost one
branch and OpenTelemetry is never imported. On, they go to the global OpenTelemetry providers,
which `configure()` installs with the Azure Monitor distro (or which the Python worker installed,
with PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true; tests install in-memory ones with `use()`).

Every attribute value passes the scrubber; an exception is recorded as its error code or class
name only, never its message. Counters carry no namespace (bounded cardinality).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from .logs import LOGGER_NAME
from .sensitive import scrub

if TYPE_CHECKING:
    from .models import ConnectionKey
    from .settings import Settings

Value = str | int | float | bool
INSTRUMENTATION: Final = "eventhubs_connector"

#: What each notification of the core counts (publish() is called for every record change).
EVENT_COUNTERS: Final[Mapping[str, str]] = {
    "created": "connector.connections.created",
    "failed": "connector.connections.failed",
    "rotated": "connector.connections.rotated",
    "deleted": "connector.connections.deleted",
    "dataflow-created": "connector.dataflows.created",
    "dataflow-failed": "connector.dataflows.failed",
    "dataflow-deleted": "connector.dataflows.deleted",
    "dataflow-unhealthy": "connector.dataflows.unhealthy",
    "dataflow-recovered": "connector.dataflows.recovered",
}
#: The structured fields of an outcome line (custom dimensions in Application Insights).
OUTCOME_FIELDS: Final = (
    "outcome",
    "namespace",
    "sandbox",
    "event_hub",
    "state",
    "error_code",
    "adobe_request_id",
    "invocation_id",
    "function",
)
#: What the Functions host (or App Service) sets in a worker's environment: the process runs on Azure.
ON_AZURE_MARKERS: Final = ("FUNCTIONS_WORKER_RUNTIME", "WEBSITE_SITE_NAME")
#: The distro's settings outside Azure (each unless already set), so that it reaches nothing but the
#: configured ingestion endpoint: no IMDS probe, no SDK statistics or settings polls to Microsoft.
OFF_AZURE_DEFAULTS: Final[Mapping[str, str]] = {
    # The distro's default is "azure_app_service,azure_vm"; azure_vm asks 169.254.169.254 (IMDS)
    # unless the process looks like Functions. azure_app_service reads the environment only.
    "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "azure_app_service",
    # Statsbeat: the SDK's own health metrics, sent to Microsoft's westus-0/westeurope-5 ingestion.
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
    # OneSettings: polls https://settings.sdk.monitor.azure.com 5-15 s after start, then hourly.
    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
}
ADOPTED: Final = "connector.connections.adopted"
DUPLICATES_REMOVED: Final = "connector.duplicates.removed"


@dataclass
class Invocation:
    """The function invocation under way in this context (for its outcome line and its spans)."""

    function: str
    invocation_id: str | None
    adobe_request_id: str | None = None
    decisive: bool = False
    span: Any = None
    namespace: str | None = None
    sandbox: str | None = None
    event_hub: str | None = None


_current: ContextVar[Invocation | None] = ContextVar("eventhubs_connector_invocation", default=None)


class _State:
    tracer: Any = None
    meter: Any = None
    counters: dict[str, Any] = {}  # noqa: RUF012  (one per process, guarded by _lock)
    distro_configured = False


_lock = threading.Lock()


class _NoSpan:
    """The span when telemetry is off: a reusable no-op context manager."""

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def set(self, name: str, value: Value | None) -> None:
        return None


_NO_SPAN: Final = _NoSpan()


class _Span:
    """A live span; attributes set on it are scrubbed."""

    def __init__(self, span: Any) -> None:
        self._span = span

    def set(self, name: str, value: Value | None) -> None:
        if value is not None:
            self._span.set_attribute(name, _clean(value))


def enabled() -> bool:
    return _State.tracer is not None


def span(name: str, attributes: Mapping[str, Value | None] | None = None, *, current: bool = True) -> Any:
    """A span around one outbound call (a context manager yielding an object with `.set(name, value)`).

    `current=False` for a span held across a generator's yields: it is not made the current span,
    so the caller's spans between two yields are not its children.
    """
    if _State.tracer is None:
        return _NO_SPAN
    return _live_span(name, attributes or {}, current)


@contextmanager
def _live_span(name: str, attributes: Mapping[str, Value | None], current: bool) -> Iterator[_Span]:
    from opentelemetry.trace import Status, StatusCode, use_span

    clean = {key: _clean(value) for key, value in attributes.items() if value is not None}
    live = _State.tracer.start_span(name, attributes=clean)
    try:
        if current:
            with use_span(live, end_on_exit=False, record_exception=False, set_status_on_exception=False):
                yield _Span(live)
        else:
            yield _Span(live)
    except BaseException as err:
        live.set_attribute("error.type", _clean(getattr(err, "code", None) or type(err).__name__))
        live.set_status(Status(StatusCode.ERROR))
        raise
    finally:
        live.end()


def count(name: str, attributes: Mapping[str, Value | None] | None = None, amount: int = 1) -> None:
    """Add to a counter (created on first use)."""
    if _State.meter is None:
        return
    counter = _State.counters.get(name)
    if counter is None:
        with _lock:
            counter = _State.counters.setdefault(name, _State.meter.create_counter(name, unit="1"))
    counter.add(amount, {key: _clean(value) for key, value in (attributes or {}).items() if value is not None})


def count_event(event: str, error_code: str | None, sandbox: str) -> None:
    """The counter of one notification of the core (created, failed by code, rotated, deleted...)."""
    name = EVENT_COUNTERS.get(event)
    if name is not None:
        count(name, {"sandbox": sandbox, "error.code": error_code})


@contextmanager
def invocation(function: str, invocation_id: str | None) -> Iterator[Invocation]:
    """The scope of one function invocation: its span, and the fields its outcome line carries."""
    current = Invocation(function, invocation_id)
    token = _current.set(current)
    try:
        with span(function, {"faas.name": function, "faas.invocation_id": invocation_id}) as live:
            current.span = live
            yield current
    finally:
        _current.reset(token)


def note_adobe_request(request_id: str | None, *, decisive: bool) -> None:
    """Remember Adobe's x-request-id for this invocation's outcome line: of its latest decisive call
    (a create, change or delete, or a refused call), else of its latest read."""
    current = _current.get()
    if current is None or not request_id:
        return
    if decisive or current.adobe_request_id is None or not current.decisive:
        current.adobe_request_id = request_id
        current.decisive = current.decisive or decisive


def note_key(key: ConnectionKey) -> None:
    """Remember what this invocation is about (its outcome line names it, also when it fails)."""
    note_subject(key.namespace, key.sandbox, key.event_hub)


def note_subject(namespace: str, sandbox: str | None = None, event_hub: str | None = None) -> None:
    """`note_key` for what is not one record (a namespace deleted in every sandbox)."""
    current = _current.get()
    if current is not None:
        current.namespace, current.sandbox, current.event_hub = namespace, sandbox, event_hub


def outcome_fields(
    key: ConnectionKey | None = None, *, state: str | None = None, error_code: str | None = None, outcome: str
) -> dict[str, str]:
    """The structured fields of an outcome line (Application Insights custom dimensions)."""
    current = _current.get() or Invocation("", None)
    about = key or current  # the key given, else the one the invocation noted
    subject = (about.namespace, about.sandbox, about.event_hub)
    values = (outcome, *subject, state, error_code, current.adobe_request_id, current.invocation_id, current.function)
    return {name: scrub(value) for name, value in zip(OUTCOME_FIELDS, values, strict=True) if value}


def record_outcome(fields: Mapping[str, str]) -> None:
    """Put an outcome line's fields on the invocation's span (`error.type` for an error code)."""
    current = _current.get()
    if current is None or current.span is None:
        return
    for name, value in fields.items():
        if name not in ("invocation_id", "function"):
            current.span.set("error.type" if name == "error_code" else f"connector.{name}", value)


def configure(settings: Settings) -> None:
    """Install the Azure Monitor distro once per process when telemetry is on; off otherwise."""
    if settings.telemetry is None:
        return
    # The exporters authenticate as Microsoft documents: APPLICATIONINSIGHTS_AUTHENTICATION_STRING
    # (`Authorization=AAD;ClientId=...`, set by infra/) makes them use the managed identity.
    from opentelemetry import metrics, trace

    with _lock:
        if not settings.telemetry.configured_by_worker and not _State.distro_configured:
            from azure.monitor.opentelemetry import configure_azure_monitor

            # Every trace by default: invocations are few (one per namespace or event hub change) and
            # the distro's default, 5 traces/s rate-limited, drops a cold worker's first ones.
            # OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG choose otherwise.
            if "OTEL_TRACES_SAMPLER" not in os.environ:
                os.environ["OTEL_TRACES_SAMPLER"] = "microsoft.fixed_percentage"
                os.environ["OTEL_TRACES_SAMPLER_ARG"] = "1.0"
            if not any(marker in os.environ for marker in ON_AZURE_MARKERS):
                for name, value in OFF_AZURE_DEFAULTS.items():
                    os.environ.setdefault(name, value)
            configure_azure_monitor(
                connection_string=settings.telemetry.connection_string.reveal(),
                logger_name=LOGGER_NAME,  # the app's log lines only, after the scrubber
                # Outbound calls are traced by this module's spans, whose attributes are scrubbed
                # and tested; the HTTP libraries' own instrumentation would record raw URLs.
                instrumentation_options={
                    lib: {"enabled": False} for lib in ("azure_sdk", "requests", "urllib", "urllib3")
                },
                enable_live_metrics=False,
            )
            _State.distro_configured = True
            app_log = logging.getLogger(LOGGER_NAME)
            if app_log.level == logging.NOTSET:  # the outcome lines are INFO, whatever the root logger's level
                app_log.setLevel(logging.INFO)
    use(trace.get_tracer_provider(), metrics.get_meter_provider())


def flush(timeout_millis: int = 10_000) -> None:
    """Export what is buffered now (spans, metrics, log records): before a short-lived process exits."""
    if _State.tracer is None:
        return
    from opentelemetry import metrics, trace
    from opentelemetry._logs import get_logger_provider

    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider(), get_logger_provider()):
        force_flush = getattr(provider, "force_flush", None)
        if force_flush is not None:
            force_flush(timeout_millis)


def use(tracer_provider: Any, meter_provider: Any) -> None:
    """Send spans and counters to these providers from now on."""
    with _lock:
        _State.tracer = tracer_provider.get_tracer(INSTRUMENTATION)
        _State.meter = meter_provider.get_meter(INSTRUMENTATION)
        _State.counters = {}


def disable() -> None:
    """Telemetry off (the state of a worker without APPLICATIONINSIGHTS_CONNECTION_STRING)."""
    with _lock:
        _State.tracer = _State.meter = None
        _State.counters = {}


def _clean(value: Value) -> Value:
    return scrub(value) if isinstance(value, str) else value
