"""Catalog Service datasets: ``GET /data/foundation/catalog/dataSets/{id}``.

Catalog answers a dataset as an object keyed by its id, ``{"<id>": {"name", "schemaRef": {"id",
"contentType"}, ...}}`` (the document has no ``id`` inside); an id unknown in the sandbox is 404
``CAT-1110-404`` in the stand-in's error style. Datasets are made by the control API only
(:meth:`Datasets.add`); one made with ``schema_id=""`` has no ``schemaRef``, which target
connection creates then refuse.
"""

from __future__ import annotations

import secrets
from typing import Any

from devstack.adobe.context import PlatformContext
from devstack.adobe.routing import Call, Route
from devstack.adobe.state import Record, now_ms
from devstack.httpbase import Response

__all__ = ["CATALOG_PATH", "KIND", "SCHEMA_CONTENT_TYPE", "TENANT_ID", "Datasets"]

CATALOG_PATH = "/data/foundation/catalog"
KIND = "dataSets"
TENANT_ID = "devstack"
"""The tenant in generated schema ids (``https://ns.adobe.com/devstack/schemas/<hash>``)."""
SCHEMA_CONTENT_TYPE = "application/vnd.adobe.xed-full+json;version=1"


class Datasets:
    """Catalog datasets over the shared store."""

    def __init__(self, ctx: PlatformContext) -> None:
        self._ctx = ctx

    # -- control API ---------------------------------------------------------------------------

    def add(
        self, name: str, *, sandbox: str = "prod", schema_id: str | None = None, dataset_id: str | None = None
    ) -> str:
        """Make a dataset exist; returns its id (24 hex digits unless given).

        ``schema_id`` None generates an XDM schema id; ``""`` makes a dataset without schema.
        """
        if schema_id is None:
            schema_id = f"https://ns.adobe.com/{TENANT_ID}/schemas/{secrets.token_hex(24)}"
        now = now_ms()
        who = self._ctx.client_id
        data: dict[str, Any] = {
            "id": dataset_id or secrets.token_hex(12),
            "name": name,
            "imsOrg": self._ctx.org_id,
            "sandboxName": sandbox,
            "tags": {},
            "version": "1.0.0",
            "created": now,
            "updated": now,
            "createdClient": who,
            "createdUser": f"{who}@AdobeID",
            "updatedUser": f"{who}@AdobeID",
        }
        if schema_id:
            data["schemaRef"] = {"id": schema_id, "contentType": SCHEMA_CONTENT_TYPE}
        return self._ctx.store.add(KIND, sandbox, data).id

    def documents(self, sandbox: str | None) -> list[dict[str, Any]]:
        """Datasets of a sandbox (every sandbox when None), oldest first, each with its ``id``."""
        return [r.snapshot() for r in self._ctx.store.list(KIND, sandbox)]

    def get(self, dataset_id: str, sandbox: str) -> Record | None:
        """The record of a dataset of that sandbox, or None."""
        return self._ctx.store.get(KIND, dataset_id, sandbox)

    # -- routes --------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """``GET /dataSets/{id}`` (relative to :data:`CATALOG_PATH`)."""
        return [Route("GET", "/dataSets/{id}", self._get)]

    def _get(self, call: Call) -> Response:
        found = self.get(call.params["id"], call.sandbox)
        if found is None:
            dataset_id = call.params["id"]
            return call.problem(
                404,
                "1110-404",
                f"Dataset {dataset_id} not found",
                resource_id=dataset_id,
                resource_type="dataSets",
                service="CAT",
            )
        document = found.snapshot()
        del document["id"]
        return Response.json(200, {found.id: document})
