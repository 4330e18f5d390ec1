"""Flow Service runs of dataflows: ``GET /runs`` and ``GET /runs/{id}``, scripted by tests.

A run is what Adobe's monitoring API documents (help/dataflows/api/monitor.md): ``id``,
``flowId``, ``createdAt``, ``etag`` and ``metrics`` with ``durationSummary {startedAtUTC,
completedAtUTC}`` (epoch milliseconds), ``sizeSummary``, ``recordSummary {inputRecordCount,
outputRecordCount, failedRecordCount}`` and ``statusSummary {status, errors[]}``; streaming runs
are hourly windows. ``GET /runs`` takes ``property`` filters ANDed: ``flowId==<id>[,<id>]`` and
``metrics.durationSummary.startedAtUTC><ms>`` (also ``>=``, ``<``, ``<=``); anything else is
``1400-400``. Paging as every list: ``limit`` and ``_links.next.href`` with a
``continuationToken``; ``count=true`` answers ``{"count": n}`` (flow-service.yaml's ``count``
parameter). Runs are listed newest first (``orderby=-createdAt``, the API's default).

What breaks a health check, on purpose: a flow may have no run at all (Adobe may not list
streaming runs); a run added with ``listed_after`` stays out of listings until that time (runs
arriving late).
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from devstack.adobe.context import PlatformContext
from devstack.adobe.paging import decode_token, encode_token
from devstack.adobe.routing import Call, Route
from devstack.adobe.state import Record, new_etag
from devstack.httpbase import Response

__all__ = ["RUNS", "Runs"]

RUNS = "runs"
_STARTED = "metrics.durationSummary.startedAtUTC"
_TIME_FILTER = re.compile(rf"^{re.escape(_STARTED)}(>=|<=|>|<)(\d+)$")
_HOUR_MS = 3_600_000


class Runs:
    """The /runs resource over the shared store (kind ``runs``)."""

    def __init__(self, ctx: PlatformContext) -> None:
        self._ctx = ctx

    # -- control API -----------------------------------------------------------------------------

    def add(
        self,
        flow_id: str,
        *,
        status: str = "success",
        records_in: int = 0,
        records_out: int | None = None,
        records_failed: int = 0,
        started_at_ms: int | None = None,
        duration_ms: int = _HOUR_MS,
        errors: list[dict[str, str]] | None = None,
        sandbox: str = "prod",
        listed_after: float | None = None,
    ) -> dict[str, Any]:
        """Record one run of a flow (an hourly window ending now by default); returns it.

        ``listed_after`` (epoch seconds) keeps the run out of listings until then.
        """
        now = int(time.time() * 1000)
        started = started_at_ms if started_at_ms is not None else now - duration_ms
        out = records_out if records_out is not None else max(0, records_in - records_failed)
        data: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "flowId": flow_id,
            "createdAt": started,
            "updatedAt": started + duration_ms,
            "etag": new_etag(),
            "sandboxName": sandbox,
            "metrics": {
                "durationSummary": {"startedAtUTC": started, "completedAtUTC": started + duration_ms},
                "sizeSummary": {"inputBytes": records_in * 200, "outputBytes": out * 200},
                "recordSummary": {
                    "inputRecordCount": records_in,
                    "outputRecordCount": out,
                    "failedRecordCount": records_failed,
                },
                "statusSummary": {"status": status, "errors": list(errors or [])},
            },
            "activities": [],
        }
        self._ctx.store.add(RUNS, sandbox, data, listed_after=listed_after)
        return data

    def documents(self, flow_id: str | None = None) -> list[dict[str, Any]]:
        """Every run (of one flow), listed or not, oldest first."""
        return [r.snapshot() for r in self._ctx.store.list(RUNS) if flow_id is None or r.data["flowId"] == flow_id]

    # -- routes ----------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        return [Route("GET", "/runs", self._list), Route("GET", "/runs/{id}", self._get)]

    def _get(self, call: Call) -> Response:
        found = self._ctx.store.get(RUNS, call.params["id"], call.sandbox)
        if found is None or not _listed(found):
            return call.problem(404, "1402-404", f"Run {call.params['id']} not found")
        return Response.json(200, {"items": [found.snapshot()]})

    def _list(self, call: Call) -> Response:
        expressions = call.request.query.get("property", [])
        flows: set[str] | None = None
        bounds: list[tuple[str, int]] = []
        for expression in expressions:
            if expression.startswith("flowId=="):
                flows = set(expression[len("flowId==") :].split(","))
                continue
            match = _TIME_FILTER.match(expression)
            if match is None:
                return call.problem(400, "1400-400", f"Unsupported property filter {expression!r}")
            bounds.append((match.group(1), int(match.group(2))))
        try:
            limit = int(call.query_value("limit", str(self._ctx.page_size)))
            if not 1 <= limit <= 1000:
                raise ValueError
            token = call.query_value("continuationToken")
            after = decode_token(token) if token else None
        except ValueError:
            return call.problem(400, "1400-400", "Invalid limit or continuationToken")
        runs = [
            r
            for r in self._ctx.store.list(RUNS, call.sandbox)
            if _listed(r) and (flows is None or r.data["flowId"] in flows) and _within(r, bounds)
        ]
        if call.query_value("count").lower() == "true":
            return Response.json(200, {"count": len(runs)})
        runs.sort(key=lambda r: r.seq, reverse=True)  # newest first
        if after is not None:
            runs = [r for r in runs if r.seq < after]
        page = runs[:limit]
        links: dict[str, Any] = {}
        if len(runs) > limit:
            query = "&".join(f"property={p}" for p in expressions)
            relative = f"/runs?{query}&limit={limit}&continuationToken={encode_token(page[-1].seq)}"
            links["next"] = {"href": self._ctx.next_href(call.root, relative)}
        return Response.json(200, {"items": [r.snapshot() for r in page], "_links": links})


def _listed(record: Record) -> bool:
    after = record.flags.get("listed_after")
    return after is None or time.time() >= after


def _within(record: Record, bounds: list[tuple[str, int]]) -> bool:
    started = int(record.data["metrics"]["durationSummary"]["startedAtUTC"])
    for op, value in bounds:
        checks = {">": started > value, ">=": started >= value, "<": started < value, "<=": started <= value}
        if not checks[op]:
            return False
    return True
