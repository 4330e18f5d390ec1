"""Flow Service streaming dataflows: ``/flows[/{id}]``.

A create is checked as Adobe's streaming tutorial documents the body: ``name``, ``description``,
``flowSpec`` exactly the streaming flow spec, ``sourceConnectionIds`` and ``targetConnectionIds``
each a list of exactly one id, optional ``transformations`` (``[{"name": "Mapping", "params":
{"mappingId", "mappingVersion"}}]``; ``mappingVersion`` an integer >= 0 as the tutorials send it, or
its decimal string, the type flow-service.yaml gives it, and kept as that string, as Adobe's
``GET /flows`` samples show it): anything else is ``1400-400``. Both connections must exist
in the sandbox (``1402-400``). A consumer group serves one flow at a time: a flow whose source
reads the same (namespace of the base connection, ``eventHubName``, ``consumerGroup``) as the
source of a flow of the sandbox is refused (``1421-400``). While a flow exists, its source and
target connections and the source's base connection cannot be deleted (``1418-400``); a flow's
own DELETE always succeeds. Unknown flow: ``1439-404``.
"""

from __future__ import annotations

from typing import Any

from devstack.adobe.connections import KIND as CONNECTIONS
from devstack.adobe.flowobjects import (
    FLOWS,
    INVALID,
    NOT_FOUND_REF,
    SOURCES,
    TARGETS,
    FlowObjects,
    object_problem,
    spec_problem,
)
from devstack.adobe.routing import Call
from devstack.adobe.sources import DEFAULT_CONSUMER_GROUP
from devstack.adobe.state import Record
from devstack.httpbase import Response

__all__ = ["CONSUMER_GROUP_IN_USE", "FLOW_SPEC_ID", "Flows"]

FLOW_SPEC_ID = "d69717ba-71b4-4313-b654-49f9cf126d7a"
CONSUMER_GROUP_IN_USE = "1421-400"

Reader = tuple[str, str, str]
"""(namespace, event hub, consumer group) a source connection reads."""


class Flows(FlowObjects):
    """The /flows resource."""

    kind = FLOWS
    label = "Flow"
    fields = frozenset(
        {"name", "description", "flowSpec", "sourceConnectionIds", "targetConnectionIds", "transformations"}
    )
    filterable = ("id", "name", "description", "flowSpec.id", "state")
    not_found_code = "1439-404"
    location_header = True

    def check(self, call: Call, body: dict[str, Any]) -> Response | None:
        """The tutorial's body, connections of the sandbox, a consumer group no other flow reads."""
        problem = spec_problem(call, "flowSpec", body.get("flowSpec"), FLOW_SPEC_ID)
        for key in ("sourceConnectionIds", "targetConnectionIds"):
            ids = body.get(key)
            if problem is None and (not isinstance(ids, list) or len(ids) != 1 or not isinstance(ids[0], str)):
                problem = call.problem(400, INVALID, f"{key} must be a list of exactly one connection id")
        problem = problem or _transformations_problem(call, body.get("transformations"))
        if problem is not None:
            return problem
        source_id, target_id = body["sourceConnectionIds"][0], body["targetConnectionIds"][0]
        source = self._ctx.store.get(SOURCES, source_id, call.sandbox)
        if source is None:
            return self._missing(call, SOURCES, "Source", source_id)
        if self._ctx.store.get(TARGETS, target_id, call.sandbox) is None:
            return self._missing(call, TARGETS, "Target", target_id)
        reader = self._reader(source)
        for flow in self._ctx.store.list(FLOWS, call.sandbox):
            if reader in {self._reader(s) for s in self._sources_of(flow)}:
                return call.problem(
                    400,
                    CONSUMER_GROUP_IN_USE,
                    f"Consumer group {reader[2]!r} of event hub {reader[1]!r} in namespace {reader[0]!r} is already "
                    f"used by flow {flow.id}: a consumer group can only be used for a single flow at a given time",
                    resource_id=flow.id,
                    resource_type=FLOWS,
                )
        return None

    def stored(self, body: dict[str, Any]) -> dict[str, Any]:
        """The body with each ``mappingVersion`` as a string (TransformationSpecDTO's type)."""
        transformations = body.get("transformations")
        if not isinstance(transformations, list):
            return body
        kept = []
        for item in transformations:
            params = dict(item["params"])
            if "mappingVersion" in params:
                params["mappingVersion"] = str(params["mappingVersion"])
            kept.append({**item, "params": params})
        return {**body, "transformations": kept}

    def _missing(self, call: Call, kind: str, label: str, record_id: str) -> Response:
        message = f"{label} connection not found: {record_id}"
        return call.problem(400, NOT_FOUND_REF, message, resource_id=record_id, resource_type=kind)

    def uses_base_connection(self, connection: Record) -> bool:
        """Whether a flow of its sandbox reads from a source connection on that base connection."""
        return any(
            source.data.get("baseConnectionId") == connection.id
            for flow in self._ctx.store.list(FLOWS, connection.sandbox)
            for source in self._sources_of(flow)
        )

    def _sources_of(self, flow: Record) -> list[Record]:
        ids = flow.data.get("sourceConnectionIds")
        found = [self._ctx.store.get(SOURCES, str(i), flow.sandbox) for i in ids] if isinstance(ids, list) else []
        return [source for source in found if source is not None]

    def _reader(self, source: Record) -> Reader:
        params: dict[str, Any] = source.data.get("params") or {}
        base_id = str(source.data.get("baseConnectionId"))
        base = self._ctx.store.get(CONNECTIONS, base_id, source.sandbox)
        namespace = base.data.get("auth", {}).get("params", {}).get("namespace") if base else None
        return (
            str(namespace or f"connection {base_id}"),
            str(params.get("eventHubName")),
            str(params.get("consumerGroup", DEFAULT_CONSUMER_GROUP)),
        )


def _transformations_problem(call: Call, value: Any) -> Response | None:
    if value is None:
        return None
    if not isinstance(value, list):
        return call.problem(400, INVALID, "transformations must be a list")
    for item in value:
        problem = object_problem(call, "transformations[]", item, ("name", "params"), ("name",))
        problem = problem or object_problem(
            call, "transformations[].params", item.get("params"), ("mappingId", "mappingVersion"), ("mappingId",)
        )
        if problem is not None:
            return problem
        if item["name"] != "Mapping":
            return call.problem(400, INVALID, f"Unsupported transformation {item['name']!r}; use Mapping")
        version = item["params"].get("mappingVersion", 0)
        number = isinstance(version, int) and not isinstance(version, bool) and version >= 0
        if not number and not (isinstance(version, str) and version.isascii() and version.isdecimal()):
            return call.problem(
                400, INVALID, "transformations[].params.mappingVersion must be an integer >= 0 or its decimal string"
            )
    return None
