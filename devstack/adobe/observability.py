"""Observability Insights: ``POST /data/infrastructure/observability/insights/metrics``, the
dataset metric ``timeseries.ingestion.dataset.recordsuccess.count`` only.

The body is checked as the Observability API documents it: ``start``, ``end`` (ISO times),
``granularity``, ``metrics: [{"name", "filters": [{"name": "dataSetId", "value": "<id>|<id>",
"groupBy": true}], "aggregator", "downsample"}]``; the answer is ``{"metricResponses":
[{"metric", "filters", "datapoints": [{"groupBy": {"dataSetId": id}, "dps": {"<ISO hour>": n}}],
"granularity"}]}``, one datapoint series per dataset asked for (empty ``dps`` when nothing
arrived). Tests script arrivals with :meth:`Observability.add_records` and an outage with
:attr:`Observability.outage` (answered with that status).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from devstack.adobe.routing import Call, Route
from devstack.httpbase import Response

__all__ = ["DATASET_METRIC", "OBSERVABILITY_PATH", "Observability"]

OBSERVABILITY_PATH = "/data/infrastructure/observability/insights"
DATASET_METRIC = "timeseries.ingestion.dataset.recordsuccess.count"


class Observability:
    """Records that reached each dataset, per hour, and the metrics route over them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._points: dict[str, list[tuple[datetime, int]]] = {}
        self.outage: int | None = None
        """A status (e.g. 503) every metrics query is answered with, or None."""

    def reset(self) -> None:
        with self._lock:
            self._points.clear()
        self.outage = None

    def add_records(self, dataset_id: str, count: int, at: datetime | None = None) -> None:
        """``count`` records landed in a dataset at ``at`` (now by default)."""
        with self._lock:
            self._points.setdefault(dataset_id, []).append((at or datetime.now(UTC), count))

    def routes(self) -> list[Route]:
        return [Route("POST", "/metrics", self._metrics)]

    def _metrics(self, call: Call) -> Response:
        if self.outage is not None:
            return call.problem(self.outage, f"{self.outage}000", "Observability is unavailable", service="OBS")
        body, error = call.json_body()
        if error is not None:
            return error
        try:
            start, end = _time(body["start"]), _time(body["end"])
            metrics = body["metrics"]
            assert isinstance(metrics, list) and metrics and isinstance(body.get("granularity"), str)
        except (KeyError, TypeError, ValueError, AssertionError):
            return call.problem(400, "1400-400", "start, end, granularity and metrics are required", service="OBS")
        responses = []
        for metric in metrics:
            if not isinstance(metric, dict) or metric.get("name") != DATASET_METRIC:
                return call.problem(400, "1400-400", f"Unsupported metric; use {DATASET_METRIC}", service="OBS")
            filters = metric.get("filters") or []
            ids = [
                part
                for f in filters
                if isinstance(f, dict) and f.get("name") == "dataSetId"
                for part in str(f.get("value", "")).split("|")
                if part
            ]
            responses.append(
                {
                    "metric": DATASET_METRIC,
                    "filters": filters,
                    "datapoints": [{"groupBy": {"dataSetId": d}, "dps": self._hourly(d, start, end)} for d in ids],
                    "granularity": body["granularity"],
                }
            )
        return Response.json(200, {"metricResponses": responses})

    def _hourly(self, dataset_id: str, start: datetime, end: datetime) -> dict[str, int]:
        hours: dict[str, int] = {}
        with self._lock:
            points = list(self._points.get(dataset_id, []))
        for at, count in points:
            if start <= at < end:
                hour = at.replace(minute=0, second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
                hours[hour] = hours.get(hour, 0) + count
        return hours


def _time(value: Any) -> datetime:
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
