"""Flow Service source connections of Azure Event Hubs: ``/sourceConnections[/{id}]``.

A create is checked as Adobe's Event Hubs tutorial documents the body: ``name``,
``description``, ``baseConnectionId`` (a connection of the sandbox, else ``1402-400``),
``connectionSpec`` exactly the Event Hubs spec, ``data`` exactly ``{"format": "json"}``, ``params``
with a non-empty ``eventHubName`` and optional ``dataType`` (``raw``/``xdm``), ``reset``
(``earliest``/``latest``) and ``consumerGroup`` (a non-empty string); anything else is
``1400-400``. A source connection used by a flow cannot be deleted (``1418-400``).
"""

from __future__ import annotations

from typing import Any

from devstack.adobe.connections import KIND as CONNECTIONS
from devstack.adobe.flowobjects import INVALID, NOT_FOUND_REF, SOURCES, FlowObjects, flows_using, spec_problem
from devstack.adobe.routing import Call
from devstack.adobe.specs import EVENTHUBS_SPEC_ID
from devstack.adobe.state import Record
from devstack.httpbase import Response

__all__ = ["DEFAULT_CONSUMER_GROUP", "SourceConnections"]

DEFAULT_CONSUMER_GROUP = "$Default"
"""The consumer group of a source connection whose params name none."""
_PARAMS = {"eventHubName", "dataType", "reset", "consumerGroup"}
_CHOICES = {"dataType": ("raw", "xdm"), "reset": ("earliest", "latest")}


class SourceConnections(FlowObjects):
    """The /sourceConnections resource."""

    kind = SOURCES
    label = "Source connection"
    fields = frozenset({"name", "description", "baseConnectionId", "connectionSpec", "data", "params"})
    filterable = (
        "id",
        "name",
        "description",
        "baseConnectionId",
        "connectionSpec.id",
        "state",
        "params.eventHubName",
        "params.consumerGroup",
    )

    def check(self, call: Call, body: dict[str, Any]) -> Response | None:
        """The tutorial's body, a base connection of the sandbox."""
        problem = spec_problem(call, "connectionSpec", body.get("connectionSpec"), EVENTHUBS_SPEC_ID)
        if problem is not None:
            return problem
        base_id = body.get("baseConnectionId")
        if not isinstance(base_id, str) or not base_id.strip():
            return call.problem(400, INVALID, "baseConnectionId is required and must be a non-empty string")
        if body.get("data") != {"format": "json"}:
            return call.problem(400, INVALID, "data must be {'format': 'json'}")
        problem = self._params_problem(call, body.get("params"))
        if problem is not None:
            return problem
        if self._ctx.store.get(CONNECTIONS, base_id, call.sandbox) is None:
            return call.problem(
                400,
                NOT_FOUND_REF,
                f"base connection not found: {base_id}",
                resource_id=base_id,
                resource_type="connections",
            )
        return None

    def _params_problem(self, call: Call, params: Any) -> Response | None:
        if not isinstance(params, dict):
            return call.problem(400, INVALID, "params is required and must be an object")
        unknown = sorted(set(params) - _PARAMS)
        if unknown:
            return call.problem(400, INVALID, f"Unknown fields in params: {', '.join(unknown)}")
        hub = params.get("eventHubName")
        if not isinstance(hub, str) or not hub.strip():
            return call.problem(400, INVALID, "params.eventHubName is required and must be a non-empty string")
        for key, choices in _CHOICES.items():
            if key in params and params[key] not in choices:
                return call.problem(400, INVALID, f"params.{key} must be one of {', '.join(choices)}")
        group = params.get("consumerGroup", DEFAULT_CONSUMER_GROUP)
        if not isinstance(group, str) or not group.strip():
            return call.problem(400, INVALID, "params.consumerGroup must be a non-empty string")
        return None

    def used_by(self, record: Record) -> list[Record]:
        """Flows listing it in ``sourceConnectionIds``."""
        return flows_using(self._ctx.store, record.sandbox, "sourceConnectionIds", record.id)
