"""Dataflows: the request, the record (with its three Adobe objects) and its Table entity."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from .health_status import Health
from .identity import Identity, flow_identity, source_identity, target_identity
from .lifecycle import Lifecycle
from .models import ConnectionKey
from .models_base import LastError, State, iso
from .records import TableRecordStore, last_error_columns, last_error_of, parse_time


class Step(StrEnum):
    """The Adobe objects of a dataflow, in the order they are created (and torn down in reverse)."""

    SOURCE = "sourceConnections"
    TARGET = "targetConnections"
    FLOW = "flows"

    @property
    def suffix(self) -> str:
        return {Step.SOURCE: "source", Step.TARGET: "target", Step.FLOW: "dataflow"}[self]


@dataclass(frozen=True)
class DataflowRequest:
    """One validated request for the dataflow of one event hub."""

    namespace: str
    sandbox: str
    event_hub: str
    dataset_id: str
    data_type: str = "xdm"
    consumer_group: str = "$Default"
    reset: str = "earliest"
    mapping_id: str | None = None
    name: str | None = None

    @property
    def key(self) -> ConnectionKey:
        return ConnectionKey(self.sandbox, self.namespace, self.event_hub)


def object_name(key: ConnectionKey, step: Step) -> str:
    """The deterministic Adobe name of one of the dataflow's objects."""
    return f"Azure Event Hubs {key.namespace} {key.event_hub} {step.suffix}"


@dataclass(frozen=True)
class DataflowRecord(Lifecycle):
    """The stored record of one dataflow, as the contract shows it."""

    key: ConnectionKey
    state: State
    name: str
    created_at: datetime
    updated_at: datetime
    dataset_id: str
    data_type: str
    consumer_group: str
    reset: str
    mapping_id: str | None = None
    connection_id: str | None = None
    source_connection_id: str | None = None
    target_connection_id: str | None = None
    flow_id: str | None = None
    last_error: LastError | None = None
    source_id: str | None = None
    adobe_deleted: bool = False
    lease_until: datetime | None = None
    owner: str | None = None
    may_exist: bool = False
    last_event_at: datetime | None = None
    #: The last health check of a `ready` dataflow (None until the first).
    health: Health | None = None

    def object_id(self, step: Step) -> str | None:
        return {
            Step.SOURCE: self.source_connection_id,
            Step.TARGET: self.target_connection_id,
            Step.FLOW: self.flow_id,
        }[step]

    def object_name(self, step: Step) -> str:
        return self.name if step is Step.FLOW else object_name(self.key, step)

    def identity(self, step: Step) -> Identity | None:
        """What one of the dataflow's objects holds (contract "Identity"); None while what it is made on is
        not known yet (a source before its base connection, a flow before its source and target)."""
        name = self.object_name(step)
        if step is Step.SOURCE:
            if self.connection_id is None:
                return None
            return source_identity(self.key, name, connection_id=self.connection_id, consumer_group=self.consumer_group)
        if step is Step.TARGET:
            return target_identity(name, dataset_id=self.dataset_id)
        if self.source_connection_id is None or self.target_connection_id is None:
            return None
        return flow_identity(name, source_id=self.source_connection_id, target_id=self.target_connection_id)

    def with_object(self, step: Step, object_id: str | None) -> DataflowRecord:
        if step is Step.SOURCE:
            return replace(self, source_connection_id=object_id)
        if step is Step.TARGET:
            return replace(self, target_connection_id=object_id)
        return replace(self, flow_id=object_id)

    def completed(self, *, now: datetime) -> DataflowRecord:
        """`ready`: all three objects exist; the claim is released."""
        return replace(
            self, state=State.READY, updated_at=now, last_error=None, lease_until=None, owner=None, may_exist=False
        )

    def request(self) -> DataflowRequest:
        return DataflowRequest(
            namespace=self.key.namespace,
            sandbox=self.key.sandbox,
            event_hub=self.key.event_hub or "",
            dataset_id=self.dataset_id,
            data_type=self.data_type,
            consumer_group=self.consumer_group,
            reset=self.reset,
            mapping_id=self.mapping_id,
            name=self.name if self.name != object_name(self.key, Step.FLOW) else None,
        )

    def to_json(self, *, created: bool | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "namespace": self.key.namespace,
            "sandbox": self.key.sandbox,
            "eventHubName": self.key.event_hub,
            "connectionId": self.connection_id,
            "sourceConnectionId": self.source_connection_id,
            "targetConnectionId": self.target_connection_id,
            "flowId": self.flow_id,
            "datasetId": self.dataset_id,
            "dataType": self.data_type,
            "consumerGroup": self.consumer_group,
            "state": self.state.value,
            "name": self.name,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "lastError": self.last_error.to_json() if self.last_error else None,
        }
        if self.mapping_id is not None:
            body["mappingId"] = self.mapping_id
        if self.health is not None:
            body["health"] = self.health.to_json()
        if created is not None:
            body["created"] = created
        return body


@dataclass(frozen=True)
class DataflowOutcome:
    """What a dataflow create returns: the record, and whether this call created it."""

    record: DataflowRecord
    created: bool


_COLUMNS = {
    "dataset_id": "DatasetId",
    "data_type": "DataType",
    "consumer_group": "ConsumerGroup",
    "reset": "Reset",
    "mapping_id": "MappingId",
    "connection_id": "ConnectionId",
    "source_connection_id": "SourceConnectionId",
    "target_connection_id": "TargetConnectionId",
    "flow_id": "FlowId",
    "source_id": "SourceId",
    "owner": "Owner",
}
_TIMES = {
    "created_at": "CreatedAt",
    "updated_at": "UpdatedAt",
    "lease_until": "LeaseUntil",
    "last_event_at": "LastEventAt",
}
_FLAGS = {"adobe_deleted": "AdobeDeleted", "may_exist": "MayExist"}


def to_entity(record: DataflowRecord) -> dict[str, Any]:
    """The Table entity of a dataflow record. Nulls are left out (Table storage has no null)."""
    entity: dict[str, Any] = {
        "PartitionKey": record.key.partition_key,
        "RowKey": record.key.row_key,
        "Namespace": record.key.namespace,
        "EventHubName": record.key.event_hub,
        "State": record.state.value,
        "Name": record.name,
    }
    for attr, column in {**_COLUMNS, **_TIMES, **_FLAGS}.items():
        entity[column] = getattr(record, attr)
    entity.update(last_error_columns(record.last_error))
    entity["Health"] = record.health.to_column() if record.health is not None else None
    return {k: v for k, v in entity.items() if v is not None}


def from_entity(entity: dict[str, Any]) -> DataflowRecord:
    """The dataflow record held in a Table entity."""
    created = parse_time(entity.get("CreatedAt")) or datetime.fromtimestamp(0, UTC)
    last_error = last_error_of(entity, created)
    values: dict[str, Any] = {attr: entity.get(column) for attr, column in _COLUMNS.items()}
    values.update({attr: parse_time(entity.get(column)) for attr, column in _TIMES.items()})
    values.update({attr: bool(entity.get(column, False)) for attr, column in _FLAGS.items()})
    values["created_at"] = values["created_at"] or created
    values["updated_at"] = values["updated_at"] or created
    return DataflowRecord(
        key=ConnectionKey(str(entity["PartitionKey"]), str(entity["Namespace"]), entity.get("EventHubName") or None),
        state=State(entity["State"]),
        name=str(entity.get("Name", "")),
        last_error=last_error,
        health=Health.from_column(str(entity["Health"])) if entity.get("Health") else None,
        **values,
    )


def dataflow_store(table: Any) -> TableRecordStore[DataflowRecord]:
    """The dataflows table (created on the first insert)."""
    return TableRecordStore(table, to_entity, from_entity)
