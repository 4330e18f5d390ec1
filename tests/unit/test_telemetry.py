"""shared/telemetry.py without the network: spans and counters into the SDK's in-memory exporters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from shared import telemetry
from shared.errors import DependencyUnavailable
from shared.models import ConnectionKey
from shared.sensitive import register_secret

SECRET = "Zq9vXk2LmN4pR7sT1uW3yA5bC8dE0fG6hJ"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.use(provider, MeterProvider(metric_readers=[InMemoryMetricReader()]))
    yield exporter
    telemetry.disable()


def test_off_spans_and_counters_do_nothing() -> None:
    telemetry.disable()
    assert not telemetry.enabled()
    with telemetry.span("x", {"a": 1}) as span:
        span.set("b", 2)
    telemetry.count("c")  # no meter: nothing to fail


def test_a_failed_call_is_marked_with_its_code_and_never_its_message(spans: InMemorySpanExporter) -> None:
    register_secret(SECRET)
    with pytest.raises(DependencyUnavailable), telemetry.span("Adobe POST /connections"):
        raise DependencyUnavailable(f"Adobe said {SECRET}", dependency="Adobe")
    [span] = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR and not span.status.description
    assert span.attributes is not None and span.attributes["error.type"] == "DependencyUnavailable"
    assert not span.events  # no exception event (its message could quote a secret)


def test_attribute_values_are_scrubbed(spans: InMemorySpanExporter) -> None:
    register_secret(SECRET)
    with telemetry.span("s", {"given": f"key={SECRET}"}) as span:
        span.set("later", SECRET[:12])
    [done] = spans.get_finished_spans()
    assert done.attributes is not None
    assert SECRET[:8] not in str(done.attributes["given"]) and SECRET[:8] not in str(done.attributes["later"])


def test_calls_are_children_of_the_invocation_and_the_outcome_fields_name_it(spans: InMemorySpanExporter) -> None:
    key = ConnectionKey("prod", "contoso", "clicks")
    with telemetry.invocation("create_connection_http", "inv-1"):
        telemetry.note_key(key)
        with telemetry.span("Table get"):
            pass
        telemetry.note_adobe_request("read-1", decisive=False)
        telemetry.note_adobe_request("create-1", decisive=True)
        telemetry.note_adobe_request("read-2", decisive=False)  # a later read does not hide the create
        fields = telemetry.outcome_fields(state="ready", outcome="created")
        telemetry.record_outcome(fields)
    assert fields == {
        "outcome": "created",
        "namespace": "contoso",
        "sandbox": "prod",
        "event_hub": "clicks",
        "state": "ready",
        "adobe_request_id": "create-1",
        "invocation_id": "inv-1",
        "function": "create_connection_http",
    }
    child, root = spans.get_finished_spans()
    assert child.parent is not None and child.parent.span_id == root.context.span_id
    assert root.attributes is not None and root.attributes["connector.namespace"] == "contoso"
    assert telemetry.outcome_fields(outcome="x") == {"outcome": "x"}  # outside an invocation: nothing else


def test_a_span_held_across_yields_is_not_the_current_one(spans: InMemorySpanExporter) -> None:
    with telemetry.invocation("f", "i"), telemetry.span("Table query", current=False), telemetry.span("Adobe GET /x"):
        pass
    adobe, query, root = spans.get_finished_spans()
    assert adobe.parent is not None and adobe.parent.span_id == root.context.span_id
    assert query.parent is not None and query.parent.span_id == root.context.span_id
