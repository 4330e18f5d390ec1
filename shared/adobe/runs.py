"""What a health check reads from Adobe: a flow's state, its runs, Observability's dataset metric;
and the one repair it may make (enable a disabled flow). Over the shared Transport: the same
retries, token refresh and Retry-After throttle as every other Adobe call."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from ..retry import Deadline
from .errors import json_body
from .transport import Transport, checked_id

FLOW_SERVICE_PATH: Final = "/data/foundation/flowservice"
OBSERVABILITY_PATH: Final = "/data/infrastructure/observability/insights/metrics"
DATASET_METRIC: Final = "timeseries.ingestion.dataset.recordsuccess.count"
MAX_RUN_PAGES: Final = 20


@dataclass(frozen=True)
class FlowRun:
    """One run of a flow, as much of it as health needs."""

    id: str
    status: str
    records_in: int
    records_out: int
    failed: int
    started_at_ms: int
    errors: tuple[str, ...] = ()

    @property
    def failed_run(self) -> bool:
        return self.status.lower() == "failed"


def parse_run(item: Any) -> FlowRun | None:
    """A run object of Flow Service (or of an I/O Events delivery), or None when it is not one."""
    if not isinstance(item, dict):
        return None
    metrics = _dict(item.get("metrics"))
    records, status = _dict(metrics.get("recordSummary")), _dict(metrics.get("statusSummary"))
    duration = _dict(metrics.get("durationSummary"))
    errors: list[Any] = status["errors"] if isinstance(status.get("errors"), list) else []
    return FlowRun(
        id=str(item.get("id") or ""),
        status=str(status.get("status") or "unknown"),
        records_in=_count(records.get("inputRecordCount")),
        records_out=_count(records.get("outputRecordCount")),
        failed=_count(records.get("failedRecordCount")),
        started_at_ms=_count(duration.get("startedAtUTC")),
        errors=tuple(str(e.get("code") or "") for e in errors if isinstance(e, dict)),
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else 0


class FlowMonitor:
    """Flow reads, runs listings, the dataset metric and the enable action."""

    def __init__(self, transport: Transport) -> None:
        self._http = transport
        self._flows = transport.platform_url + FLOW_SERVICE_PATH
        self._observability = transport.platform_url + OBSERVABILITY_PATH

    def flow_state(self, sandbox: str, flow_id: str, deadline: Deadline) -> str | None:
        """The flow's `state` (`enabled`/`disabled`, lower-cased), or None when Adobe has no such flow."""
        url = f"{self._flows}/flows/{checked_id(flow_id, source='storage')}"
        response = self._http.platform("GET", url, sandbox, deadline, ok=(200, 404))
        items = json_body(response).get("items") or []
        if response.status_code == 404 or not items or not isinstance(items[0], dict):
            return None
        return str(items[0].get("state") or "enabled").lower()

    def runs(self, sandbox: str, flow_id: str, since: datetime, deadline: Deadline) -> list[FlowRun]:
        """Every run of the flow started after `since` (all pages)."""
        params = [
            ("property", f"flowId=={checked_id(flow_id, source='storage')}"),
            ("property", f"metrics.durationSummary.startedAtUTC>{int(since.timestamp() * 1000)}"),
        ]
        found = (
            parse_run(item)
            for item in self._http.pages(f"{self._flows}/runs", sandbox, deadline, params, MAX_RUN_PAGES)
        )
        return [run for run in found if run is not None]

    def dataset_records(
        self, sandbox: str, dataset_ids: Iterable[str], start: datetime, end: datetime, deadline: Deadline
    ) -> dict[str, int]:
        """Records that reached each dataset between start and end (Observability Insights, one query)."""
        ids = sorted({checked_id(d, source="storage") for d in dataset_ids})
        if not ids:
            return {}
        body = {
            "start": start.isoformat().replace("+00:00", "Z"),
            "end": end.isoformat().replace("+00:00", "Z"),
            "granularity": "HOUR",
            "metrics": [
                {
                    "name": DATASET_METRIC,
                    "filters": [{"name": "dataSetId", "value": "|".join(ids), "groupBy": True}],
                    "aggregator": "sum",
                    "downsample": "sum",
                }
            ],
        }
        response = self._http.platform(
            "POST",
            self._observability,
            sandbox,
            deadline,
            ok=(200,),
            json=body,
            headers={"Content-Type": "application/json"},
        )
        counts = dict.fromkeys(ids, 0)
        for metric in json_body(response).get("metricResponses") or []:
            for point in (metric.get("datapoints") or []) if isinstance(metric, dict) else []:
                if not isinstance(point, dict):
                    continue
                dataset = _dict(point.get("groupBy")).get("dataSetId")
                if isinstance(dataset, str) and dataset in counts:
                    counts[dataset] += sum(_count(v) for v in _dict(point.get("dps")).values())
        return counts

    def enable(self, sandbox: str, flow_id: str, deadline: Deadline) -> None:
        """`POST /flows/{id}/action?op=enable` (idempotent: enabling an enabled flow changes nothing)."""
        url = f"{self._flows}/flows/{checked_id(flow_id, source='storage')}/action"
        self._http.platform("POST", url, sandbox, deadline, ok=(200, 202, 204), params=[("op", "enable")])
