"""Telemetry: spans for the Adobe, Key Vault and Table calls of an invocation, counters, and the
structured fields of every outcome line, exported through the OpenTelemetry SDK's in-memory
exporters; no attribute carries a fragment of a secret. With telemetry off, nothing of
OpenTelemetry is imported.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from devstack.appinsights import AppInsightsStandIn
from devstack.azurite import find_repo_root
from devstack.faults import Fault
from shared import telemetry
from tests.functional.conftest import App, assert_no_secret_fragments, body

NS = "contoso-otel"
INSTRUMENTATION_KEY = "00000000-0000-4000-8000-0000000000ab"
CREATE = r"/connections$"


class Exported:
    """What the app exported: finished spans and counter values."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.metrics = InMemoryMetricReader()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.tracer_provider = tracer_provider
        self.meter_provider = MeterProvider(metric_readers=[self.metrics])

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def counters(self) -> dict[tuple[str, tuple[tuple[str, Any], ...]], int]:
        """(counter name, sorted attributes) → value, over everything counted so far."""
        data = self.metrics.get_metrics_data()
        values: dict[tuple[str, tuple[tuple[str, Any], ...]], int] = {}
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        values[(metric.name, tuple(sorted(point.attributes.items())))] = int(point.value)
        return values

    def total(self, name: str, **attributes: str) -> int:
        return sum(
            value
            for (metric, attrs), value in self.counters().items()
            if metric == name and all(dict(attrs).get(k) == v for k, v in attributes.items())
        )

    def text(self) -> str:
        """Every span name, attribute and event, and every counter attribute, as one text (for the leak check)."""
        parts = []
        for span in self.finished():
            parts.append(span.name)
            parts.extend(f"{k}={v}" for k, v in (span.attributes or {}).items())
            parts.extend(f"{e.name} {dict(e.attributes or {})}" for e in span.events)
            parts.append(str(span.status.description or ""))
        parts.extend(json.dumps(key) for key in self.counters())
        return "\n".join(parts)


@pytest.fixture
def exported(app: App) -> Iterator[Exported]:
    """The in-memory providers the app sends to (as the distro's would be), checked for leaks afterwards."""
    out = Exported()
    telemetry.use(out.tracer_provider, out.meter_provider)
    try:
        yield out
    finally:
        telemetry.disable()
    assert_no_secret_fragments(app.stack, {"spans and counters": out.text()})


def outcome_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "eventhubs_connector" and hasattr(r, "outcome")]


def test_one_invocation_is_one_trace_of_its_key_vault_adobe_and_table_calls(app: App, exported: Exported) -> None:
    app.stack.add_eventhubs_namespace(NS)
    assert app.post({"namespace": NS}).status_code == 201
    spans = exported.finished()
    [root] = [s for s in spans if s.parent is None]
    assert root.name == "create_connection_http"
    assert root.attributes is not None and root.attributes["faas.invocation_id"]
    assert {s.context.trace_id for s in spans} == {root.context.trace_id}, "every call is in the invocation's trace"
    names = [s.name for s in spans]
    assert "Key Vault get_secret" in names  # the Adobe OAuth credentials and the SAS connection string
    assert "Adobe POST /ims/token/v3" in names
    assert "Adobe POST /data/foundation/flowservice/connections" in names
    assert {"Table get", "Table insert", "Table replace"} <= set(names)
    [create] = [s for s in spans if s.name == "Adobe POST /data/foundation/flowservice/connections"]
    assert create.attributes is not None
    assert create.attributes["http.response.status_code"] == 201
    assert create.attributes["adobe.request_id"]
    secrets = {str((s.attributes or {}).get("keyvault.secret_name")) for s in spans if s.name == "Key Vault get_secret"}
    assert f"eventhubs-sas-{NS}" in secrets


def test_the_outcome_line_carries_the_structured_fields(
    app: App, exported: Exported, caplog: pytest.LogCaptureFixture
) -> None:
    app.stack.add_eventhubs_namespace(NS)
    created = body(app.post({"namespace": NS}))
    [line] = outcome_records(caplog)
    fields = {k: getattr(line, k, None) for k in telemetry.OUTCOME_FIELDS}
    assert fields["outcome"] == "created" and fields["namespace"] == NS and fields["sandbox"] == "prod"
    assert fields["state"] == "ready" and fields["function"] == "create_connection_http"
    [root] = [s for s in exported.finished() if s.parent is None]
    assert root.attributes is not None and fields["invocation_id"] == root.attributes["faas.invocation_id"]
    [create] = [s for s in exported.finished() if s.name.endswith("/flowservice/connections")]
    assert create.attributes is not None and fields["adobe_request_id"] == create.attributes["adobe.request_id"]
    assert f"namespace={NS}" in line.getMessage() and created["connectionId"]


def test_a_failure_names_its_error_code_in_the_line_the_span_and_the_counter(
    app: App, exported: Exported, caplog: pytest.LogCaptureFixture
) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.stack.adobe.echo_request_in_errors = True  # the 400's body quotes the SAS key: nothing of it may be exported
    app.stack.adobe.faults.add(Fault("POST", CREATE, status=400, times=-1))
    response = app.post({"namespace": NS})
    assert response.status_code == 502
    code = body(response)["error"]["code"]
    [line] = outcome_records(caplog)
    assert (line.outcome, line.namespace, line.error_code) == ("answered 502", NS, code)  # type: ignore[attr-defined]
    assert line.adobe_request_id  # type: ignore[attr-defined]  (Adobe's id of the refused call, for support)
    [create] = [s for s in exported.finished() if s.name.endswith("/flowservice/connections")]
    assert create.attributes is not None and create.attributes["http.response.status_code"] == 400
    [root] = [s for s in exported.finished() if s.parent is None]
    assert root.attributes is not None and root.attributes["error.type"] == code
    assert exported.total("connector.connections.failed", **{"error.code": code}) == 1


def test_counters_for_created_adopted_rotated_and_duplicates_removed(app: App, exported: Exported) -> None:
    app.stack.add_eventhubs_namespace(NS)
    assert app.post({"namespace": NS}).status_code == 201
    assert app.post({"namespace": NS}).status_code == 200  # a repeat counts nothing
    assert exported.total("connector.connections.created", sandbox="prod") == 1

    other = NS + "-b"
    app.stack.add_eventhubs_namespace(other)
    name = f"Azure Event Hubs {other}"
    params = {"sasKeyName": "Root", "sasKey": "x" * 44, "namespace": other}
    app.stack.adobe.seed_connection(name, params)
    app.stack.adobe.seed_connection(name, params)
    app.stack.adobe.faults.add(Fault("POST", CREATE, action="drop"))  # uncertain: looked up, the oldest adopted
    assert app.post({"namespace": other}).status_code == 200
    assert exported.total("connector.connections.adopted") == 1
    assert exported.total("connector.duplicates.removed", collection="connections") == 1

    app.stack.add_eventhubs_namespace(NS)  # a new version of the secret: a rotation
    version = app.stack.keyvault.versions(f"eventhubs-sas-{NS}")[-1]
    app.event(_secret_event(f"eventhubs-sas-{NS}", version), function="on_secret_event")
    assert exported.total("connector.connections.rotated") == 1
    assert exported.total("connector.connections.created") == 1


def test_telemetry_off_imports_nothing_of_opentelemetry() -> None:
    """Cold start: without APPLICATIONINSIGHTS_CONNECTION_STRING the app never imports OpenTelemetry."""
    probe = (
        "import sys, function_app\n"
        "from shared import telemetry\n"
        "from shared.settings import Settings\n"
        "telemetry.configure(Settings.from_env({'KEY_VAULT_URL': 'https://kv.vault.azure.net',"
        " 'AzureWebJobsStorage': 'UseDevelopmentStorage=true'}))\n"
        "with telemetry.invocation('f', 'id'), telemetry.span('s') as s: s.set('a', 1); telemetry.count('c')\n"
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry', 'azure.monitor'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=find_repo_root(), capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


DISTRO_PROBE = (
    "import json, os\n"
    "from shared import telemetry\n"
    "from shared.settings import Settings\n"
    "telemetry.configure(Settings.from_env({'KEY_VAULT_URL': 'https://kv.vault.azure.net',"
    " 'AzureWebJobsStorage': 'UseDevelopmentStorage=true',"
    " 'APPLICATIONINSIGHTS_CONNECTION_STRING': os.environ['PROBE_CONNECTION_STRING']}))\n"
    "print(json.dumps({name: os.environ.get(name) for name in telemetry.OFF_AZURE_DEFAULTS}))\n"
)
OFF_AZURE = dict(telemetry.OFF_AZURE_DEFAULTS)
# On Azure the distro's own defaults: both Azure detectors (azure_vm skips IMDS there), statsbeat, OneSettings.
LEFT_TO_THE_DISTRO = {**dict.fromkeys(OFF_AZURE), "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "azure_app_service,azure_vm"}


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, OFF_AZURE),  # a test worker, a benchmark child, the CLI, the demo
        ({"FUNCTIONS_WORKER_RUNTIME": "python"}, LEFT_TO_THE_DISTRO),  # on Azure Functions: unchanged
        ({"WEBSITE_SITE_NAME": "contoso-connector"}, LEFT_TO_THE_DISTRO),
        (
            {"OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "azure_functions"},  # the operator's choice stands
            {**OFF_AZURE, "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "azure_functions"},
        ),
    ],
)
def test_outside_azure_the_distro_reaches_only_the_configured_endpoint(
    environment: dict[str, str], expected: dict[str, str | None]
) -> None:
    """No Azure VM detector (IMDS at 169.254.169.254), statsbeat or OneSettings poll outside Azure:
    the loopback guard fails this test if the configured distro connects anywhere but the stand-in."""
    inherited = {k: v for k, v in os.environ.items() if k not in (*telemetry.ON_AZURE_MARKERS, *OFF_AZURE)}
    with AppInsightsStandIn() as ingestion:
        env = {**inherited, **environment, "PROBE_CONNECTION_STRING": ingestion.connection_string(INSTRUMENTATION_KEY)}
        done = subprocess.run(
            [sys.executable, "-c", DISTRO_PROBE],
            cwd=find_repo_root(),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == expected


def test_a_malformed_connection_string_is_a_configuration_error_naming_it(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", "IngestionEndpoint=https://x.in.applicationinsights")
    from shared.runtime import reset_runtime

    reset_runtime()
    response = app.post({"namespace": NS})
    assert response.status_code == 500
    assert body(response)["error"]["setting"] == "APPLICATIONINSIGHTS_CONNECTION_STRING"


def _secret_event(name: str, version: str) -> dict[str, Any]:
    from devstack.events import secret_event

    return secret_event(name, version=version, event_time=datetime.now(UTC))


def test_with_a_connection_string_the_distro_exports_spans_fields_and_counters_to_application_insights(
    app: App,
) -> None:
    """The real path: APPLICATIONINSIGHTS_CONNECTION_STRING set, the app configures the Azure Monitor
    distro (once per process, so in a worker process of its own), and Application Insights'
    ingestion (a loopback stand-in) receives the dependencies, the outcome line with its custom
    dimensions, and the counters; nothing it receives carries a fragment of a secret."""
    app.stack.add_eventhubs_namespace(NS)
    with AppInsightsStandIn() as ingestion:
        env = {
            **os.environ,
            **app.env,
            "APPLICATIONINSIGHTS_CONNECTION_STRING": ingestion.connection_string(INSTRUMENTATION_KEY),
            "OTEL_METRIC_EXPORT_INTERVAL": "60000",
        }
        done = subprocess.run(
            [sys.executable, "-m", "tests.functional.worker", json.dumps({"namespace": NS})],
            cwd=find_repo_root(),
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert json.loads(done.stdout.strip().splitlines()[-1])["status"] == 201
        dependencies = {d["name"] for d in ingestion.of_type("RemoteDependencyData")}
        assert "Adobe POST /data/foundation/flowservice/connections" in dependencies
        assert {"Key Vault get_secret", "Table insert"} <= dependencies
        [line] = [m for m in ingestion.of_type("MessageData") if "POST /api/connections 201" in m["message"]]
        dimensions = line["properties"]
        assert dimensions["namespace"] == NS and dimensions["outcome"] == "created" and dimensions["invocation_id"]
        assert dimensions["adobe_request_id"] and dimensions["state"] == "ready"
        metrics = {m["name"]: m["value"] for data in ingestion.of_type("MetricData") for m in data["metrics"]}
        assert metrics.get("connector.connections.created") == 1
        assert INSTRUMENTATION_KEY not in done.stderr + done.stdout
        assert_no_secret_fragments(app.stack, {"Application Insights": ingestion.raw_text(), "worker": done.stderr})
