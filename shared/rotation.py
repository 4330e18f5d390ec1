"""Key Vault secret events: rotate a connection's key, create pending connections, flag near expiry."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .errors import ConnectorError
from .logs import log
from .models import ConnectionRecord, State
from .service import ConnectionService, Source

if TYPE_CHECKING:
    from .dataflows import DataflowService

_WAITING_FOR_SECRET = ("SecretNotFound",)


class SecretEvents:
    """Reacts to `SecretNewVersionCreated` and `SecretNearExpiry` for the secrets behind connections."""

    def __init__(self, service: ConnectionService, dataflows: DataflowService | None = None) -> None:
        self.service = service
        self.dataflows = dataflows

    def _records_behind(self, secret_name: str) -> list[ConnectionRecord]:
        owner = self.service.settings.secret_owner(secret_name)
        if owner is None:
            return []
        auth_type, namespace = owner
        return [r for r in self.service.records.list(namespace=namespace) if r.auth_type is auth_type]

    def new_version(self, secret_name: str, source: Source) -> int:
        """Rotate ready connections and create pending ones; the number of connections changed.

        Order-independent: the latest version is read from Key Vault and compared with the
        version recorded, so a late event for an old version changes nothing.
        """
        records = self._records_behind(secret_name)
        if not records:
            log.info("secret %s backs no connection: ignored (%s %s)", secret_name, source.kind, source.id or "-")
            return 0
        self.service.secrets.invalidate(secret_name)
        changed = 0
        transient: ConnectorError | None = None
        for record in records:
            try:
                changed += self._apply(record, source)
            except ConnectorError as err:
                if not err.permanent:
                    transient = transient or err
        if transient is not None:
            raise transient
        return changed

    def _apply(self, record: ConnectionRecord, source: Source, *, waited: bool = False) -> int:
        stored = self.service.records.get(record.key)
        if stored is None:
            return 0
        record = stored.record
        if self.service.claims.held(stored):
            # Another invocation holds it (a create, a verify): wait like any request, then rotate; still held
            # after CLAIM_WAIT_SECONDS, ConnectionBeingCreated makes Event Grid redeliver. Never dropped.
            if waited:
                raise self.service.claims.being_created(record.key, stored)
            after = self.service.claims.wait(record.key, stored)
            return self._apply(after.record, source, waited=True) if after is not None else 0
        waiting = record.state in (State.PENDING_SECRET, State.CREATING) or (
            record.state is State.FAILED
            and record.last_error is not None
            and record.last_error.code in _WAITING_FOR_SECRET
        )
        if waiting:
            outcome = self.service.create_or_get(record.request(), source)
            if self.dataflows is not None and outcome.record.state is State.READY:
                self.dataflows.resume_pending(record.key.namespace, source)  # they waited for this connection
            return 1 if outcome.created else 0
        if record.state is State.READY:
            return int(self.service.rotate(record.key, source))
        log.info("secret event for %s in state %s: nothing to do", record.key, record.state.value)
        return 0

    def near_expiry(self, secret_name: str, source: Source) -> int:
        """Flag the records behind a secret that is about to expire, with a warning log."""
        flagged = 0
        for record in self._records_behind(secret_name):
            stored = self.service.records.get(record.key)
            if stored is None or stored.record.near_expiry:
                continue
            self.service.save_unless_changed(
                stored, replace(stored.record, near_expiry=True, updated_at=self.service.clock.now())
            )
            flagged += 1
            log.warning(
                "secret %s behind connection %s is near expiry: rotate it in Key Vault (%s %s)",
                secret_name,
                record.key,
                source.kind,
                source.id or "-",
            )
        return flagged
