"""Stand-in for Application Insights' ingestion endpoint (the Azure Monitor exporters' Breeze API).

The exporters POST ``{IngestionEndpoint}/v2.1/track`` with a JSON array of telemetry envelopes
(``{"name": "Microsoft.ApplicationInsights.RemoteDependency", "iKey", "time", "tags",
"data": {"baseType": "RemoteDependencyData", "baseData": {...}}}``), gzip-encoded or not, and read
``{"itemsReceived", "itemsAccepted", "errors": [...]}``. Every envelope received is kept.
"""

from __future__ import annotations

import gzip
import json
import threading
from typing import Any

from devstack.faults import RecordedRequest
from devstack.httpbase import Response, StandInServer

__all__ = ["AppInsightsStandIn"]


class AppInsightsStandIn(StandInServer):
    """Accepts every envelope and keeps it (`envelopes`, `of_type`)."""

    name = "appinsights"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._envelopes: list[dict[str, Any]] = []
        self._received = threading.Lock()

    def connection_string(self, instrumentation_key: str) -> str:
        """An Application Insights connection string whose ingestion endpoint is this stand-in."""
        return f"InstrumentationKey={instrumentation_key};IngestionEndpoint={self.base_url}/"

    def handle_request(self, request: RecordedRequest) -> Response:
        if request.method != "POST" or not request.path.endswith("/track"):
            return Response.json(404, {"error": f"no route {request.method} {request.path}"})
        raw = request.body
        if request.headers.get("content-encoding", "").lower() == "gzip" or raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        text = raw.decode("utf-8").strip()
        items = json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines() if line]
        with self._received:
            self._envelopes.extend(items)
        return Response.json(200, {"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []})

    @property
    def envelopes(self) -> list[dict[str, Any]]:
        with self._received:
            return list(self._envelopes)

    def of_type(self, base_type: str) -> list[dict[str, Any]]:
        """The `baseData` of every envelope of one type (RemoteDependencyData, MessageData, MetricData...)."""
        return [e["data"]["baseData"] for e in self.envelopes if e.get("data", {}).get("baseType") == base_type]

    def raw_text(self) -> str:
        """Everything received, as text (for leak checks)."""
        return json.dumps(self.envelopes)
