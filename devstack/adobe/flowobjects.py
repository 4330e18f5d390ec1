"""What the three Flow Service objects of a dataflow share: source connections, target connections
and flows (:mod:`~devstack.adobe.sources`, :mod:`~devstack.adobe.targets`,
:mod:`~devstack.adobe.flows`).

Each is a :class:`FlowObjects` subclass serving, under ``/{kind}``:

- ``POST``: the common checks here (a JSON object, no unknown field, a non-empty ``name``, a
  string ``description``), then the kind's own :meth:`FlowObjects.check`; the check and the insert
  run under the store lock, so two racing creates see each other. Answers ``create_status``
  ``{"id", "etag"}`` (flows: with a ``Location`` header) and keeps :meth:`FlowObjects.stored`
  of the body.
- ``GET``: ``property`` filters and paging of :mod:`~devstack.adobe.paging`, as ``/connections``.
- ``GET /{id}``: ``{"items": [doc]}``; ``DELETE /{id}``: 204, or ``1418-400`` while flows use it.

Codes shared by the three: ``1400-400`` an invalid body (shape, values, spec ids); ``1402-400`` a
referenced object (base connection, dataset, source or target connection) that does not exist in
the sandbox; ``1418-400`` an object used by flows.
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from typing import Any, ClassVar

from devstack.adobe.context import PlatformContext
from devstack.adobe.paging import list_response
from devstack.adobe.routing import Call, Route
from devstack.adobe.state import Record, Store, new_etag, now_ms
from devstack.httpbase import Response

__all__ = [
    "FLOWS",
    "INVALID",
    "IN_USE",
    "NOT_FOUND_REF",
    "SOURCES",
    "TARGETS",
    "FlowObjects",
    "flows_using",
    "object_problem",
    "spec_problem",
]

SOURCES = "sourceConnections"
TARGETS = "targetConnections"
FLOWS = "flows"

INVALID = "1400-400"
NOT_FOUND_REF = "1402-400"
IN_USE = "1418-400"


def flows_using(store: Store, sandbox: str, key: str, record_id: str) -> list[Record]:
    """Flows of a sandbox whose ``key`` (``sourceConnectionIds``/``targetConnectionIds``) lists the id."""
    found = []
    for flow in store.list(FLOWS, sandbox):
        ids = flow.data.get(key)
        if isinstance(ids, list) and record_id in ids:
            found.append(flow)
    return found


def spec_problem(call: Call, field: str, value: Any, spec_id: str) -> Response | None:
    """``1400-400`` unless ``value`` is exactly ``{"id": spec_id, "version": "1.0"}``."""
    if value == {"id": spec_id, "version": "1.0"}:
        return None
    return call.problem(400, INVALID, f"{field} must be {{'id': '{spec_id}', 'version': '1.0'}}: {field} not found")


def object_problem(
    call: Call, field: str, value: Any, allowed: Collection[str], required: Collection[str] = ()
) -> Response | None:
    """``1400-400`` unless ``value`` is an object with only ``allowed`` keys and every ``required``
    one (a non-empty string)."""
    if not isinstance(value, dict):
        return call.problem(400, INVALID, f"{field} is required and must be an object")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        return call.problem(400, INVALID, f"Unknown fields in {field}: {', '.join(unknown)}")
    for key in required:
        if not isinstance(value.get(key), str) or not value[key].strip():
            return call.problem(400, INVALID, f"{field}.{key} is required and must be a non-empty string")
    return None


class FlowObjects:
    """One Flow Service kind over the shared store; subclasses set the class variables and
    :meth:`check` (and :meth:`used_by` when flows can use the objects)."""

    kind: ClassVar[str]
    """Store kind and path segment (``sourceConnections``)."""
    label: ClassVar[str]
    """What error messages call one object (``Source connection``)."""
    fields: ClassVar[frozenset[str]]
    """The top-level fields a create may send (``name`` and ``description`` included)."""
    filterable: ClassVar[tuple[str, ...]]
    """Keys of ``property`` filters."""
    not_found_code: ClassVar[str] = "1401-404"
    location_header: ClassVar[bool] = False
    """Whether a create answers a ``Location`` header (flow-service.yaml documents one for flows)."""

    def __init__(self, ctx: PlatformContext) -> None:
        self._ctx = ctx

    # -- what subclasses define ------------------------------------------------------------------

    def check(self, call: Call, body: dict[str, Any]) -> Response | None:
        """The problem with a create body past the common checks, or None (runs under the lock)."""
        raise NotImplementedError

    def used_by(self, record: Record) -> list[Record]:
        """The flows that use an object (its DELETE is refused while there are any)."""
        return []

    def stored(self, body: dict[str, Any]) -> dict[str, Any]:
        """The document fields of a valid create body, as Flow Service keeps them (the body itself)."""
        return body

    # -- control API -----------------------------------------------------------------------------

    def store(self, sandbox: str, body: dict[str, Any]) -> Record:
        """Store an object as Flow Service would after a valid create of ``body``."""
        now = now_ms()
        etag = new_etag()
        who = self._ctx.client_id
        data: dict[str, Any] = {
            "createdAt": now,
            "updatedAt": now,
            "createdBy": f"{who}@AdobeID",
            "updatedBy": f"{who}@AdobeID",
            "createdClient": who,
            "updatedClient": who,
            "sandboxName": sandbox,
            "imsOrgId": self._ctx.org_id,
            **copy.deepcopy(body),
            "state": "enabled",
            "version": etag,
            "etag": etag,
        }
        return self._ctx.store.add(self.kind, sandbox, data)

    def documents(self, sandbox: str | None) -> list[dict[str, Any]]:
        """Documents of a sandbox (every sandbox when None), oldest first."""
        return [r.snapshot() for r in self._ctx.store.list(self.kind, sandbox)]

    def document(self, record_id: str) -> dict[str, Any] | None:
        """One document (any sandbox), or None."""
        found = self._ctx.store.get(self.kind, record_id)
        return found.snapshot() if found else None

    # -- routes ----------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """``POST``/``GET /{kind}``, ``GET``/``DELETE /{kind}/{id}``."""
        path = "/" + self.kind
        return [
            Route("POST", path, self._create),
            Route("GET", path, self._list),
            Route("GET", path + "/{id}", self._get),
            Route("DELETE", path + "/{id}", self._delete),
        ]

    def _create(self, call: Call) -> Response:
        body, error = call.json_body()
        if error is not None:
            return error
        if not isinstance(body, dict):
            return call.problem(400, INVALID, "Request body must be a JSON object")
        unknown = sorted(set(body) - self.fields)
        if unknown:
            return call.problem(400, INVALID, f"Unknown fields: {', '.join(unknown)}")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            return call.problem(400, INVALID, "name is required and must be a non-empty string")
        if body.get("description") is not None and not isinstance(body["description"], str):
            return call.problem(400, INVALID, "description must be a string")
        with self._ctx.store.lock:
            problem = self.check(call, body)
            if problem is not None:
                return problem
            record = self.store(call.sandbox, self.stored(body))
        headers = {}
        if self.location_header:
            headers["Location"] = self._ctx.next_href(call.root, f"/{self.kind}/{record.id}")
        return Response.json(self._ctx.create_status, {"id": record.id, "etag": record.data["etag"]}, headers)

    def _list(self, call: Call) -> Response:
        return list_response(
            call,
            self._ctx.store.list(self.kind, call.sandbox),
            filterable=self.filterable,
            page_size=self._ctx.page_size,
            path="/" + self.kind,
            next_href=lambda relative: self._ctx.next_href(call.root, relative),
            render=lambda record: record.snapshot(),
        )

    def _not_found(self, call: Call) -> Response:
        record_id = call.params["id"]
        return call.problem(
            404,
            self.not_found_code,
            f"{self.label} {record_id} not found",
            resource_id=record_id,
            resource_type=self.kind,
        )

    def _get(self, call: Call) -> Response:
        found = self._ctx.store.get(self.kind, call.params["id"], call.sandbox)
        if found is None:
            return self._not_found(call)
        return Response.json(200, {"items": [found.snapshot()]})

    def _delete(self, call: Call) -> Response:
        with self._ctx.store.lock:
            found = self._ctx.store.get(self.kind, call.params["id"], call.sandbox)
            if found is None:
                return self._not_found(call)
            users = ", ".join(flow.id for flow in self.used_by(found))
            if users:
                return call.problem(
                    400,
                    IN_USE,
                    f"{self.label} {found.id} is used by flows ({users}) and cannot be deleted",
                    resource_id=found.id,
                    resource_type=self.kind,
                )
            self._ctx.store.remove(self.kind, found.id)
        return Response(204)
