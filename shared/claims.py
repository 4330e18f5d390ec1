"""The exactly-once protocol, written once for every Adobe object the app creates.

1. claim the record: a conditional insert, or an If-Match takeover of a record nobody holds,
   with a lease (`CLAIM_LEASE_SECONDS`); a live claim of someone else is waited for;
2. create under the name stored with the claim; after an outcome that may have reached Adobe,
   look the name up before any repeat (`create_once`), and keep exactly one (`converge`);
3. schedule a delayed verify (`VerifyQueue`) after every uncertain outcome: Adobe may commit
   a create after the app stopped waiting, where no lookup made at once can see it;
4. complete (or release) the record with If-Match.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from . import telemetry
from .adobe import AdobeApi, AdobeConnection
from .clock import Clock
from .errors import ConnectionBeingCreated, ConnectorError
from .identity import Identity
from .logs import log
from .models import ConnectionKey, State
from .records import RecordStore, Stored, WriteConflict
from .retry import Deadline

_CLAIM_ROUNDS = 5
_POLL_SECONDS = 0.5


class VerifyQueue(Protocol):
    """Where delayed verify requests go (the request queue, invisible for `delay` seconds)."""

    def schedule(self, key: ConnectionKey, delay: float) -> None:
        """Queue `{"action": "verify", ...}` for `key`; raises ConnectorError when storage fails."""
        ...


class Claimable(Protocol):
    """A record the protocol can hold: its key, state and lease, and the claimed transition."""

    @property
    def key(self) -> ConnectionKey: ...

    @property
    def state(self) -> State: ...

    @property
    def lease_until(self) -> datetime | None: ...

    @property
    def owner(self) -> str | None: ...

    def lease_live(self, now: datetime) -> bool: ...

    def claimed(
        self: R, *, owner: str, lease_until: datetime, now: datetime, source_id: str | None, state: State = ...
    ) -> R: ...

    def deleted(self: R, *, now: datetime, source_id: str | None) -> R: ...

    def saw_event(self: R, event_time: datetime | None) -> R: ...


R = TypeVar("R", bound=Claimable)


@dataclass(frozen=True)
class Claim(Generic[R]):
    """A record we hold: as written (with its table etag), and what it was before we took it."""

    stored: Stored[R]
    previous: R | None

    @property
    def record(self) -> R:
        return self.stored.record


class Claims(Generic[R]):
    """Claim, wait, complete and release records (connections, dataflows) with conditional writes and a lease."""

    def __init__(
        self,
        records: RecordStore[R],
        clock: Clock,
        *,
        lease_seconds: float,
        wait_seconds: float,
        new_owner: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.records = records
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.wait_seconds = wait_seconds
        self._new_owner = new_owner

    def take(
        self,
        key: ConnectionKey,
        stored: Stored[R] | None,
        *,
        new_record: Callable[[datetime], R] | None,
        takeover: Callable[[R], R],
        source_id: str | None,
        reclaim_ready: Callable[[R], bool] = lambda _: False,
        proceed: Callable[[R], bool] = lambda _: True,
        state: State = State.CREATING,
    ) -> Claim[R] | R | None:
        """A Claim (the record in `state`, held by us); or the record as it is, when it is ready and not to be
        reclaimed or when `proceed` says there is nothing to do (checked on every read); or None (no record,
        nothing to insert)."""
        owner = self._new_owner()
        for _ in range(_CLAIM_ROUNDS):
            now = self.clock.now()
            until = now + timedelta(seconds=self.lease_seconds)
            try:
                if stored is None:
                    if new_record is None:
                        return None
                    fresh = new_record(now).claimed(owner=owner, lease_until=until, now=now, source_id=source_id)
                    return Claim(self.records.insert(fresh), None)
                current = stored.record
                if (current.state is State.READY and not reclaim_ready(current)) or not proceed(current):
                    return current
                if self.held(stored):
                    stored = self.wait(key, stored)
                    continue
                taken = takeover(current).claimed(
                    owner=owner, lease_until=until, now=now, source_id=source_id, state=state
                )
                return Claim(self.records.replace(taken, stored.etag), current)
            except WriteConflict:
                stored = self.records.get(key)
        raise self.being_created(key, stored)

    def take_for_deletion(
        self, key: ConnectionKey, *, source_id: str | None, event_time: datetime | None, proceed: Callable[[R], bool]
    ) -> Claim[R] | None:
        """Hold the record as `deleted` while its Adobe objects are deleted (no create or verify meanwhile);
        None when there is no record or `proceed` says there is nothing to do."""
        claim = self.take(
            key,
            self.records.get(key),
            new_record=None,
            takeover=lambda current: current.deleted(now=self.clock.now(), source_id=source_id).saw_event(event_time),
            source_id=source_id,
            reclaim_ready=lambda _: True,
            proceed=proceed,
            state=State.DELETED,
        )
        return claim if isinstance(claim, Claim) else None

    def lease_left(self, stored: Stored[R]) -> float:
        """Seconds left on the claim of a stored record; 0 when nobody holds it. Decided from storage's own time
        when the store reports it (the entity's server Timestamp of the claim write plus the lease, against the
        read's server Date), so a worker whose clock runs ahead cannot take over a live claim."""
        record = stored.record
        if record.lease_until is None or record.owner is None:
            return 0.0
        if stored.written_at is not None and stored.read_at is not None:
            return (stored.written_at + timedelta(seconds=self.lease_seconds) - stored.read_at).total_seconds()
        return (record.lease_until - self.clock.now()).total_seconds()

    def held(self, stored: Stored[R]) -> bool:
        """Another invocation holds the record's claim right now."""
        return self.lease_left(stored) > 0

    def wait(self, key: ConnectionKey, stored: Stored[R]) -> Stored[R] | None:
        """Poll the record while another invocation's live claim lasts (at most CLAIM_WAIT_SECONDS)."""
        start = self.clock.monotonic()
        current: Stored[R] | None = stored
        while current is not None:
            lease_left = self.lease_left(current)
            waited = self.clock.monotonic() - start
            if lease_left <= 0:
                return current if current is not stored else self.records.get(key)
            if waited >= self.wait_seconds:
                raise self.being_created(key, current)
            self.clock.sleep(min(_POLL_SECONDS, lease_left, self.wait_seconds - waited))
            current = self.records.get(key)
        return None

    def being_created(self, key: ConnectionKey, stored: Stored[R] | None) -> ConnectionBeingCreated:
        lease_left = 5
        if stored is not None and stored.record.lease_until is not None:
            lease_left = int(self.lease_left(stored)) + 1
        hub = f", event hub '{key.event_hub}'" if key.event_hub else ""
        return ConnectionBeingCreated(
            f"The connection for namespace '{key.namespace}' in sandbox '{key.sandbox}'{hub} is being created by "
            "another request; retry shortly.",
            retry_after=min(max(lease_left, 1), 30),
        )

    def note_event(self, stored: Stored[R], event_time: datetime | None) -> R | None:
        """A ready record remembers a newer event (so a late, older deletion cannot undo it); None when it
        stopped being ready meanwhile (a deletion took it): the event is then applied from scratch."""
        for _ in range(_CLAIM_ROUNDS):
            record = stored.record
            if record.state is not State.READY:
                return None
            noted = record.saw_event(event_time)
            if noted is record:
                return record
            try:
                return self.records.replace(noted, stored.etag).record
            except WriteConflict:
                again = self.records.get(record.key)
                if again is None:
                    return None
                stored = again
        raise self.being_created(stored.record.key, stored)

    def settle(self, key: ConnectionKey, answer: R, event_time: datetime | None, *, last_round: bool) -> R | None:
        """What `take` answered instead of a claim, with this event applied: the record as it is when `proceed`
        said the event changes nothing; the ready record with the event noted; None when a deletion took it
        between that answer and now (the caller applies the event from scratch), or on the `last_round`
        ConnectionBeingCreated (retried later, never a stale answer)."""
        if answer.state is not State.READY:
            return answer
        stored = self.records.get(key)
        settled = self.note_event(stored, event_time) if stored is not None else None
        if settled is None and last_round:
            raise self.being_created(key, None)
        return settled

    def save(self, claim: Claim[R], record: R) -> Claim[R]:
        """Write progress while keeping the claim (a dataflow's source id before its target is made)."""
        return Claim(self.records.replace(record, claim.stored.etag), claim.previous)

    def complete(self, claim: Claim[R], record: R) -> R:
        """Write the finished record with If-Match. If our lease expired and someone took over, the taker
        looks the name up and adopts what we made: report it as made."""
        try:
            return self.records.replace(record, claim.stored.etag).record
        except WriteConflict:
            log.warning("claim on %s was taken over before completion; the taker adopts what was made", record.key)
            return record

    def release(self, claim: Claim[R], record: R) -> bool:
        """Write the record that frees the claim (failed, or as it was); False when that write failed."""
        try:
            self.records.replace(record, claim.stored.etag)
        except (WriteConflict, ConnectorError) as err:
            log.warning("could not release the claim on %s: %s", record.key, type(err).__name__)
            return False
        return True


def schedule_verify(verifies: VerifyQueue, key: ConnectionKey, delay: float) -> None:
    """After an uncertain outcome, a delayed verify; a storage failure is logged, never raised (the outcome stands)."""
    try:
        verifies.schedule(key, delay)
    except ConnectorError as err:
        log.error("could not queue the verify of %s (%s): check the request queue", key, err.code)


def converge(
    adobe: AdobeApi, sandbox: str, identity: Identity, *, keep: str | None, deadline: Deadline
) -> AdobeConnection | None:
    """The identity's one object in Adobe, or None. Objects with its content under the name stored with the
    claim are duplicates of each other: the recorded one (`keep`) is kept, else the oldest, and the others are
    deleted. Without any, an object with its content under another name (made by hand) is adopted, never
    deleted. An object with the name and other content is someone else's: never touched."""
    named = _named(adobe, sandbox, identity, deadline)
    if named:
        kept = next((o for o in named if o.id == keep), named[0])
        for duplicate in named:
            if duplicate.id != kept.id:
                _delete_duplicate(adobe, sandbox, identity, duplicate, kept, deadline)
        return kept
    if not identity.any_name:
        return None
    listed = adobe.list_objects(sandbox, identity.collection, identity.narrow, deadline)
    others = [o for o in listed if identity.matches(o.content)]
    if not others:
        return None
    kept = next((o for o in others if o.id == keep), others[0])
    if kept.id != keep:
        log.info(
            "found %s %s holding %r's content under the name %r", identity.collection, kept.id, identity.name, kept.name
        )
    return kept


def remove_all(adobe: AdobeApi, sandbox: str, identity: Identity, *, recorded: str | None, deadline: Deadline) -> int:
    """Delete the recorded object and every object with the identity's content under its stored name (one an
    uncertain create left unrecorded included); how many were deleted. Others' objects are never touched."""
    doomed = [o.id for o in _named(adobe, sandbox, identity, deadline)]
    if recorded is not None and recorded not in doomed:
        doomed.insert(0, recorded)
    return sum(1 for object_id in doomed if adobe.delete(sandbox, identity.collection, object_id, deadline))


def _named(adobe: AdobeApi, sandbox: str, identity: Identity, deadline: Deadline) -> list[AdobeConnection]:
    filters = (*identity.narrow, ("name", identity.name))
    listed = adobe.list_objects(sandbox, identity.collection, filters, deadline)
    return [o for o in listed if o.name == identity.name and identity.matches(o.content)]


def _delete_duplicate(
    adobe: AdobeApi,
    sandbox: str,
    identity: Identity,
    duplicate: AdobeConnection,
    kept: AdobeConnection,
    deadline: Deadline,
) -> None:
    collection, name = identity.collection, identity.name
    try:
        adobe.delete(sandbox, collection, duplicate.id, deadline)
    except ConnectorError as err:
        if not err.permanent:
            raise
        log.warning("could not delete duplicate %s %s of %r: %s", collection, duplicate.id, name, err.code)
        return
    log.warning("deleted duplicate %s %s of %r (kept %s)", collection, duplicate.id, name, kept.id)
    telemetry.count(telemetry.DUPLICATES_REMOVED, {"sandbox": sandbox, "collection": collection})


def create_once(
    adobe: AdobeApi,
    sandbox: str,
    identity: Identity,
    body: dict[str, Any],
    *,
    keep: str | None,
    look_up_first: bool,
    deadline: Deadline,
) -> AdobeConnection:
    """Create the identity's object (`body` carries its stored name); after an uncertain outcome, look it up
    by content (and converge) before any repeat.

    The result's `uncertain` (or a raised error's `outcome_unknown`) says a verify must follow.
    """
    return adobe.create(
        sandbox,
        identity.collection,
        body,
        deadline,
        look_up_first=look_up_first,
        lookup=lambda: converge(adobe, sandbox, identity, keep=keep, deadline=deadline),
    )
