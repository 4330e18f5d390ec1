"""Flow Service explore of a base connection: ``GET /connections/{id}/explore?objectType=root``.

The answer is a JSON array with one ``{"type": "table", "name", "path", "canPreview",
"canFetchSchema"}`` per event hub Adobe sees in the connection's namespace
(``auth.params.namespace``): the hubs given to :meth:`Explore.set_event_hubs` for that namespace
(none until then), only the connection's own hub when its params have ``eventHubName`` (a scoped
connection). :meth:`Explore.refuse` makes explore of a namespace's connections fail as with a SAS
rule without Manage rights (``1401-<status>``). Unknown connection: ``1401-404``; an
``objectType`` other than ``root`` (any case: flow-service.yaml's enum says ``ROOT``): ``1400-400``.
"""

from __future__ import annotations

import threading
from typing import Any

from devstack.adobe.connections import KIND as CONNECTIONS
from devstack.adobe.context import PlatformContext
from devstack.adobe.routing import Call, Route
from devstack.httpbase import Response

__all__ = ["Explore"]


class Explore:
    """The event hubs of each namespace as Adobe sees them, and the explore route."""

    def __init__(self, ctx: PlatformContext) -> None:
        self._ctx = ctx
        self._lock = threading.Lock()
        self._hubs: dict[str, list[str]] = {}
        self._refused: dict[str, int] = {}

    # -- control API ---------------------------------------------------------------------------

    def set_event_hubs(self, namespace: str, hubs: list[str]) -> None:
        """The event hubs of a namespace (replaces what was set before)."""
        with self._lock:
            self._hubs[namespace] = list(hubs)

    def refuse(self, namespace: str, status: int = 400) -> None:
        """Make explore of that namespace's connections fail with ``status``."""
        with self._lock:
            self._refused[namespace] = status

    def reset(self) -> None:
        """No event hubs, no refusals."""
        with self._lock:
            self._hubs.clear()
            self._refused.clear()

    # -- routes --------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """``GET /connections/{id}/explore``."""
        return [Route("GET", "/connections/{id}/explore", self._explore)]

    def _explore(self, call: Call) -> Response:
        connection_id = call.params["id"]
        found = self._ctx.store.get(CONNECTIONS, connection_id, call.sandbox)
        if found is None:
            return call.problem(
                404,
                "1401-404",
                f"Connection {connection_id} not found",
                resource_id=connection_id,
                resource_type="connections",
            )
        object_type = call.query_value("objectType")
        if object_type.lower() != "root":  # the tutorials' ``root``, flow-service.yaml's ``ROOT``
            return call.problem(400, "1400-400", f"Unsupported objectType {object_type!r}; use objectType=root")
        params: dict[str, Any] = found.data.get("auth", {}).get("params", {})
        namespace = str(params.get("namespace", ""))
        with self._lock:
            refused = self._refused.get(namespace)
            hubs = list(self._hubs.get(namespace, []))
        if refused is not None:
            return call.problem(
                refused,
                f"1401-{refused}",
                f"Failed to list the event hubs of namespace {namespace}: Unauthorized access. "
                "'Manage' claim(s) are required for this operation.",
                resource_id=connection_id,
                resource_type="connections",
            )
        scoped = params.get("eventHubName")
        if scoped:
            hubs = [hub for hub in hubs if hub == scoped]
        return Response.json(
            200,
            [{"type": "table", "name": hub, "path": hub, "canPreview": True, "canFetchSchema": True} for hub in hubs],
        )
