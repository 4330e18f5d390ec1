"""Flow Service base connections: ``/connections`` create and list, ``/connections/{id}`` get,
patch (JSON Patch with a strict ``If-Match``) and delete.

A create answers ``{"id", "etag"}`` with a ``Location`` header (the new connection's URL), as
flow-service.yaml documents it.

Documents are stored unmasked (the control API shows the exact params sent); every answer masks
:data:`~devstack.adobe.specs.SECRET_PARAMS`. A connection flagged ``in_use`` (``mark_in_use``), or
one the ``in_use`` callback says flows use, cannot be deleted (``1418-400``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from devstack.adobe.context import PlatformContext
from devstack.adobe.paging import list_response
from devstack.adobe.routing import Call, Route
from devstack.adobe.specs import EVENTHUBS_SPEC_ID, SAS_SPEC, masked
from devstack.adobe.state import Record, new_etag, now_ms
from devstack.httpbase import Response

__all__ = ["FILTERABLE", "KIND", "Connections"]

KIND = "connections"
FILTERABLE = ("id", "name", "description", "connectionSpec.id", "state")
_FIELDS = {"name", "description", "auth", "connectionSpec"}
_SPEC_REF = {"id": EVENTHUBS_SPEC_ID, "version": "1.0"}


class Connections:
    """The /connections resource over the shared store.

    ``in_use`` tells whether flows use a connection (read under the store lock at each DELETE).
    """

    def __init__(self, ctx: PlatformContext, *, in_use: Callable[[Record], bool] | None = None) -> None:
        self._ctx = ctx
        self._in_use = in_use

    # -- control API ---------------------------------------------------------------------------

    def store(
        self,
        sandbox: str,
        name: str,
        params: Mapping[str, Any],
        *,
        spec_name: str = SAS_SPEC,
        description: str | None = None,
    ) -> Record:
        """Store a connection as Flow Service would after a valid create."""
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
            "name": name,
        }
        if description is not None:
            data["description"] = description
        data.update(
            {
                "connectionSpec": dict(_SPEC_REF),
                "state": "enabled",
                "auth": {"specName": spec_name, "params": dict(params)},
                "version": etag,
                "etag": etag,
            }
        )
        return self._ctx.store.add(KIND, sandbox, data, in_use=False)

    def documents(self, sandbox: str | None) -> list[dict[str, Any]]:
        """Documents of a sandbox (every sandbox when None), oldest first, unmasked."""
        return [r.snapshot() for r in self._ctx.store.list(KIND, sandbox)]

    def document(self, connection_id: str) -> dict[str, Any] | None:
        """One document (any sandbox), unmasked, or None."""
        found = self._ctx.store.get(KIND, connection_id)
        return found.snapshot() if found else None

    def mark_in_use(self, connection_id: str, in_use: bool = True) -> None:
        """Flag a connection as used by flows (KeyError when unknown)."""
        found = self._ctx.store.get(KIND, connection_id)
        if found is None:
            raise KeyError(connection_id)
        found.flags["in_use"] = in_use

    # -- routes --------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """The /connections routes."""
        return [
            Route("POST", "/connections", self._create),
            Route("GET", "/connections", self._list),
            Route("GET", "/connections/{id}", self._get),
            Route("PATCH", "/connections/{id}", self._patch),
            Route("DELETE", "/connections/{id}", self._delete),
        ]

    def _create(self, call: Call) -> Response:
        body, error = call.json_body()
        if error is not None:
            return error
        if not isinstance(body, dict):
            return call.problem(400, "1400-400", "Request body must be a JSON object")
        unknown = sorted(set(body) - _FIELDS)
        if unknown:
            return call.problem(400, "1400-400", f"Unknown fields: {', '.join(unknown)}")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            return call.problem(400, "1400-400", "name is required and must be a non-empty string")
        description = body.get("description")
        if description is not None and not isinstance(description, str):
            return call.problem(400, "1400-400", "description must be a string")
        if body.get("connectionSpec") != _SPEC_REF:
            return call.problem(
                400,
                "1400-400",
                f"connectionSpec must be {{'id': '{EVENTHUBS_SPEC_ID}', 'version': '1.0'}}: connection spec not found",
            )
        auth = body.get("auth")
        if not isinstance(auth, dict) or set(auth) != {"specName", "params"}:
            return call.problem(400, "1400-400", "auth must be an object with specName and params")
        spec_name = auth["specName"]
        if not isinstance(spec_name, str) or spec_name not in self._ctx.specs:
            return call.problem(400, "1415-400", f"auth spec not found: {spec_name!r}")
        invalid = self._ctx.specs.validate(spec_name, auth["params"])
        if invalid is not None:
            return call.problem(400, *invalid)
        if self._ctx.create_delay > 0 and not self._ctx.sleep(self._ctx.create_delay):
            return call.problem(503, "1103-503", "Service is shutting down, please try again")
        record = self.store(call.sandbox, name, auth["params"], spec_name=spec_name, description=description)
        location = self._ctx.next_href(call.root, f"/connections/{record.id}")
        return Response.json(
            self._ctx.create_status, {"id": record.id, "etag": record.data["etag"]}, {"Location": location}
        )

    def _list(self, call: Call) -> Response:
        return list_response(
            call,
            self._ctx.store.list(KIND, call.sandbox),
            filterable=FILTERABLE,
            page_size=self._ctx.page_size,
            path="/connections",
            next_href=lambda relative: self._ctx.next_href(call.root, relative),
            render=lambda record: masked(record.data),
        )

    def _not_found(self, call: Call) -> Response:
        connection_id = call.params["id"]
        return call.problem(
            404,
            "1401-404",
            f"Connection {connection_id} not found",
            resource_id=connection_id,
            resource_type="connections",
        )

    def _get(self, call: Call) -> Response:
        found = self._ctx.store.get(KIND, call.params["id"], call.sandbox)
        if found is None:
            return self._not_found(call)
        return Response.json(200, {"items": [masked(found.data)]})

    def _patch(self, call: Call) -> Response:
        if_match = call.request.headers.get("if-match")
        if not if_match:
            return call.problem(400, "1403-400", "If-Match header is missing")
        body, error = call.json_body("application/json-patch+json")
        if error is not None:
            return error
        with self._ctx.store.lock:
            found = self._ctx.store.get(KIND, call.params["id"], call.sandbox)
            if found is None:
                return self._not_found(call)
            if if_match != found.data["etag"]:  # exact: a client that re-quotes the etag is caught
                return call.problem(
                    412,
                    "1404-412",
                    f"The version {if_match} does not match the current version of entity {found.id}",
                    resource_id=found.id,
                    resource_type="connections",
                )
            if not isinstance(body, list) or not body:
                return call.problem(400, "1400-400", "Body must be a non-empty JSON Patch array")
            updated = copy.deepcopy(found.data)
            for op in body:
                problem = self._apply_op(updated, op)
                if problem is not None:
                    return call.problem(400, *problem)
            etag = new_etag()
            updated.update({"etag": etag, "version": etag, "updatedAt": now_ms()})
            found.data = updated
        return Response.json(200, {"id": found.id, "etag": etag})

    def _apply_op(self, data: dict[str, Any], op: Any) -> tuple[str, str] | None:
        if not isinstance(op, dict) or op.get("op") not in ("replace", "add") or "value" not in op:
            return "1400-400", f"Unsupported JSON Patch operation: {op!r}"
        path, value = op.get("path"), op["value"]
        if path in ("/name", "/description"):
            if not isinstance(value, str) or (path == "/name" and not value.strip()):
                return "1400-400", f"{path[1:]} must be a non-empty string"
            data[path[1:]] = value
            return None
        if path == "/auth/params":
            candidate = value
        elif isinstance(path, str) and path.startswith("/auth/params/"):
            candidate = dict(data["auth"]["params"])
            candidate[path[len("/auth/params/") :]] = value
        else:
            return "1400-400", f"Unsupported JSON Patch path: {path!r}"
        invalid = self._ctx.specs.validate(data["auth"]["specName"], candidate)
        if invalid is not None:
            return invalid
        data["auth"]["params"] = dict(candidate)
        return None

    def _delete(self, call: Call) -> Response:
        with self._ctx.store.lock:
            found = self._ctx.store.get(KIND, call.params["id"], call.sandbox)
            if found is None:
                return self._not_found(call)
            if found.flags.get("in_use") or (self._in_use is not None and self._in_use(found)):
                return call.problem(
                    400,
                    "1418-400",
                    f"Connection {found.id} is used by one or more flows and cannot be deleted",
                    resource_id=found.id,
                    resource_type="connections",
                )
            self._ctx.store.remove(KIND, found.id)
        return Response(204)
