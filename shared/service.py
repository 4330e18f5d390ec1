"""The orchestration: create a connection exactly once per (sandbox, namespace, event hub).

Flow of one create (see README "Architecture"):
  1. read the record: `ready` answers at once, with no other call;
  2. read the Adobe credential and the namespace's secret (cached): bad input fails before any claim;
  3. claim the record with a conditional write and a lease (insert, or If-Match takeover of a
     failed/expired one); a live claim held by someone else is waited for, then 409;
  4. create in Flow Service (looked up by its deterministic name first when an earlier attempt's
     outcome is unknown);
  5. complete the record with If-Match: `ready`, connection id, Adobe etag, secret version.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from .adobe import AdobeApi, AdobeConnection, ConnectionMissing, connection_body
from .credentials import load_adobe_credentials, namespace_auth
from .errors import ConnectionBeingCreated, ConnectionNotFound, ConnectorError, DependencyUnavailable, SecretNotFound
from .models import ConnectionKey, ConnectionRecord, ConnectionRequest, LastError, Outcome, State
from .notifications import EventPublisher
from .records import RecordStore, StoredRecord, WriteConflict
from .retry import Deadline
from .secrets import SecretSource
from .settings import Settings

log = logging.getLogger("eventhubs_connector")

_CLAIM_ROUNDS = 5
_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Source:
    """Where a request came from, for records and logs: kind (http/queue/event) and message id."""

    kind: str
    id: str | None = None
    #: When the event happened (Event Grid `eventTime`): a late event must not undo a newer change.
    event_time: datetime | None = None

    @property
    def is_event(self) -> bool:
        return self.kind == "event"


@dataclass
class Clock:
    """Time and waiting, passed in so tests control them."""

    now: Callable[[], datetime]
    monotonic: Callable[[], float]
    sleep: Callable[[float], None]


class ConnectionService:
    """Creates, returns and records Event Hubs connections in Adobe."""

    def __init__(
        self,
        settings: Settings,
        *,
        secrets: SecretSource,
        adobe: AdobeApi,
        records: RecordStore,
        events: EventPublisher,
        clock: Clock,
        new_owner: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.settings = settings
        self.secrets = secrets
        self.adobe = adobe
        self.records = records
        self.events = events
        self.clock = clock
        self._new_owner = new_owner

    # -- reads -----------------------------------------------------------------------------------

    def get(self, key: ConnectionKey) -> ConnectionRecord:
        """The stored record; ConnectionNotFound when there is none."""
        stored = self.records.get(key)
        if stored is None:
            raise ConnectionNotFound(f"No connection is recorded for {_describe(key)}.")
        return stored.record

    def new_deadline(self) -> Deadline:
        return Deadline(self.clock.monotonic, self.settings.retry_budget_seconds)

    # -- lifecycle -------------------------------------------------------------------------------

    def mark_namespace_deleted(self, namespace: str, source: Source) -> int:
        """Mark every record of a deleted namespace (in every sandbox) `deleted`; the count changed.

        With DELETE_CONNECTION_ON_NAMESPACE_DELETE the Adobe connection is deleted too; Adobe's
        refusal (e.g. 1418-400, used by dataflows) is recorded in lastError and the record kept.
        """
        changed = 0
        transient: ConnectorError | None = None
        for listed in list(self.records.list(namespace=namespace)):
            try:
                if self._mark_deleted(listed.key, source):
                    changed += 1
            except ConnectorError as err:
                if err.permanent:
                    continue
                transient = transient or err
        if transient is not None:
            raise transient
        return changed

    def _mark_deleted(self, key: ConnectionKey, source: Source) -> bool:
        for _ in range(_CLAIM_ROUNDS):
            stored = self.records.get(key)
            if stored is None:
                return False
            current = stored.record
            delete_in_adobe = (
                self.settings.delete_connection_on_namespace_delete
                and current.connection_id is not None
                and not current.adobe_deleted
            )
            if current.state is State.DELETED and not delete_in_adobe:
                return False
            now = self.clock.now()
            deleted = replace(
                current, state=State.DELETED, updated_at=now, source_id=source.id, lease_until=None, owner=None
            )
            error: ConnectorError | None = None
            if delete_in_adobe:
                assert current.connection_id is not None
                try:
                    self.adobe.delete_connection(key.sandbox, current.connection_id, self.new_deadline())
                    deleted = replace(deleted, adobe_deleted=True, last_error=None)
                except ConnectorError as err:
                    error = err
                    deleted = replace(deleted, last_error=LastError(err.code, _deletion_message(err), now))
            try:
                self.records.replace(deleted, stored.etag)
            except WriteConflict:
                continue
            log.info("connection %s marked deleted (%s %s)", key, source.kind, source.id or "-")
            if current.state is not State.DELETED:
                self.events.publish("deleted", deleted, error)
            if error is not None:
                self._log_failure(deleted, error, source)
                if not error.permanent:
                    raise error
            return current.state is not State.DELETED
        raise ConnectionBeingCreated(f"The record for {_describe(key)} kept changing; retry.", retry_after=5)

    # -- create ----------------------------------------------------------------------------------

    def create_or_get(self, request: ConnectionRequest, source: Source, *, verify: bool = False) -> Outcome:
        """Return the existing connection, or create it exactly once. Raises a ConnectorError.

        A `ready` record is checked against Adobe when VERIFY_AFTER_SECONDS have passed since the
        last check (or when `verify`); a connection deleted in Adobe by hand is created again.
        """
        deadline = self.new_deadline()
        key = request.key
        stored = self.records.get(key)
        dead_id = None
        if stored is not None and stored.record.state is State.DELETED and _older_than(source, stored.record):
            log.info("%s %s is older than the deletion of %s: ignored", source.kind, source.id or "-", key)
            return Outcome(stored.record, created=False)
        if stored is not None and stored.record.state is State.READY:
            if not verify and not self._verification_due(stored.record):
                return Outcome(stored.record, created=False)
            verified = self._verify(stored, deadline)
            if verified is not None:
                return Outcome(verified, created=False)
            dead_id = stored.record.connection_id  # deleted in Adobe by hand: create it again
        if stored is not None and stored.record.state is State.DELETED:
            # A namespace created again under a deleted one's name has new keys: read them fresh.
            self.secrets.invalidate(self.settings.sas_secret_name(key.namespace))
            self.secrets.invalidate(self.settings.aad_secret_name(key.namespace))
        try:
            load_adobe_credentials(self.secrets, self.settings, deadline)
            auth = namespace_auth(self.secrets, self.settings, request, deadline)
            spec_name = self.adobe.auth_spec_name(key.sandbox, auth.spec_name, auth.params, deadline)
        except ConnectorError as err:
            if err.permanent:
                self._record_failure(request, stored, err, source)
            raise

        claim, finished = self._claim(request, stored, source, auth.secret_name, dead_id)
        if finished is not None:
            return Outcome(finished, created=False)
        assert claim is not None
        body = connection_body(
            key.connection_name,
            request.description or f"Created by the Event Hubs connector for namespace {key.namespace}",
            spec_name,
            auth.params,
        )
        try:
            connection = self.adobe.create_connection(
                key.sandbox, body, name=key.connection_name, lookup_first=claim.record.may_exist, deadline=deadline
            )
        except ConnectorError as err:
            uncertain = isinstance(err, DependencyUnavailable) and err.outcome_unknown
            self._release(claim, err, source, may_exist=claim.record.may_exist or uncertain)
            raise
        if not connection.created and stored is not None and stored.record.state is State.DELETED:
            # The namespace was deleted and created again: the connection found by name has the old key.
            connection = self._refresh_adopted(claim, connection, auth.params, source, deadline)
        record = self._complete(claim, connection, auth.secret_version)
        log.info(
            "connection %s for %s (adobe request %s, %s %s)",
            "created" if connection.created else "adopted",
            key,
            connection.request_id,
            source.kind,
            source.id or "-",
        )
        if connection.created:
            self.events.publish("created", record)
        return Outcome(record, created=connection.created)

    def _refresh_adopted(
        self,
        claim: StoredRecord,
        connection: AdobeConnection,
        params: dict[str, Any],
        source: Source,
        deadline: Deadline,
    ) -> AdobeConnection:
        try:
            updated = self.adobe.update_auth_params(
                claim.record.key.sandbox, connection.id, connection.etag or "*", params, deadline
            )
        except ConnectorError as err:
            self._release(claim, err, source, may_exist=True)
            raise
        except ConnectionMissing:
            updated = connection  # gone meanwhile: the next request creates it again (drift repair)
        return replace(updated, created=False)

    def _verification_due(self, record: ConnectionRecord) -> bool:
        checked = record.verified_at or record.updated_at
        return (self.clock.now() - checked).total_seconds() >= self.settings.verify_after_seconds

    def _verify(self, stored: StoredRecord, deadline: Deadline) -> ConnectionRecord | None:
        """Check a ready record's connection still exists in Adobe: the record (re-stamped), or None."""
        record = stored.record
        assert record.connection_id is not None
        try:
            found = self.adobe.get_connection(record.key.sandbox, record.connection_id, deadline)
        except ConnectorError as err:
            log.warning("could not verify %s in Adobe (%s); answering from the record", record.key, err.code)
            return record
        if found is None:
            log.warning("connection %s of %s is gone from Adobe: creating it again", record.connection_id, record.key)
            return None
        verified = replace(record, verified_at=self.clock.now(), etag=found.etag or record.etag)
        try:
            return self.records.replace(verified, stored.etag).record
        except (WriteConflict, ConnectorError):
            return verified

    def _claim(
        self,
        request: ConnectionRequest,
        stored: StoredRecord | None,
        source: Source,
        secret_name: str,
        dead_id: str | None = None,
    ) -> tuple[StoredRecord | None, ConnectionRecord | None]:
        """Take the claim: (claim, None), or (None, record) when another invocation finished it.

        A `ready` record is taken over only when its connection (`dead_id`) is gone from Adobe.
        """
        key = request.key
        owner = self._new_owner()
        for _ in range(_CLAIM_ROUNDS):
            now = self.clock.now()
            lease_until = now + timedelta(seconds=self.settings.claim_lease_seconds)
            try:
                if stored is None:
                    record = ConnectionRecord(
                        key=key,
                        state=State.CREATING,
                        auth_type=request.auth_type,
                        name=request.name or key.connection_name,
                        created_at=now,
                        updated_at=now,
                        secret_name=secret_name,
                        source_id=source.id,
                        lease_until=lease_until,
                        owner=owner,
                    )
                    return self.records.insert(record), None
                current = stored.record
                if current.state is State.READY and (dead_id is None or current.connection_id != dead_id):
                    return None, current
                if current.state is State.CREATING and _lease_live(current, now):
                    stored = self._wait_for_other(key, current)
                    if stored is not None and stored.record.state is State.READY:
                        return None, stored.record
                    continue
                takeover = replace(
                    current,
                    state=State.CREATING,
                    auth_type=request.auth_type if current.connection_id is None else current.auth_type,
                    name=request.name or current.name,
                    connection_id=None if current.state is State.READY else current.connection_id,
                    updated_at=now,
                    secret_name=secret_name,
                    source_id=source.id,
                    lease_until=lease_until,
                    owner=owner,
                    # A claim that expired while `creating` may have reached Adobe: look it up first.
                    may_exist=current.may_exist or current.state is State.CREATING or current.connection_id is not None,
                )
                return self.records.replace(takeover, stored.etag), None
            except WriteConflict:
                stored = self.records.get(key)
        current_record = stored.record if stored is not None else None
        raise self._being_created(key, current_record)

    def _wait_for_other(self, key: ConnectionKey, current: ConnectionRecord) -> StoredRecord | None:
        """Poll the record while another invocation's live claim lasts (bounded by CLAIM_WAIT_SECONDS)."""
        start = self.clock.monotonic()
        while True:
            now = self.clock.now()
            lease_left = (current.lease_until - now).total_seconds() if current.lease_until else 0.0
            waited = self.clock.monotonic() - start
            if waited >= self.settings.claim_wait_seconds or lease_left <= 0:
                if lease_left > 0:
                    raise self._being_created(key, current)
                return self.records.get(key)
            self.clock.sleep(min(_POLL_SECONDS, lease_left, self.settings.claim_wait_seconds - waited))
            stored = self.records.get(key)
            if (
                stored is None
                or stored.record.state is not State.CREATING
                or not _lease_live(stored.record, self.clock.now())
            ):
                return stored
            current = stored.record

    def _being_created(self, key: ConnectionKey, current: ConnectionRecord | None) -> ConnectionBeingCreated:
        lease_left = 5
        if current is not None and current.lease_until is not None:
            lease_left = int((current.lease_until - self.clock.now()).total_seconds()) + 1
        return ConnectionBeingCreated(
            f"The connection for {_describe(key)} is being created by another request; retry shortly.",
            retry_after=min(max(lease_left, 1), 30),
        )

    def _complete(
        self, claim: StoredRecord, connection: AdobeConnection, secret_version: str | None
    ) -> ConnectionRecord:
        now = self.clock.now()
        record = replace(
            claim.record,
            state=State.READY,
            connection_id=connection.id,
            etag=connection.etag,
            secret_version=secret_version,
            updated_at=now,
            verified_at=now,
            last_error=None,
            lease_until=None,
            owner=None,
            may_exist=False,
        )
        try:
            return self.records.replace(record, claim.etag).record
        except WriteConflict:
            # Our lease expired and another invocation took over; it looks the name up first and
            # adopts this connection. Report what we made.
            log.warning(
                "claim on %s was taken over before completion; the taker adopts %s", claim.record.key, connection.id
            )
            return record

    def _release(self, claim: StoredRecord, err: ConnectorError, source: Source, *, may_exist: bool) -> None:
        """After a failure while holding the claim: record it and free the claim for a retry."""
        now = self.clock.now()
        failed = replace(
            claim.record,
            state=State.FAILED,
            last_error=LastError(err.code, err.message, now),
            updated_at=now,
            source_id=source.id,
            lease_until=None,
            owner=None,
            may_exist=may_exist,
        )
        try:
            self.records.replace(failed, claim.etag)
        except (WriteConflict, ConnectorError) as write_err:
            log.warning("could not record the failure of %s: %s", claim.record.key, type(write_err).__name__)
            return
        self._log_failure(failed, err, source)
        if err.permanent:
            self.events.publish("failed", failed, err)

    def _record_failure(
        self, request: ConnectionRequest, stored: StoredRecord | None, err: ConnectorError, source: Source
    ) -> None:
        """Record a permanent failure found before any claim (secret missing or invalid, Adobe refusal)."""
        now = self.clock.now()
        state = State.FAILED
        if isinstance(err, SecretNotFound) and source.is_event:
            state = State.PENDING_SECRET
        if stored is not None:
            current = stored.record
            if current.state is State.READY or (current.state is State.CREATING and _lease_live(current, now)):
                self._log_failure(current, err, source)
                return
            if current.state is State.PENDING_SECRET and isinstance(err, SecretNotFound):
                self._log_failure(current, err, source)
                return
            record = replace(
                current,
                state=state,
                last_error=LastError(err.code, err.message, now),
                updated_at=now,
                source_id=source.id,
            )
        else:
            record = ConnectionRecord(
                key=request.key,
                state=state,
                auth_type=request.auth_type,
                name=request.name or request.key.connection_name,
                created_at=now,
                updated_at=now,
                last_error=LastError(err.code, err.message, now),
                secret_name=getattr(err, "secret_name", None),
                source_id=source.id,
            )
        try:
            if stored is None:
                self.records.insert(record)
            else:
                self.records.replace(record, stored.etag)
        except (WriteConflict, ConnectorError) as write_err:
            log.warning("could not record the failure of %s: %s", request.key, type(write_err).__name__)
            return
        self._log_failure(record, err, source)
        if state is State.FAILED:
            self.events.publish("failed", record, err)

    @staticmethod
    def _log_failure(record: ConnectionRecord, err: ConnectorError, source: Source) -> None:
        log.warning(
            "connection %s %s: %s %s (%s %s)",
            record.key,
            record.state.value,
            err.code,
            err.message,
            source.kind,
            source.id or "-",
        )


def _deletion_message(err: ConnectorError) -> str:
    adobe = getattr(err, "adobe", None)
    if adobe is not None and adobe.code and adobe.code.startswith("1418"):
        return (
            "The namespace was deleted but Adobe refused to delete the connection because dataflows still use "
            f"it (1418-400); delete those dataflows, then the connection. {err.message}"
        )
    return err.message


def _older_than(source: Source, record: ConnectionRecord) -> bool:
    return source.event_time is not None and source.event_time <= record.updated_at


def _lease_live(record: ConnectionRecord, now: datetime) -> bool:
    return record.lease_until is not None and record.lease_until > now


def _describe(key: ConnectionKey) -> str:
    hub = f", event hub '{key.event_hub}'" if key.event_hub else ""
    return f"namespace '{key.namespace}' in sandbox '{key.sandbox}'{hub}"
