"""The event hubs' own traffic: Azure Monitor's `IncomingMessages` of a namespace, split by hub.

`GET {AZURE_RESOURCE_MANAGER_URL}{namespace resource id}/providers/Microsoft.Insights/metrics`
(api-version 2023-10-01) with the app's credential, one query per namespace for all its hubs
(`$filter=EntityName eq '*'`). Sent through azure-core's pipeline (bearer policy, the requests
transport): `azure-mgmt-monitor` is not installed, and its import would cost far more than the
one operation the app uses. The identity needs the Monitoring Reader role.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, Protocol

from .arm import configuration_problem
from .errors import DependencyUnavailable
from .retry import CallResult, Deadline, Failure, Retrier

API_VERSION: Final = "2023-10-01"
METRIC: Final = "IncomingMessages"
DEPENDENCY: Final = "Azure Monitor"


class HubTraffic(Protocol):
    """Messages each hub of a namespace received."""

    def incoming_messages(self, resource_id: str, start: datetime, end: datetime, deadline: Deadline) -> dict[str, int]:
        """Lower-case hub name -> messages between start and end; DependencyUnavailable when unreadable."""
        ...


class MonitorHubTraffic:
    """Azure Monitor metrics over Resource Manager through an azure-core PipelineClient (built on first use)."""

    def __init__(self, client: Callable[[], Any], base_url: str, retrier: Retrier) -> None:
        self._client = client
        self._base_url = base_url
        self._retrier = retrier
        self.calls = 0

    def incoming_messages(self, resource_id: str, start: datetime, end: datetime, deadline: Deadline) -> dict[str, int]:
        params = {
            "api-version": API_VERSION,
            "metricnames": METRIC,
            "aggregation": "Total",
            "interval": "PT1H",
            "timespan": f"{_iso(start)}/{_iso(end)}",
            "$filter": "EntityName eq '*'",
        }
        url = f"{self._base_url}{resource_id}/providers/Microsoft.Insights/metrics"
        body = self._retrier.call(lambda: self._once(url, params), dependency=DEPENDENCY, deadline=deadline)
        return _per_hub(body)

    def _once(self, url: str, params: dict[str, str]) -> tuple[CallResult, Any]:
        from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError, ServiceResponseError
        from azure.core.rest import HttpRequest

        self.calls += 1
        try:
            response = self._client().send_request(HttpRequest("GET", url, params=params))
        except (ClientAuthenticationError, ServiceRequestError) as err:
            problem = configuration_problem(err, " for metrics")
            if problem is not None:
                raise problem from None
            return CallResult(failure=Failure.NOT_SENT), None
        except ServiceResponseError:
            return CallResult(failure=Failure.UNCERTAIN), None
        status = response.status_code
        if status in (401, 403):
            raise DependencyUnavailable(
                f"Azure Monitor refused to read metrics ({status}): give the app's identity the Monitoring "
                "Reader role on the namespace's subscription.",
                dependency=DEPENDENCY,
            )
        if status == 200:
            try:
                return CallResult(status=200), response.json()
            except ValueError:
                return CallResult(failure=Failure.UNCERTAIN), None
        if status in (400, 404):
            raise DependencyUnavailable(f"Azure Monitor refused the metrics query ({status}).", dependency=DEPENDENCY)
        return CallResult(status=status, retry_after=response.headers.get("Retry-After")), None


def _per_hub(body: Any) -> dict[str, int]:
    totals: dict[str, int] = {}
    values = body.get("value") if isinstance(body, dict) else None
    for metric in values if isinstance(values, list) else []:
        for series in (metric.get("timeseries") or []) if isinstance(metric, dict) else []:
            if not isinstance(series, dict):
                continue
            hub = next(
                (
                    str(m.get("value", "")).lower()
                    for m in series.get("metadatavalues") or []
                    if isinstance(m, dict) and str((m.get("name") or {}).get("value", "")).lower() == "entityname"
                ),
                None,
            )
            if hub is None:
                continue
            total = sum(float(point.get("total") or 0) for point in series.get("data") or [] if isinstance(point, dict))
            totals[hub] = totals.get(hub, 0) + int(total)
    return totals


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def monitor_client(
    base_url: str, credential: Any, scope: str, ca_bundle: str | None, timeouts: tuple[float, float]
) -> Any:
    """An azure-core PipelineClient for Resource Manager: the app's bearer token, no SDK retries (the
    app's retrier decides), no logging of headers."""
    from azure.core import PipelineClient
    from azure.core.pipeline.policies import (
        BearerTokenCredentialPolicy,
        ContentDecodePolicy,
        HeadersPolicy,
        NetworkTraceLoggingPolicy,
        RequestIdPolicy,
        UserAgentPolicy,
    )
    from azure.core.pipeline.transport import RequestsTransport

    transport_kwargs: dict[str, Any] = {"connection_timeout": timeouts[0], "read_timeout": timeouts[1]}
    if ca_bundle:
        transport_kwargs["connection_verify"] = ca_bundle
    return PipelineClient(
        base_url,
        policies=[
            RequestIdPolicy(),
            HeadersPolicy({"Accept": "application/json"}),
            UserAgentPolicy("eventhubs-adobe-connector"),
            BearerTokenCredentialPolicy(credential, scope),
            ContentDecodePolicy(),
            NetworkTraceLoggingPolicy(logging_enable=False),
        ],
        transport=RequestsTransport(use_env_settings=False, **transport_kwargs),
    )
