"""Flow Service target connections to the Data Lake: ``/targetConnections[/{id}]``.

A create is checked as Adobe's streaming tutorial documents the body: ``name``, ``description``,
``connectionSpec`` exactly the Data Lake spec, ``data`` with ``format`` ``parquet_xdm`` and a
``schema`` with non-empty ``id`` and ``version`` (a target without schema is refused), ``params``
with a ``dataSetId``: anything else is ``1400-400``. The dataset must exist in the sandbox
(``1402-400``), have a schema and the one sent (``1409-400``). A target connection used by a flow
cannot be deleted (``1418-400``).
"""

from __future__ import annotations

from typing import Any

from devstack.adobe.catalog import Datasets
from devstack.adobe.context import PlatformContext
from devstack.adobe.flowobjects import (
    INVALID,
    NOT_FOUND_REF,
    TARGETS,
    FlowObjects,
    flows_using,
    object_problem,
    spec_problem,
)
from devstack.adobe.routing import Call
from devstack.adobe.state import Record
from devstack.httpbase import Response

__all__ = ["DATA_LAKE_SPEC_ID", "SCHEMA_MISMATCH", "TargetConnections"]

DATA_LAKE_SPEC_ID = "c604ff05-7f1a-43c0-8e18-33bf874cb11c"
SCHEMA_MISMATCH = "1409-400"


class TargetConnections(FlowObjects):
    """The /targetConnections resource; datasets are read from ``datasets``."""

    kind = TARGETS
    label = "Target connection"
    fields = frozenset({"name", "description", "connectionSpec", "data", "params"})
    filterable = ("id", "name", "description", "connectionSpec.id", "state", "params.dataSetId")

    def __init__(self, ctx: PlatformContext, datasets: Datasets) -> None:
        super().__init__(ctx)
        self._datasets = datasets

    def check(self, call: Call, body: dict[str, Any]) -> Response | None:
        """The tutorial's body with a schema, a dataset of the sandbox with that schema."""
        problem = (
            spec_problem(call, "connectionSpec", body.get("connectionSpec"), DATA_LAKE_SPEC_ID)
            or object_problem(call, "data", body.get("data"), ("format", "schema"), ("format",))
            or object_problem(call, "data.schema", body["data"].get("schema"), ("id", "version"), ("id", "version"))
            or object_problem(call, "params", body.get("params"), ("dataSetId",), ("dataSetId",))
        )
        if problem is not None:
            return problem
        if body["data"]["format"] != "parquet_xdm":
            return call.problem(400, INVALID, "data.format must be parquet_xdm")
        dataset_id = body["params"]["dataSetId"]
        dataset = self._datasets.get(dataset_id, call.sandbox)
        if dataset is None:
            return call.problem(
                400, NOT_FOUND_REF, f"dataset not found: {dataset_id}", resource_id=dataset_id, resource_type="dataSets"
            )
        schema_ref = dataset.data.get("schemaRef")
        if not isinstance(schema_ref, dict) or not schema_ref.get("id"):
            return call.problem(400, SCHEMA_MISMATCH, f"Dataset {dataset_id} has no XDM schema")
        if body["data"]["schema"]["id"] != schema_ref["id"]:
            return call.problem(
                400, SCHEMA_MISMATCH, f"data.schema.id is not the schema of dataset {dataset_id}: {schema_ref['id']}"
            )
        return None

    def used_by(self, record: Record) -> list[Record]:
        """Flows listing it in ``targetConnectionIds``."""
        return flows_using(self._ctx.store, record.sandbox, "targetConnectionIds", record.id)
