"""The record store on Azure Table storage, with the conditional writes the claim relies on."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Generic, Literal, Protocol, TypeVar

from . import telemetry
from .errors import ConfigurationError, DependencyUnavailable, RecordUnreadable, is_tls_failure
from .logs import log
from .models import AuthType, ConnectionKey, ConnectionRecord, LastError, State, Warning
from .sensitive import scrub

if TYPE_CHECKING:
    from azure.data.tables import TableClient


class WriteConflict(Exception):
    """A conditional write lost: the row exists (insert) or changed since it was read (If-Match)."""


class Keyed(Protocol):
    """A record the store can hold: it knows its key."""

    @property
    def key(self) -> ConnectionKey: ...


R = TypeVar("R", bound=Keyed)


@dataclass(frozen=True)
class Stored(Generic[R]):
    """A record with the table etag it was read or written with, and storage's own times when read: the
    entity's server Timestamp (its last write) and the server's Date of the read (claim leases use them)."""

    record: R
    etag: str
    written_at: datetime | None = None
    read_at: datetime | None = None


class RecordStore(Protocol[R]):
    """Where records live; writes are conditional."""

    operations: int

    def get(self, key: ConnectionKey) -> Stored[R] | None:
        """The record for a key, or None; RecordUnreadable when its row does not decode."""
        ...

    def insert(self, record: R) -> Stored[R]:
        """Insert a new record; WriteConflict if one exists."""
        ...

    def replace(self, record: R, etag: str) -> Stored[R]:
        """Replace a record only if unchanged since `etag`; WriteConflict otherwise."""
        ...

    def delete(self, key: ConnectionKey, etag: str) -> None:
        """Delete a record only if unchanged since `etag`; WriteConflict otherwise."""
        ...

    def list(self, sandbox: str | None = None, namespace: str | None = None) -> Iterator[R]:
        """Records, optionally for one sandbox and/or namespace; a row that does not decode is logged and skipped."""
        ...


StoredRecord = Stored[ConnectionRecord]
ConnectionStore = RecordStore[ConnectionRecord]


class TableRecordStore(Generic[R]):
    """Records as Table entities: PartitionKey = sandbox, RowKey = `namespace|eventhub`."""

    def __init__(
        self,
        table: TableClient,
        encode: Callable[[R], dict[str, Any]],
        decode: Callable[[dict[str, Any]], R],
    ) -> None:
        self._table = table
        self._encode = encode
        self._decode = decode
        self.operations = 0  # table round trips, for the benchmark's call budget

    @contextmanager
    def _call(self, operation: str, *, current: bool = True) -> Iterator[None]:
        """One table round trip: counted, traced, its failures mapped to the error hierarchy."""
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

        self.operations += 1
        answered: Exception | None = None  # not found, exists, changed: answers the caller expects, not failures
        with telemetry.span(
            f"Table {operation}",
            {"db.system.name": "azure.table", "db.operation.name": operation, "db.collection.name": self.name},
            current=current,
        ) as span:
            try:
                with storage_errors():
                    yield
            except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError) as err:
                span.set("db.response.status_code", str(err.status_code))
                answered = err
        if answered is not None:
            raise answered

    @property
    def name(self) -> str:
        return str(getattr(self._table, "table_name", "?"))

    def get(self, key: ConnectionKey) -> Stored[R] | None:
        from azure.core.exceptions import ResourceNotFoundError

        answered: dict[str, datetime | None] = {}
        try:
            with self._call("get"):
                entity = self._table.get_entity(
                    key.partition_key, key.row_key, raw_response_hook=lambda response: _note_date(response, answered)
                )
        except ResourceNotFoundError:
            return None
        written = entity.metadata.get("timestamp")
        return Stored(
            self._decoded(entity),
            str(entity.metadata["etag"]),
            written_at=_dt(written) if written is not None else None,
            read_at=answered.get("date"),
        )

    def _decoded(self, entity: dict[str, Any]) -> R:
        """The record an entity holds; RecordUnreadable (naming table, partition and row) when it does not decode."""
        try:
            return self._decode(entity)
        except (KeyError, ValueError, TypeError, AttributeError) as err:
            partition, row = str(entity.get("PartitionKey", "?")), str(entity.get("RowKey", "?"))
            raise RecordUnreadable(
                f"The record in table '{self.name}' (PartitionKey '{partition}', RowKey '{row}') cannot be read: "
                f"{_reason(err)}. Fix or delete that row.",
                table=self.name,
                partition_key=partition,
                row_key=row,
            ) from None

    def insert(self, record: R) -> Stored[R]:
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        for attempt in (1, 2):
            try:
                with self._call("insert"):
                    metadata = self._table.create_entity(self._encode(record))
            except ResourceExistsError:
                raise WriteConflict(str(record.key)) from None
            except ResourceNotFoundError:
                if attempt == 2:
                    raise DependencyUnavailable(
                        "The records table is missing and could not be created.", dependency="Table storage"
                    ) from None
                self.ensure_table()  # deleted, or storage restarted empty, under a warm worker
                continue
            return Stored(record, metadata["etag"])
        raise AssertionError("unreachable")

    def ensure_table(self) -> None:
        """Create the records table if it does not exist."""
        from azure.core.exceptions import ResourceExistsError

        try:
            with self._call("create_table"):
                self._table.create_table()
        except ResourceExistsError:
            pass

    def replace(self, record: R, etag: str) -> Stored[R]:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        try:
            with self._call("replace"):
                metadata = self._table.update_entity(
                    self._encode(record),
                    mode=UpdateMode.REPLACE,
                    etag=etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        except (ResourceModifiedError, ResourceNotFoundError):
            raise WriteConflict(str(record.key)) from None
        return Stored(record, metadata["etag"])

    def delete(self, key: ConnectionKey, etag: str) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        try:
            with self._call("delete"):
                self._table.delete_entity(
                    key.partition_key, key.row_key, etag=etag, match_condition=MatchConditions.IfNotModified
                )
        except (ResourceModifiedError, ResourceNotFoundError):
            raise WriteConflict(str(key)) from None

    def list(self, sandbox: str | None = None, namespace: str | None = None) -> Iterator[R]:
        from azure.core.exceptions import ResourceNotFoundError

        filters, parameters = [], {}
        if sandbox is not None:
            filters.append("PartitionKey eq @sandbox")
            parameters["sandbox"] = sandbox
        if namespace is not None:
            filters.append("Namespace eq @namespace")
            parameters["namespace"] = namespace
        try:
            with self._call("query", current=False):
                if filters:
                    entities = self._table.query_entities(" and ".join(filters), parameters=parameters)
                else:
                    entities = self._table.list_entities()
                for entity in entities:
                    record = self._readable(entity)
                    if record is not None:
                        yield record
        except ResourceNotFoundError:
            return  # the table does not exist yet: no records

    def _readable(self, entity: dict[str, Any]) -> R | None:
        """A listed entity's record; None (reported once, at ERROR, with its row) when it does not decode."""
        try:
            return self._decoded(entity)
        except RecordUnreadable as err:
            log.error(
                "%s %s (skipped)",
                UNREADABLE_RECORD,
                err.message,
                extra={"table": err.table, "partition_key": err.partition_key, "row_key": err.row_key},
            )
            return None


#: The start of the log line of a row that a listing skipped (docs/operations.md searches for it).
UNREADABLE_RECORD: Final = "unreadable record:"


def _reason(err: Exception) -> str:
    """Why an entity did not decode, in a few words (its values are the app's own columns, never secrets)."""
    if isinstance(err, KeyError):
        return f"the column {err.args[0]!r} is missing" if err.args else "a column is missing"
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 120 else text[:117] + "..."


class storage_errors:
    """Maps storage failures to the error hierarchy (conflicts and not-found pass through)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: object) -> Literal[False]:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceExistsError,
            ResourceModifiedError,
            ResourceNotFoundError,
            ServiceRequestError,
            ServiceResponseError,
        )

        if err is None or isinstance(err, ResourceExistsError | ResourceModifiedError | ResourceNotFoundError):
            return False
        if isinstance(err, ClientAuthenticationError) or (
            isinstance(err, HttpResponseError) and err.status_code in (401, 403)
        ):
            raise ConfigurationError(
                "Table storage refused the app's credentials: check AzureWebJobsStorage and the identity's "
                "'Storage Table Data Contributor' role.",
                setting="AzureWebJobsStorage",
            ) from None
        if isinstance(err, ServiceRequestError) and is_tls_failure(err):
            raise ConfigurationError(
                "The TLS certificate of Table storage could not be verified: check AzureWebJobsStorage "
                "(and CONNECTOR_CA_BUNDLE or REQUESTS_CA_BUNDLE for a private CA).",
                setting="AzureWebJobsStorage",
            ) from None
        if isinstance(err, HttpResponseError | ServiceRequestError | ServiceResponseError):
            raise DependencyUnavailable(
                "Table storage is unavailable.", dependency="Table storage", retry_after=15
            ) from None
        return False


def _note_date(response: Any, answered: dict[str, datetime | None]) -> None:
    """Storage's own time of a response (its `Date` header), for claim leases that trust no worker's clock."""
    from email.utils import parsedate_to_datetime

    date = response.http_response.headers.get("Date")
    try:
        answered["date"] = parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        answered["date"] = None


def _dt(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def connection_store(table: TableClient) -> TableRecordStore[ConnectionRecord]:
    """The connections table."""
    return TableRecordStore(table, to_entity, from_entity)


def parse_time(value: Any) -> datetime | None:
    """A Table timestamp (datetime or ISO text) as an aware datetime."""
    return _dt(value)


def to_entity(record: ConnectionRecord) -> dict[str, Any]:
    """The Table entity of a record. Nulls are left out (Table storage has no null)."""
    entity: dict[str, Any] = {
        "PartitionKey": record.key.partition_key,
        "RowKey": record.key.row_key,
        "Namespace": record.key.namespace,
        "EventHubName": record.key.event_hub,
        "State": record.state.value,
        "AuthType": record.auth_type.value,
        "Name": record.name,
        "CreatedAt": record.created_at,
        "UpdatedAt": record.updated_at,
        "ConnectionId": record.connection_id,
        "AdobeEtag": record.etag,
        "SecretName": record.secret_name,
        "SecretVersion": record.secret_version,
        "SourceId": record.source_id,
        "NearExpiry": record.near_expiry,
        "VerifiedAt": record.verified_at,
        "AdobeDeleted": record.adobe_deleted,
        "LeaseUntil": record.lease_until,
        "Owner": record.owner,
        "MayExist": record.may_exist,
        "LastEventAt": record.last_event_at,
        "Adopted": record.adopted or None,
        "Description": record.description,
        "ResourceId": record.resource_id,
        "EventHubs": json.dumps(list(record.event_hubs)) if record.event_hubs is not None else None,
        "WarningCode": record.warning.code if record.warning else None,
        "WarningMessage": record.warning.message if record.warning else None,
    }
    entity.update(last_error_columns(record.last_error))
    return {k: v for k, v in entity.items() if v is not None}


def last_error_columns(error: LastError | None) -> dict[str, Any]:
    """The columns of a record's last error (the message scrubbed once more before it is stored)."""
    if error is None:
        return {}
    return {"LastErrorCode": error.code, "LastErrorMessage": scrub(error.message), "LastErrorAt": error.at}


def last_error_of(entity: dict[str, Any], created: datetime) -> LastError | None:
    """The last error stored in an entity, or None."""
    if not entity.get("LastErrorCode"):
        return None
    return LastError(
        code=str(entity["LastErrorCode"]),
        message=str(entity.get("LastErrorMessage", "")),
        at=_dt(entity.get("LastErrorAt")) or created,
    )


def from_entity(entity: dict[str, Any]) -> ConnectionRecord:
    """The record held in a Table entity."""
    created = _dt(entity.get("CreatedAt")) or datetime.fromtimestamp(0, UTC)
    last_error = last_error_of(entity, created)
    return ConnectionRecord(
        key=ConnectionKey(str(entity["PartitionKey"]), str(entity["Namespace"]), entity.get("EventHubName") or None),
        state=State(entity["State"]),
        auth_type=AuthType(entity.get("AuthType", "sas")),
        name=str(entity.get("Name", "")),
        created_at=created,
        updated_at=_dt(entity.get("UpdatedAt")) or created,
        connection_id=entity.get("ConnectionId"),
        etag=entity.get("AdobeEtag"),
        last_error=last_error,
        secret_name=entity.get("SecretName"),
        secret_version=entity.get("SecretVersion"),
        source_id=entity.get("SourceId"),
        near_expiry=bool(entity.get("NearExpiry", False)),
        verified_at=_dt(entity.get("VerifiedAt")),
        adobe_deleted=bool(entity.get("AdobeDeleted", False)),
        lease_until=_dt(entity.get("LeaseUntil")),
        owner=entity.get("Owner"),
        may_exist=bool(entity.get("MayExist", False)),
        last_event_at=_dt(entity.get("LastEventAt")),
        adopted=bool(entity.get("Adopted", False)),
        description=entity.get("Description"),
        resource_id=entity.get("ResourceId"),
        event_hubs=tuple(json.loads(entity["EventHubs"])) if entity.get("EventHubs") else None,
        warning=Warning(str(entity["WarningCode"]), str(entity.get("WarningMessage", "")))
        if entity.get("WarningCode")
        else None,
    )
