"""The connection operations: create (exactly once), verify, and mark deleted.

A create (see README "Architecture"):
  1. read the record: `ready` answers at once, with no other call; an event older than the
     newest one applied changes nothing;
  2. read the Adobe credential and the namespace's secret (cached): bad input fails before any
     claim; a secret scoped by `EntityPath` names the event hub, so the record is keyed by it;
  3. claim, create, complete: the exactly-once protocol of `claims.py`;
  4. after an uncertain outcome, a delayed verify keeps exactly one connection in Adobe.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from . import telemetry
from .adobe import AdobeApi, AdobeConnection, ConnectionMissing, connection_body, is_unknown_auth_spec
from .claims import Claim, VerifyQueue, converge, create_once, remove_all
from .clock import Clock
from .credentials import NamespaceAuth, load_adobe_credentials, namespace_auth
from .errors import AdobeRejected, ConnectionNotFound, ConnectorError, SecretProblem
from .exactly_once import CONNECTION, ExactlyOnce, Redo
from .identity import connection_identity, held_auth_type
from .logs import log
from .models import (
    AuthType,
    ConnectionKey,
    ConnectionRecord,
    ConnectionRequest,
    LastError,
    Outcome,
    Source,
    State,
    Warning,
)
from .notifications import EventPublisher
from .records import ConnectionStore, StoredRecord, WriteConflict
from .retry import Deadline
from .secrets import SecretSource
from .settings import Settings

__all__ = ["Clock", "ConnectionService", "Source"]


class ConnectionService:
    """Creates, returns, verifies and records Event Hubs connections in Adobe."""

    def __init__(
        self,
        settings: Settings,
        *,
        secrets: SecretSource,
        adobe: AdobeApi,
        records: ConnectionStore,
        events: EventPublisher,
        verifies: VerifyQueue,
        clock: Clock,
        new_owner: Callable[[], str] | None = None,
    ) -> None:
        self.settings = settings
        self.secrets = secrets
        self.adobe = adobe
        self.records = records
        self.events = events
        self.verifies = verifies
        self.clock = clock
        self.engine: ExactlyOnce[ConnectionRecord] = ExactlyOnce.build(
            CONNECTION, records, settings, events=events, verifies=verifies, clock=clock, new_owner=new_owner
        )
        self.claims = self.engine.claims

    def get(self, key: ConnectionKey) -> ConnectionRecord:
        """The stored record; ConnectionNotFound when there is none."""
        stored = self.records.get(key)
        if stored is None:
            raise ConnectionNotFound(f"No connection is recorded for {_describe(key)}.")
        return stored.record

    def new_deadline(self) -> Deadline:
        return Deadline(self.clock.monotonic, self.settings.retry_budget_seconds)

    # -- create ----------------------------------------------------------------------------------

    def create_or_get(
        self, request: ConnectionRequest, source: Source, *, verify: bool = False, rounds: int = 3
    ) -> Outcome:
        """Return the existing connection, or create it exactly once. Raises a ConnectorError.

        A `ready` record is checked against Adobe when VERIFY_AFTER_SECONDS have passed since the
        last check (or when `verify`); a connection deleted in Adobe by hand is created again.
        """
        deadline = self.new_deadline()
        stored = self.records.get(request.key)
        answer, dead_id = self._existing(stored, source, verify, deadline)
        if answer is not None:
            return answer
        prepared = self._prepare(request, stored, dead_id, source, verify, deadline)
        if isinstance(prepared, Outcome):
            return prepared
        request, stored, dead_id, auth, spec_name = prepared
        claim = self._claim(request, stored, source, auth.secret_name, dead_id)
        if not isinstance(claim, Claim):
            return self._finished_meanwhile(request, claim, source, verify, rounds)
        deadline = self.new_deadline()  # the holder's budget starts with its lease (CLAIM_LEASE_SECONDS rule)
        description = (
            claim.record.description or f"Created by the Event Hubs connector for namespace {request.namespace}"
        )
        body = connection_body(claim.record.name, description, spec_name, auth.params)
        try:
            made = self._create(claim, body, auth, deadline)
            if not made.created and held_auth_type(made.content) in (None, request.auth_type):
                # Found, not made by this POST: an earlier invocation (or a namespace deleted and created again)
                # may have given it an older key. It gets the key whose version the record notes (unless it was
                # made by hand with the other kind of auth: Adobe cannot change a connection's auth type).
                made = self._refresh_key(claim, made, auth, deadline)
        except ConnectorError as err:
            self.engine.release_failed(claim, err, source)
            raise
        completed = claim.record.completed(
            made.id, made.etag, secret_version=auth.secret_version, now=self.clock.now(), name=made.name
        )
        explored = completed.explored(*self._explore(completed, deadline))
        record = self.engine.complete(claim, explored, uncertain=made.uncertain, created=made.created)
        verb = "created" if made.created else "adopted"
        log.info("connection %s for %s (adobe request %s, %s)", verb, record.key, made.request_id, source.describe())
        if not made.created:
            telemetry.count(telemetry.ADOPTED, {"sandbox": record.key.sandbox})
        return Outcome(record, created=made.created)

    def _prepare(
        self,
        request: ConnectionRequest,
        stored: StoredRecord | None,
        dead_id: str | None,
        source: Source,
        verify: bool,
        deadline: Deadline,
    ) -> Outcome | tuple[ConnectionRequest, StoredRecord | None, str | None, NamespaceAuth, str]:
        """Credentials, the namespace's secret (its EntityPath names the event hub) and the auth spec, before
        any claim: a permanent failure here is recorded. An Outcome when the scoped record answers."""
        if stored is not None and stored.record.state is State.DELETED:
            # A namespace created again under a deleted one's name has new keys: read them fresh.
            self.secrets.invalidate(self.settings.sas_secret_name(request.namespace))
            self.secrets.invalidate(self.settings.aad_secret_name(request.namespace))
        try:
            load_adobe_credentials(self.secrets, self.settings, deadline)
            auth = namespace_auth(self.secrets, self.settings, request, deadline)
            if auth.event_hub != request.event_hub:  # the secret is scoped to one event hub (EntityPath)
                self._forget_unscoped(stored)
                request = replace(request, event_hub=auth.event_hub)
                stored = self.records.get(request.key)
                answer, dead_id = self._existing(stored, source, verify, deadline)
                if answer is not None:
                    return answer
            spec_name = self.adobe.auth_spec_name(request.sandbox, auth.spec_name, auth.params, deadline)
        except ConnectorError as err:
            if err.permanent:
                failed = _failed_record(request, err, self.clock.now())
                self.engine.record_failure(request.key, stored, err, source, fresh=lambda: failed)
            raise
        return request, stored, dead_id, auth, spec_name

    def _finished_meanwhile(
        self, request: ConnectionRequest, answer: ConnectionRecord, source: Source, verify: bool, rounds: int
    ) -> Outcome:
        """Another invocation finished it while we waited: this event is applied to its record too."""
        settled = self.engine.settle(request.key, answer, source, rounds=rounds)
        if settled is not None:
            return Outcome(settled, created=False)
        # A deletion took it meanwhile: apply this event from scratch.
        return self.create_or_get(request, source, verify=verify, rounds=rounds - 1)

    def _existing(
        self, stored: StoredRecord | None, source: Source, verify: bool, deadline: Deadline
    ) -> tuple[Outcome | None, str | None]:
        """(the answer from the record, None) or (None, the id of a connection gone from Adobe, if any)."""
        if stored is None:
            return None, None
        record = stored.record
        due = verify or self._verification_due(record)
        if record.state is State.READY and not self.engine.stale(record, source) and due:
            checked = self._check_exists(stored, source, deadline)
            if checked is None:
                return None, record.connection_id  # deleted in Adobe by hand: create it again
            stored = checked
        answer = self.engine.answer(stored, source)
        return (Outcome(answer, created=False), None) if answer is not None else (None, None)

    def _claim(
        self,
        request: ConnectionRequest,
        stored: StoredRecord | None,
        source: Source,
        secret_name: str,
        dead_id: str | None,
    ) -> Claim[ConnectionRecord] | ConnectionRecord:
        key = request.key

        def new_record(now: datetime) -> ConnectionRecord:
            return (
                ConnectionRecord(
                    key=key,
                    state=State.CREATING,
                    auth_type=request.auth_type,
                    name=request.name or key.connection_name,
                    created_at=now,
                    updated_at=now,
                    secret_name=secret_name,
                    description=request.description,
                )
            ).applied(source)

        def takeover(current: ConnectionRecord) -> ConnectionRecord:
            # A claim that expired while `creating`, or a failure after a POST, may have reached Adobe:
            # the name it used is kept so the lookup finds it.
            may_exist = current.may_exist or current.state is State.CREATING or current.connection_id is not None
            return (
                replace(
                    current,
                    auth_type=request.auth_type if current.connection_id is None else current.auth_type,
                    name=current.name if may_exist else (request.name or key.connection_name),
                    connection_id=None if current.state is State.READY else current.connection_id,
                    secret_name=secret_name,
                    description=request.description or current.description,
                    may_exist=may_exist,
                )
            ).applied(source)

        return self.engine.claim(
            key,
            stored,
            source,
            new_record=new_record,
            takeover=takeover,
            reclaim_ready=lambda current: dead_id is not None and current.connection_id == dead_id,
        )

    def _create(
        self, claim: Claim[ConnectionRecord], body: dict[str, Any], auth: NamespaceAuth, deadline: Deadline
    ) -> AdobeConnection:
        """The protocol's create; an auth spec Adobe no longer knows (1415-400) is discovered again once."""
        record = claim.record
        for attempt in (1, 2):
            try:
                return create_once(
                    self.adobe,
                    record.key.sandbox,
                    connection_identity(record.key, record.name),
                    body,
                    keep=record.connection_id,
                    look_up_first=record.may_exist,
                    deadline=deadline,
                )
            except AdobeRejected as err:
                if attempt == 2 or err.outcome_unknown or not is_unknown_auth_spec(err):
                    raise
                self.adobe.forget_auth_specs(record.key.sandbox)
                spec = self.adobe.auth_spec_name(record.key.sandbox, auth.spec_name, auth.params, deadline)
                if spec == body["auth"]["specName"]:
                    raise
                log.warning("auth spec %r is unknown to Adobe; using %r", body["auth"]["specName"], spec)
                body = {**body, "auth": {**body["auth"], "specName": spec}}
        raise AssertionError("unreachable")

    def _refresh_key(
        self, claim: Claim[ConnectionRecord], connection: AdobeConnection, auth: NamespaceAuth, deadline: Deadline
    ) -> AdobeConnection:
        try:
            updated = self.adobe.update_auth_params(
                claim.record.key.sandbox, connection.id, connection.etag, auth.params, deadline
            )
        except ConnectionMissing:
            return connection  # gone meanwhile: the next request creates it again (drift repair)
        return replace(connection, etag=updated.etag or connection.etag)  # the found one's name and content

    def _explore(self, record: ConnectionRecord, deadline: Deadline) -> tuple[tuple[str, ...] | None, Warning | None]:
        """The event hubs the new connection can read, or the warning that says why Adobe cannot list them."""
        assert record.connection_id is not None
        try:
            return self.adobe.explore(record.key.sandbox, record.connection_id, deadline), None
        except AdobeRejected as err:
            message = (
                f"Adobe could not list the event hubs of namespace '{record.key.namespace}' "
                f"({err.adobe.code or err.adobe.status}): give the SAS rule of the namespace's secret Manage rights "
                "(Adobe needs them to list event hubs), then verify the connection."
            )
            log.warning("connection %s: %s", record.key, message)
            return None, Warning("EventHubsNotListed", message)
        except ConnectorError as err:
            log.warning("could not list the event hubs of %s (%s); the next verify tries again", record.key, err.code)
            return record.event_hubs, record.warning

    def explore_again(self, record: ConnectionRecord, deadline: Deadline) -> tuple[str, ...] | None:
        """A fresh explore listing of a ready connection, stored on its record (best effort); None when Adobe
        cannot list its event hubs. A transient failure raises: a stale listing never refuses anything."""
        assert record.connection_id is not None
        try:
            event_hubs = self.adobe.explore(record.key.sandbox, record.connection_id, deadline)
        except AdobeRejected:
            return None
        stored = self.records.get(record.key)
        if stored is not None and stored.record.connection_id == record.connection_id:
            with contextlib.suppress(WriteConflict, ConnectorError):
                self.records.replace(stored.record.explored(event_hubs, None), stored.etag)
        return event_hubs

    def _verification_due(self, record: ConnectionRecord) -> bool:
        checked = record.verified_at or record.updated_at
        return (self.clock.now() - checked).total_seconds() >= self.settings.verify_after_seconds

    def _check_exists(self, stored: StoredRecord, source: Source, deadline: Deadline) -> StoredRecord | None:
        """Check a ready record's connection still exists in Adobe: the record re-stamped (as stored when Adobe
        cannot tell or the write conflicts), or None when the connection is gone."""
        record = stored.record
        assert record.connection_id is not None
        try:
            found = self.adobe.get_connection(record.key.sandbox, record.connection_id, deadline)
        except ConnectorError as err:
            log.warning("could not verify %s in Adobe (%s); answering from the record", record.key, err.code)
            return stored
        if found is None:
            log.warning("connection %s of %s is gone from Adobe: creating it again", record.connection_id, record.key)
            return None
        verified = replace(record, verified_at=self.clock.now(), etag=found.etag or record.etag).saw_event(
            source.event_time
        )
        try:
            return self.records.replace(verified, stored.etag)
        except (WriteConflict, ConnectorError):
            return stored  # noting the event re-reads the record on a conflict

    def _forget_unscoped(self, stored: StoredRecord | None) -> None:
        """An unscoped record waiting for a secret that turned out scoped is superseded by the scoped one."""
        if stored is None or stored.record.state not in (State.PENDING_SECRET, State.FAILED):
            return
        if stored.record.connection_id is not None or stored.record.may_exist:
            return
        with contextlib.suppress(WriteConflict, ConnectorError):
            self.records.delete(stored.record.key, stored.etag)

    # -- verify ----------------------------------------------------------------------------------

    def verify(self, key: ConnectionKey, source: Source) -> ConnectionRecord | None:
        """Make Adobe hold exactly one connection for the record: keep the recorded one (else the oldest with its
        content and name, which is recorded), delete the others, create it again for a `ready` record."""
        deadline = self.new_deadline()

        def converge_one(claim: Claim[ConnectionRecord]) -> ConnectionRecord | Redo[ConnectionRecord]:
            previous = claim.previous
            assert previous is not None
            identity = connection_identity(key, previous.name)
            kept = converge(self.adobe, key.sandbox, identity, keep=previous.connection_id, deadline=deadline)
            if kept is None and previous.state is State.READY:
                log.warning(
                    "verify of %s: connection %s is gone from Adobe; creating it again", key, previous.connection_id
                )
                return Redo(claim.record.released(previous))
            if kept is None:
                log.info("verify of %s: no connection in Adobe; the record stays %s", key, previous.state.value)
                self.claims.release(claim, claim.record.released(previous))
                return previous
            completed = claim.record.completed(
                kept.id,
                kept.etag or previous.etag,
                # Another object than the recorded one holds a key nobody noted: the rotation check below fixes it.
                secret_version=previous.secret_version if kept.id == previous.connection_id else None,
                now=self.clock.now(),
                name=kept.name,
            )
            record = self.claims.complete(claim, completed.explored(*self._explore(completed, deadline)))
            if kept.id != previous.connection_id:
                log.warning("verify of %s: adopted connection %s found by its content", key, kept.id)
                telemetry.count(telemetry.ADOPTED, {"sandbox": key.sandbox})
            log.info("verify of %s: exactly one connection (%s)", key, kept.id)
            return record

        verified = self.engine.verify(
            key,
            source,
            converge=converge_one,
            recreate=lambda record: self.create_or_get(record.request(), source, verify=True).record,
            remove=self._remove_from_adobe,
        )
        if verified is not None and verified.state is State.READY and verified.owner is None:
            self._rotate_if_stale(key, source)
        return verified

    def _rotate_if_stale(self, key: ConnectionKey, source: Source) -> None:
        """A rotation that met a held claim, or lost its write, is not lost: a verify rotates a connection whose
        record notes an older secret version than the vault's newest (read fresh: another worker may have seen
        the new version while this one's cache still holds the old)."""
        self.secrets.invalidate(self.settings.sas_secret_name(key.namespace))
        self.secrets.invalidate(self.settings.aad_secret_name(key.namespace))
        try:
            self.rotate(key, source)
        except SecretProblem as err:
            log.info("verify of %s: secret not usable for a rotation check (%s)", key, err.code)

    # -- rotate ----------------------------------------------------------------------------------

    def rotate(self, key: ConnectionKey, source: Source) -> bool:
        """Give a ready connection the namespace's newest key (PATCH with If-Match) when the record notes an
        older secret version; whether it changed. A failure leaves it `ready` with the old key and lastError;
        a connection gone from Adobe is created again."""
        deadline = self.new_deadline()
        stored = self.records.get(key)
        if stored is None or stored.record.state is not State.READY:
            return False
        record = stored.record
        try:
            auth = namespace_auth(self.secrets, self.settings, record.request(), deadline)
            if auth.secret_version is not None and auth.secret_version == record.secret_version:
                log.info("connection %s already uses secret version %s", key, auth.secret_version)
                return False
            assert record.connection_id is not None
            updated = self.adobe.update_auth_params(
                key.sandbox, record.connection_id, record.etag, auth.params, deadline
            )
        except ConnectionMissing:
            log.warning("connection %s of %s is gone from Adobe: creating it again", record.connection_id, key)
            return self.create_or_get(record.request(), source, verify=True).created
        except ConnectorError as err:
            now = self.clock.now()
            self.save_unless_changed(
                stored, replace(record, last_error=LastError(err.code, err.message, now), updated_at=now)
            )
            log.warning("rotation of %s failed: %s %s (%s)", key, err.code, err.message, source.describe())
            raise
        now = self.clock.now()
        rotated = replace(
            record,
            etag=updated.etag or record.etag,
            secret_version=auth.secret_version,
            updated_at=now,
            verified_at=now,
            last_error=None,
            near_expiry=False,
            source_id=source.id,
        )
        self.save_unless_changed(stored, rotated)
        log.info(
            "connection %s rotated to secret version %s (adobe request %s, %s)",
            key,
            auth.secret_version,
            updated.request_id,
            source.describe(),
        )
        self.events.publish("rotated", rotated)
        return True

    def save_unless_changed(self, stored: StoredRecord, record: ConnectionRecord) -> None:
        """Write `record` over `stored` with If-Match; a record changed meanwhile keeps the newer write."""
        try:
            self.records.replace(record, stored.etag)
        except WriteConflict:
            log.warning("record %s changed meanwhile; the newer write stands", record.key)

    # -- delete ----------------------------------------------------------------------------------

    def mark_namespace_deleted(self, namespace: str, source: Source) -> int:
        """Mark every record of a deleted namespace (in every sandbox) `deleted`; the count changed.

        With DELETE_CONNECTION_ON_NAMESPACE_DELETE the Adobe connection is deleted too; Adobe's
        refusal (e.g. 1418-400, used by dataflows) is recorded in lastError and the record kept.
        A record that already applied a newer event is left alone.
        """
        changed, in_adobe = 0, self.settings.delete_connection_on_namespace_delete
        transient: ConnectorError | None = None
        listed_records = list(self.records.list(namespace=namespace))
        if not listed_records and source.event_time is not None and self._tombstone(namespace, source):
            return 0
        for listed in listed_records or list(self.records.list(namespace=namespace)):
            try:
                if self.mark_deleted(listed.key, source, in_adobe=in_adobe):
                    changed += 1
            except ConnectorError as err:
                if err.permanent:
                    continue
                transient = transient or err
        if transient is not None:
            raise transient
        return changed

    def _tombstone(self, namespace: str, source: Source) -> bool:
        """A deletion that overtook its create: a `deleted` record holding the event's time (the engine's)."""
        key = ConnectionKey(self.settings.default_sandbox, namespace)
        now = self.clock.now()
        return self.engine.tombstone(
            ConnectionRecord(key, State.DELETED, AuthType.SAS, key.connection_name, now, now), source
        )

    def mark_deleted(self, key: ConnectionKey, source: Source, *, in_adobe: bool) -> bool:
        """Mark the record `deleted`, deleting the Adobe connection (and any an uncertain create left) when
        `in_adobe`; an event older than the newest one applied changes nothing. Whether the state changed
        (a namespace deleted, or an operator's `delete`)."""
        return self.engine.delete(
            key,
            source,
            in_adobe=in_adobe,
            adobe_left=_adobe_left,
            remove=self._remove_from_adobe,
            describe_error=_deletion_message,
        )

    def _remove_from_adobe(self, record: ConnectionRecord) -> int:
        """Every connection of the record's identity: the recorded one and any an uncertain create left."""
        identity = connection_identity(record.key, record.name)
        return remove_all(
            self.adobe, record.key.sandbox, identity, recorded=record.connection_id, deadline=self.new_deadline()
        )


def _adobe_left(record: ConnectionRecord) -> bool:
    """Adobe may still hold a connection of the record (recorded, or an uncertain create's)."""
    return not record.adobe_deleted and (record.connection_id is not None or record.may_exist)


def _failed_record(request: ConnectionRequest, err: ConnectorError, now: datetime) -> ConnectionRecord:
    """The record of a request that failed before any claim (its state set by the engine)."""
    return ConnectionRecord(
        key=request.key,
        state=State.FAILED,
        auth_type=request.auth_type,
        name=request.name or request.key.connection_name,
        created_at=now,
        updated_at=now,
        secret_name=getattr(err, "secret_name", None),
        description=request.description,
    )


def _deletion_message(err: ConnectorError) -> str:
    adobe = getattr(err, "adobe", None)
    if adobe is not None and adobe.code and adobe.code.startswith("1418"):
        return (
            "The namespace was deleted but Adobe refused to delete the connection because dataflows still use "
            f"it (1418-400); delete those dataflows, then the connection. {err.message}"
        )
    return err.message


def _describe(key: ConnectionKey) -> str:
    hub = f", event hub '{key.event_hub}'" if key.event_hub else ""
    return f"namespace '{key.namespace}' in sandbox '{key.sandbox}'{hub}"
