"""The exactly-once engine: the one place the order of the protocol's steps lives, for every kind of record.

An operation (a connection's create, a dataflow's, a verify, a deletion) reads top to bottom and calls
these steps in this order; what differs between kinds (which Adobe objects, their bodies and identities)
stays in the operation, what is the same (when a record answers, how it is claimed, how a failure, a
completion, a verify and a deletion are recorded and published) is written here once:

  1. `answer`: the record answers (an event older than the newest applied changes nothing; a `ready`
     record notes the event) — or the operation goes on;
  2. `claim`: a conditional insert, or an If-Match takeover of a record nobody holds; `settle` applies the
     event to the record another invocation finished meanwhile;
  3. the operation creates (after an uncertain outcome, looking up by content first: `claims.create_once`);
  4. `complete` (a delayed verify after an uncertain outcome, the kind's `created` event) or
     `release_failed`; a failure found before any claim is `record_failure`;
  5. `verify`: hold the record and let the operation converge; `delete`: hold the record as `deleted`
     while the operation removes the Adobe objects; `finish_deletion` for what committed late.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from .claims import Claim, Claims, VerifyQueue, schedule_verify
from .clock import Clock
from .errors import ConnectorError, SecretNotFound
from .lifecycle import Lifecycle
from .logs import log
from .models import ConnectionKey, LastError, Source, State
from .notifications import EventPublisher
from .records import RecordStore, Stored, WriteConflict
from .settings import Settings

R = TypeVar("R", bound=Lifecycle)


@dataclass(frozen=True)
class Kind:
    """What the engine says of one kind of record: its noun in logs and the events it publishes."""

    noun: str
    created: str
    failed: str
    deleted: str


CONNECTION = Kind("connection", "created", "failed", "deleted")
DATAFLOW = Kind("dataflow", "dataflow-created", "dataflow-failed", "dataflow-deleted")


@dataclass(frozen=True)
class Redo(Generic[R]):
    """A verify's verdict: the Adobe objects of a `ready` record are gone; the record (released as `previous`
    was, or as given) is created again from scratch."""

    record: R


class ExactlyOnce(Generic[R]):
    """The protocol's steps over one table of records of one kind."""

    def __init__(
        self,
        kind: Kind,
        claims: Claims[R],
        *,
        events: EventPublisher,
        verifies: VerifyQueue,
        clock: Clock,
        verify_delay: float,
    ) -> None:
        self.kind = kind
        self.claims = claims
        self.records = claims.records
        self.events = events
        self.verifies = verifies
        self.clock = clock
        self.verify_delay = verify_delay

    @classmethod
    def build(
        cls,
        kind: Kind,
        records: RecordStore[R],
        settings: Settings,
        *,
        events: EventPublisher,
        verifies: VerifyQueue,
        clock: Clock,
        new_owner: Callable[[], str] | None = None,
    ) -> ExactlyOnce[R]:
        """The engine over a table, with the lease, wait and verify delay of the settings."""
        owner = {"new_owner": new_owner} if new_owner is not None else {}
        claims: Claims[R] = Claims(
            records,
            clock,
            lease_seconds=settings.claim_lease_seconds,
            wait_seconds=settings.claim_wait_seconds,
            **owner,
        )
        return cls(
            kind, claims, events=events, verifies=verifies, clock=clock, verify_delay=settings.verify_delay_seconds
        )

    # -- 1. the record answers -------------------------------------------------------------------

    def stale(self, record: R, source: Source) -> bool:
        """An event older than the newest one applied, or a create not newer than the deletion it would undo."""
        return record.newer_than(source.event_time) or record.not_after_deletion(source.event_time)

    def answer(self, stored: Stored[R] | None, source: Source) -> R | None:
        """The record as the answer: unchanged for a stale event, with the event noted when `ready`; None when
        the operation must go on."""
        if stored is None:
            return None
        if self.stale(stored.record, source):
            log.info("%s is older than the newest event applied to %s: ignored", source.describe(), stored.record.key)
            return stored.record
        return self.claims.note_event(stored, source.event_time) if stored.record.state is State.READY else None

    # -- 2. claim ----------------------------------------------------------------------------------

    def claim(
        self,
        key: ConnectionKey,
        stored: Stored[R] | None,
        source: Source,
        *,
        new_record: Callable[[datetime], R],
        takeover: Callable[[R], R],
        reclaim_ready: Callable[[R], bool] = lambda _: False,
    ) -> Claim[R] | R:
        """The claim, or the record another invocation left (ready, or a newer event's) to `settle`."""
        claim = self.claims.take(
            key,
            stored,
            new_record=new_record,
            takeover=takeover,
            source_id=source.id,
            reclaim_ready=reclaim_ready,
            # Checked on every read: a deletion newer than this event may have landed while we waited.
            proceed=lambda current: not self.stale(current, source),
        )
        assert claim is not None  # new_record is given
        return claim

    def settle(self, key: ConnectionKey, answer: R, source: Source, *, rounds: int) -> R | None:
        """The record another invocation finished, with this event applied; None when a deletion took it
        meanwhile (the operation then runs again from scratch, `rounds` times at most)."""
        return self.claims.settle(key, answer, source.event_time, last_round=rounds <= 1)

    # -- 4. complete, or record the failure ------------------------------------------------------

    def complete(self, claim: Claim[R], record: R, *, uncertain: bool, created: bool) -> R:
        """Write the finished record (If-Match); a delayed verify after an uncertain outcome; `created` published."""
        done = self.claims.complete(claim, record)
        if uncertain:
            self.schedule_verify(done.key)
        if created:
            self.events.publish(self.kind.created, done)
        return done

    def release_failed(self, claim: Claim[R], err: ConnectorError, source: Source) -> None:
        """After a failure while holding the claim: record it, free the claim, verify if a create was uncertain."""
        may_exist = claim.record.may_exist or err.outcome_unknown
        error = LastError(err.code, err.message, self.clock.now())
        failed = claim.record.failed(error, may_exist=may_exist, source_id=source.id)
        if may_exist:
            self.schedule_verify(failed.key)
        if not self.claims.release(claim, failed):
            return
        self.log_failure(failed, err, source)
        if err.permanent:
            self.events.publish(self.kind.failed, failed, err)

    def record_failure(
        self,
        key: ConnectionKey,
        stored: Stored[R] | None,
        err: ConnectorError,
        source: Source,
        *,
        fresh: Callable[[], R],
    ) -> None:
        """A permanent failure found before any claim (a secret missing or invalid, a dataset not found, an
        Adobe refusal): `failed`, or `pending_secret` for an event that came before its namespace's secret. A
        ready or held record is left as it is, and so is one already waiting for its secret."""
        now = self.clock.now()
        waiting = isinstance(err, SecretNotFound) and source.is_event
        if stored is not None:
            current = stored.record
            if (
                current.state is State.READY
                or self.claims.held(stored)
                or (current.state is State.PENDING_SECRET and isinstance(err, SecretNotFound))
            ):
                self.log_failure(current, err, source)
                return
        base = stored.record if stored is not None else fresh()
        error = LastError(err.code, err.message, now)
        record = (
            base.waiting_for_secret(error, source_id=source.id)
            if waiting
            else base.failed(error, may_exist=base.may_exist, source_id=source.id)
        )
        record = record.applied(source).unleased()
        try:
            if stored is None:
                self.records.insert(record)
            else:
                self.records.replace(record, stored.etag)
        except (WriteConflict, ConnectorError) as write_err:
            log.warning("could not record the failure of %s %s: %s", self.kind.noun, key, type(write_err).__name__)
            return
        self.log_failure(record, err, source)
        if record.state is State.FAILED:
            self.events.publish(self.kind.failed, record, err)

    def log_failure(self, record: R, err: ConnectorError, source: Source) -> None:
        """One line; waiting for a secret is no failure (INFO)."""
        write = log.info if record.state is State.PENDING_SECRET else log.warning
        state = record.state.value
        write("%s %s %s: %s %s (%s)", self.kind.noun, record.key, state, err.code, err.message, source.describe())

    def schedule_verify(self, key: ConnectionKey) -> None:
        schedule_verify(self.verifies, key, self.verify_delay)

    # -- 5. verify and delete --------------------------------------------------------------------

    def verify(
        self,
        key: ConnectionKey,
        source: Source,
        *,
        converge: Callable[[Claim[R]], R | Redo[R]],
        recreate: Callable[[R], R],
        remove: Callable[[R], int],
    ) -> R | None:
        """Hold the record and let `converge` make Adobe hold exactly its objects (it completes the claim, or
        answers `Redo` for a ready record whose objects are gone: then `recreate` runs, claim released). A
        record deleted in Adobe too is finished (`remove` deletes what committed late); others in `deleted`
        or `pending_secret` have nothing to verify."""
        stored = self.records.get(key)
        if stored is not None and stored.record.state is State.DELETED and stored.record.adobe_deleted:
            return self.finish_deletion(key, source, remove)
        if stored is None or stored.record.state in (State.DELETED, State.PENDING_SECRET):
            state = stored.record.state.value if stored else "no record"
            log.info("verify of %s %s: nothing to verify (%s)", self.kind.noun, key, state)
            return stored.record if stored else None
        claim = self.claims.take(
            key, stored, new_record=None, takeover=lambda r: r, source_id=source.id, reclaim_ready=lambda _: True
        )
        if not isinstance(claim, Claim):
            return claim
        previous = claim.previous
        assert previous is not None
        try:
            verdict = converge(claim)
        except ConnectorError:
            self.claims.release(claim, claim.record.released(previous))
            raise
        if not isinstance(verdict, Redo):
            return verdict
        self.claims.release(claim, verdict.record)
        return recreate(verdict.record)

    def delete(
        self,
        key: ConnectionKey,
        source: Source,
        *,
        in_adobe: bool,
        adobe_left: Callable[[R], bool],
        remove: Callable[[R], int],
        describe_error: Callable[[ConnectorError], str] = lambda err: err.message,
    ) -> bool:
        """Hold the record as `deleted` (no create or verify meanwhile), `remove` its Adobe objects when
        `in_adobe` and some may be left, then release it. An event older than the newest one applied changes
        nothing. Whether the state changed."""

        def proceed(current: R) -> bool:
            if current.newer_than(source.event_time):
                log.info("%s is older than the newest event applied to %s: not deleted", source.describe(), key)
                return False
            return current.state is not State.DELETED or (in_adobe and adobe_left(current))

        claim = self.claims.take_for_deletion(key, source_id=source.id, event_time=source.event_time, proceed=proceed)
        if claim is None:
            return False
        previous = claim.previous
        assert previous is not None
        deleted, error = claim.record.unleased(), None
        if in_adobe and adobe_left(previous):
            try:
                remove(previous)
                deleted = deleted.removed_from_adobe()
            except ConnectorError as err:
                error = err
                deleted = deleted.noted(LastError(err.code, describe_error(err), self.clock.now()))
        self.claims.release(claim, deleted)
        log.info("%s %s marked deleted (%s)", self.kind.noun, key, source.describe())
        if previous.state is not State.DELETED:
            self.events.publish(self.kind.deleted, deleted, error)
        if error is not None:
            self.log_failure(deleted, error, source)
            if not error.permanent:
                raise error
        return previous.state is not State.DELETED

    def finish_deletion(self, key: ConnectionKey, source: Source, remove: Callable[[R], int]) -> R | None:
        """A verify of a record deleted in Adobe too: an object whose create committed late is deleted as well."""
        claim = self.claims.take_for_deletion(
            key,
            source_id=source.id,
            event_time=None,
            proceed=lambda current: current.state is State.DELETED and current.adobe_deleted,
        )
        if claim is None:
            stored = self.records.get(key)
            return stored.record if stored else None
        try:
            removed = remove(claim.record)
        finally:
            self.claims.release(claim, claim.record.unleased())
        if removed:
            log.warning(
                "verify of %s %s: deleted %d object(s) left in Adobe after the deletion", self.kind.noun, key, removed
            )
        return claim.record.unleased()

    def tombstone(self, record: R, source: Source) -> bool:
        """A deletion that overtook its create: a `deleted` record holding the event's time, so the older create
        event delivered later changes nothing. False when a record appeared meanwhile (then deleted as usual)."""
        try:
            self.records.insert(record.deleted(now=self.clock.now(), source_id=source.id).applied(source))
        except WriteConflict:
            return False
        log.info("%s %s deleted before any record: tombstone (%s)", self.kind.noun, record.key, source.describe())
        return True
