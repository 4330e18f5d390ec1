"""The state transitions every record of an Adobe object shares (connections, dataflows)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Self, cast

from .models_base import ConnectionKey, LastError, Source, State


class Lifecycle:
    """Named transitions of a frozen dataclass record with a state, a lease and the newest event time.

    Each returns a new record; the subclass declares the fields named here.
    """

    key: ConnectionKey
    state: State
    updated_at: datetime
    adobe_deleted: bool
    source_id: str | None
    last_error: LastError | None
    lease_until: datetime | None
    owner: str | None
    may_exist: bool
    last_event_at: datetime | None

    def to_json(self, *, created: bool | None = None) -> dict[str, Any]:
        """The contract's shape of the record (each kind's own)."""
        raise NotImplementedError

    def _with(self, **changes: Any) -> Self:
        return cast(Self, dataclasses.replace(cast(Any, self), **changes))

    def claimed(
        self, *, owner: str, lease_until: datetime, now: datetime, source_id: str | None, state: State = State.CREATING
    ) -> Self:
        """Held by `owner` until `lease_until` while it talks to Adobe (state `creating`, or `deleted` while
        a deletion removes the Adobe objects)."""
        return self._with(state=state, owner=owner, lease_until=lease_until, updated_at=now, source_id=source_id)

    def failed(self, error: LastError, *, may_exist: bool, source_id: str | None) -> Self:
        """`failed` with the error; the claim is released. `may_exist`: a create may have reached Adobe."""
        return self._with(
            state=State.FAILED,
            last_error=error,
            updated_at=error.at,
            source_id=source_id,
            lease_until=None,
            owner=None,
            may_exist=may_exist,
        )

    def waiting_for_secret(self, error: LastError, *, source_id: str | None) -> Self:
        """`pending_secret`: a namespace event came before the namespace's secret."""
        return self._with(state=State.PENDING_SECRET, last_error=error, updated_at=error.at, source_id=source_id)

    def deleted(self, *, now: datetime, source_id: str | None) -> Self:
        """`deleted`: the namespace (or event hub) is gone."""
        return self._with(state=State.DELETED, updated_at=now, source_id=source_id, lease_until=None, owner=None)

    def removed_from_adobe(self) -> Self:
        """Its Adobe objects are deleted (nothing may be left: no uncertain create to look for)."""
        return self._with(adobe_deleted=True, may_exist=False, last_error=None)

    def applied(self, source: Source) -> Self:
        """The record noting what the request or event that wrote it showed (its event time)."""
        return self.saw_event(source.event_time)

    def unleased(self) -> Self:
        """The same record, no longer held by anyone."""
        return self._with(lease_until=None, owner=None)

    def noted(self, error: LastError | None, *, source_id: str | None = None) -> Self:
        """The same state with `lastError` set (or cleared)."""
        return self._with(last_error=error, source_id=source_id or self.source_id)

    def released(self, previous: Self) -> Self:
        """Back to what `previous` was (a verify that changed nothing), without the claim."""
        return previous._with(lease_until=None, owner=None, may_exist=False, last_event_at=self.last_event_at)

    def saw_event(self, event_time: datetime | None) -> Self:
        """Remember the newest Event Grid event applied to this record."""
        if event_time is None or (self.last_event_at is not None and self.last_event_at >= event_time):
            return self
        return self._with(last_event_at=event_time)

    def newer_than(self, event_time: datetime | None) -> bool:
        """A newer event was already applied: an event of `event_time` changes nothing."""
        return event_time is not None and self.last_event_at is not None and self.last_event_at > event_time

    def not_after_deletion(self, event_time: datetime | None) -> bool:
        """A create event that is not newer than the deletion it would undo."""
        deleted_at = self.last_event_at or self.updated_at
        return self.state is State.DELETED and event_time is not None and event_time <= deleted_at

    def lease_live(self, now: datetime) -> bool:
        """Another invocation holds the claim right now."""
        return self.lease_until is not None and self.lease_until > now
