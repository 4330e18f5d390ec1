"""Azure Monitor metrics of Event Hubs namespaces over Resource Manager, as the real service answers.

``GET {arm}{namespace resource id}/providers/Microsoft.Insights/metrics?api-version=2023-10-01
&metricnames=IncomingMessages&aggregation=Total&interval=PT1H&timespan=<from>/<to>
&$filter=EntityName eq '*'`` answers the documented ``Response`` (Azure Monitor REST, Metrics -
List): ``{"cost", "timespan", "interval", "namespace", "resourceregion", "value": [{"id", "type",
"name": {"value", "localizedValue"}, "unit", "timeseries": [{"metadatavalues": [{"name":
{"value": "entityname"}, "value": "<hub>"}], "data": [{"timeStamp", "total"}]}], "errorCode"}]}``.
``$filter`` ``EntityName eq '*'`` splits by hub (one series per hub with traffic), ``EntityName eq
'<hub>'`` keeps one; without a filter one series holds the namespace's total. Errors are ARM's
``{"error": {"code", "message"}}``. Served on the Resource Graph stand-in's HTTPS host (the same
``AZURE_RESOURCE_MANAGER_URL``, the same bearer check): :class:`MonitorMetrics` is mounted with
:meth:`devstack.resourcegraph.ResourceGraphStandIn.mount`.

Tests script each hub's traffic (:meth:`MonitorMetrics.add_messages`) and an outage
(:attr:`MonitorMetrics.outage`: every query answers that status, as ARM throttling or a regional
Monitor incident does; 429 comes with ``Retry-After``).
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from devstack.faults import RecordedRequest
from devstack.httpbase import Response

__all__ = ["API_VERSION", "METRIC", "MonitorMetrics"]

API_VERSION = "2023-10-01"
METRIC = "IncomingMessages"
_PATH = re.compile(
    r"^(?P<rid>/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.EventHub/namespaces/[^/]+)"
    r"/providers/Microsoft\.Insights/metrics/?$",
    re.IGNORECASE,
)
_FILTER = re.compile(r"^\s*EntityName\s+eq\s+'([^']*)'\s*$", re.IGNORECASE)
_INTERVALS = {"PT1M": 1, "PT5M": 5, "PT15M": 15, "PT30M": 30, "PT1H": 60, "PT6H": 360, "PT12H": 720, "P1D": 1440}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response.json(status, {"error": {"code": code, "message": message}}, headers)


class MonitorMetrics:
    """``IncomingMessages`` per (namespace resource id, hub), and the metrics route over them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: dict[str, list[tuple[str, datetime, int]]] = {}
        self.outage: int | None = None
        """A status every metrics query answers (e.g. 503, or 429 with ``Retry-After: 1``), or None."""

    def reset(self) -> None:
        with self._lock:
            self._messages.clear()
        self.outage = None

    def add_messages(self, resource_id: str, hub: str, count: int, at: datetime | None = None) -> None:
        """``count`` messages arrived in a hub of the namespace at ``at`` (now by default)."""
        with self._lock:
            self._messages.setdefault(resource_id.lower(), []).append((hub.lower(), at or datetime.now(UTC), count))

    def answer(self, request: RecordedRequest) -> Response | None:
        """The answer to a metrics request, or None when the path is not one (another route's)."""
        match = _PATH.match(request.path)
        if match is None:
            return None
        if request.method != "GET":
            return _error(405, "HttpMethodNotAllowed", f"The HTTP method '{request.method}' is not supported.")
        query = {key.lower(): values[-1] for key, values in request.query.items() if values}
        if query.get("api-version") != API_VERSION:
            return _error(400, "InvalidApiVersionParameter", f"The api-version must be {API_VERSION} here.")
        if self.outage is not None:
            headers = {"Retry-After": "1"} if self.outage == 429 else None
            return _error(self.outage, "ServiceUnavailable", "Azure Monitor metrics are unavailable.", headers)
        if query.get("metricnames") != METRIC:
            return _error(400, "BadRequest", f"Only metricnames={METRIC} is served here.")
        if query.get("aggregation", "").lower() != "total":
            return _error(400, "BadRequest", "Only aggregation=Total is served here.")
        interval = query.get("interval", "PT1M").upper()
        if interval not in _INTERVALS:
            return _error(400, "BadRequest", f"Invalid interval {interval}.")
        try:
            start_text, end_text = query["timespan"].split("/", 1)
            start, end = _time(start_text), _time(end_text)
        except (KeyError, ValueError):
            return _error(400, "BadRequest", "timespan must be <ISO start>/<ISO end>.")
        entity: str | None = None
        if "$filter" in query:
            found = _FILTER.match(query["$filter"])
            if found is None:
                return _error(400, "BadRequest", "Only $filter=EntityName eq '<hub>|*' is served here.")
            entity = found.group(1).lower()
        return Response.json(200, self._body(match.group("rid"), start, end, interval, entity))

    def _body(self, rid: str, start: datetime, end: datetime, interval: str, entity: str | None) -> dict[str, Any]:
        step = timedelta(minutes=_INTERVALS[interval])
        with self._lock:
            arrivals = [a for a in self._messages.get(rid.lower(), []) if start <= a[1] < end]
        series: dict[str, dict[datetime, int]] = {}
        for hub, at, count in arrivals:
            if entity not in (None, "*") and hub != entity:
                continue
            bucket = start + step * int((at - start) / step)
            per = series.setdefault(hub if entity is not None else "", {})
            per[bucket] = per.get(bucket, 0) + count
        if entity not in (None, "*") and not series:
            series[entity] = {}
        timeseries = []
        for hub, buckets in sorted(series.items()):
            data = []
            at = start
            while at < end:
                data.append({"timeStamp": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "total": float(buckets.get(at, 0))})
                at += step
            metadata = [{"name": {"value": "entityname", "localizedValue": "entityname"}, "value": hub}]
            timeseries.append({"metadatavalues": metadata if entity is not None else [], "data": data})
        return {
            "cost": 0,
            "timespan": f"{start.strftime('%Y-%m-%dT%H:%M:%SZ')}/{end.strftime('%Y-%m-%dT%H:%M:%SZ')}",
            "interval": interval,
            "namespace": "Microsoft.EventHub/namespaces",
            "resourceregion": "westeurope",
            "value": [
                {
                    "id": f"{rid}/providers/Microsoft.Insights/metrics/{METRIC}",
                    "type": "Microsoft.Insights/metrics",
                    "name": {"value": METRIC, "localizedValue": "Incoming Messages"},
                    "displayDescription": "Incoming Messages for Microsoft.EventHub.",
                    "unit": "Count",
                    "timeseries": timeseries,
                    "errorCode": "Success",
                }
            ],
        }


def _time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
