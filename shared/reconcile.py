"""Reconcile: make the records match every Event Hubs namespace, even those whose events were missed.

One pass:
  1. list the namespaces of AZURE_SUBSCRIPTION_IDS (Resource Graph, every page);
  2. one table query for the records (each notes the resource id the listing shows for its namespace); in
     each sandbox in use (the default and those recorded), adopt Adobe's Event Hubs base connections that
     have no record (storage recreated), creating nothing, when their namespace is listed (managed);
  3. a namespace without a record in the default sandbox gets a `reconcile`
     message on the request queue (handled like a namespace-created event: no secret → `pending_secret`),
     or, with `now`, is created at once by a bounded pool;
  4. `ready` records due for verification get a verify message;
  5. records whose namespace was seen in a managed subscription that a complete listing no longer shows
     are reported, and with RECONCILE_DELETE=true torn down as its delete event would (dataflows first),
     at most RECONCILE_MAX_DELETE per pass; records never seen in a managed subscription are `unmanaged`
     and left alone; a failed or partial listing calls nothing gone.
Duplicates (two reconciles at once) are absorbed by the claim protocol.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol

from .adobe import AdobeApi
from .clock import Clock
from .dataflows import DataflowService
from .errors import ConnectorError, SecretNotFound
from .identity import connection_namespace, held_auth_type
from .inventory import Inventory, Listing, Namespace
from .logs import log
from .models import AuthType, ConnectionKey, ConnectionRecord, ConnectionRequest, Source, State
from .records import ConnectionStore, WriteConflict
from .retry import Deadline
from .service import ConnectionService
from .settings import Settings

LISTING_BUDGET_SECONDS: Final = 120.0
SEND_THREADS: Final = 8


class RequestSender(Protocol):
    """The request queue."""

    def send(self, text: str, *, delay: float = 0) -> None: ...


@dataclass
class Report:
    """What one pass saw and did (the summary line and the CLI's table)."""

    seen: int = 0
    queued: int = 0
    created: int = 0
    ready: int = 0
    pending_secret: int = 0
    verifies: int = 0
    gone: list[str] = field(default_factory=list)
    marked_deleted: int = 0
    #: More namespaces were gone than RECONCILE_MAX_DELETE allows: none was marked.
    deletes_refused: bool = False
    adopted: int = 0
    #: Namespaces of records or Adobe connections never seen in a managed subscription: left alone.
    unmanaged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    listing_failures: dict[str, str] = field(default_factory=dict)
    skipped: str | None = None
    interrupted: bool = False
    #: The namespaces behind each count (queued, created, ready, pending_secret, failed_records, creating,
    #: adopted), so every listed namespace is named in exactly one of queued/created/ready/pending_secret/
    #: failed_records/creating, or in `failed` (a create of this pass).
    names: dict[str, list[str]] = field(default_factory=dict)

    def name(self, category: str, namespace: str) -> None:
        self.names.setdefault(category, []).append(namespace)

    def summary(self) -> str:
        if self.skipped:
            return f"reconcile: {self.skipped}"
        return (
            f"reconcile: {self.seen} namespaces seen, {self.queued} queued, {self.created} created, "
            f"{self.ready} already ready, {self.pending_secret} pending secret, {self.verifies} verifies, "
            f"{len(self.gone)} gone ({self.marked_deleted} marked deleted), {self.adopted} adopted, "
            f"{len(self.unmanaged)} unmanaged, {len(self.failed)} failed, "
            f"{len(self.listing_failures)} subscription(s) not listed"
        )


def _category(states: set[State]) -> str:
    """Where a listed namespace with records stands: its best state."""
    for state, category in (
        (State.READY, "ready"),
        (State.CREATING, "creating"),
        (State.PENDING_SECRET, "pending_secret"),
        (State.FAILED, "failed_records"),
    ):
        if state in states:
            return category
    return "deleted"


class Reconciler:
    """One reconcile pass over the inventory, the records and Adobe."""

    def __init__(
        self,
        settings: Settings,
        *,
        inventory: Inventory,
        connections: ConnectionService,
        dataflows: DataflowService,
        records: ConnectionStore,
        adobe: AdobeApi,
        requests: RequestSender,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.inventory = inventory
        self.connections = connections
        self.dataflows = dataflows
        self.records = records
        self.adobe = adobe
        self.requests = requests
        self.clock = clock

    def run(
        self,
        *,
        dry_run: bool = False,
        now: bool = False,
        concurrency: int = 8,
        progress: Callable[[int, int], None] = lambda done, total: None,
        adopt_in: Iterable[str] = (),
        max_delete: int | None = None,
    ) -> Report:
        """One pass; `adopt_in` names more sandboxes to adopt connections from (after storage was lost, no
        record says which other sandboxes are in use); `max_delete` overrides RECONCILE_MAX_DELETE."""
        report = Report()
        if not self.settings.subscription_ids:
            report.skipped = "AZURE_SUBSCRIPTION_IDS is not set: nothing to list"
            log.info(report.summary())
            return report
        listing = self.inventory.list(
            self.settings.subscription_ids, Deadline(self.clock.monotonic, LISTING_BUDGET_SECONDS)
        )
        report.listing_failures = dict(listing.failures)
        for subscription, reason in listing.failures.items():
            log.warning("reconcile: subscription %s not listed: %s", subscription, reason)
        report.seen = len({n.name for n in listing.namespaces})
        listed = {n.name: n for n in listing.namespaces}
        sandbox = self.settings.default_sandbox
        records = {r.key: self._note_seen(r, listed, dry_run) for r in self.records.list()}
        unmanaged: set[str] = set()
        for in_use in sorted({sandbox, *adopt_in} | {key.sandbox for key in records}):
            for adopted in self._adopt(in_use, records, listed, unmanaged, dry_run):
                report.adopted += 1
                report.name("adopted", str(adopted))
        by_namespace: dict[str, list[ConnectionRecord]] = {}
        for record in records.values():
            by_namespace.setdefault(record.key.namespace, []).append(record)
        now_time, grace = self.clock.now(), self.settings.reconcile_gone_grace_seconds
        in_default = {
            key.namespace
            for key, record in records.items()
            if key.sandbox == sandbox
            and (record.state is not State.DELETED or (now_time - record.updated_at).total_seconds() < grace)
        }  # a namespace deleted a while ago and listed again is created again
        missing = sorted(set(listed) - in_default)
        known = sorted(set(listed) & in_default)
        total = len(known) + len(missing)
        for index, namespace in enumerate(known, 1):
            report.name(_category({r.state for r in by_namespace[namespace]}), namespace)
            progress(index, total)
        report.ready = len(report.names.get("ready", []))
        report.pending_secret = len(report.names.get("pending_secret", []))
        step = lambda done, _: progress(len(known) + done, total)  # noqa: E731
        if now:
            self._create_now(missing, sandbox, report, dry_run, concurrency, step)
        else:
            self._queue_creates(missing, sandbox, report, dry_run, step)
        report.verifies = self._verify_due(records.values(), dry_run)
        self._gone(listing, by_namespace, unmanaged, report, dry_run, max_delete)
        report.unmanaged = sorted(unmanaged)
        log.info(report.summary())
        return report

    def _note_seen(self, record: ConnectionRecord, listed: dict[str, Namespace], dry_run: bool) -> ConnectionRecord:
        """The record noting the resource id the listing shows for its namespace (what makes it managed)."""
        namespace = listed.get(record.key.namespace)
        if namespace is None or not namespace.id or record.resource_id == namespace.id or dry_run:
            return record
        stored = self.records.get(record.key)
        if stored is None or self.connections.claims.held(stored):
            return record
        try:
            return self.records.replace(stored.record.seen_at(namespace.id), stored.etag).record
        except (WriteConflict, ConnectorError):
            return record  # noted on the next pass

    def _adopt(
        self,
        sandbox: str,
        records: dict[ConnectionKey, ConnectionRecord],
        listed: dict[str, Namespace],
        unmanaged: set[str],
        dry_run: bool,
    ) -> list[ConnectionKey]:
        """Adobe's Event Hubs base connections without a record get a `ready` record, when their namespace is
        listed in a managed subscription (others are reported `unmanaged`); nothing is created. The keys adopted."""
        adopted: list[ConnectionKey] = []
        try:
            found = self.adobe.list_connections(sandbox, Deadline(self.clock.monotonic, LISTING_BUDGET_SECONDS))
        except ConnectorError as err:
            log.warning("reconcile: could not list Adobe's connections in %s (%s); nothing adopted", sandbox, err.code)
            return []
        for item in sorted(found, key=lambda i: (i.get("createdAt") or 0, str(i.get("id")))):
            record = self._adoptable(sandbox, item)
            if record is None or record.key in records:
                continue
            namespace = listed.get(record.key.namespace)
            if namespace is None:
                unmanaged.add(record.key.namespace)
                continue
            record = record.seen_at(namespace.id or None)
            if not dry_run:
                try:
                    self.records.insert(record)
                except WriteConflict:
                    continue  # recorded meanwhile (a request, or another reconcile)
            records[record.key] = record
            adopted.append(record.key)
            log.info("reconcile: adopted connection %s for %s", record.connection_id, record.key)
        return adopted

    def _adoptable(self, sandbox: str, item: dict[str, Any]) -> ConnectionRecord | None:
        """A record for a listed connection, when its content is an Event Hubs source's (contract "Identity": the
        namespace and event hub it holds, never its name)."""
        held, auth_type = connection_namespace(item), held_auth_type(item)
        if held is None or auth_type is None:
            return None  # not a source's auth (Event Hubs destinations share the spec id), or no namespace
        namespace, hub = held
        now = self.clock.now()
        template = self.settings.sas_secret_name if auth_type is AuthType.SAS else self.settings.aad_secret_name
        return ConnectionRecord(
            key=ConnectionKey(sandbox, namespace, hub),
            state=State.READY,
            auth_type=auth_type,
            name=str(item.get("name")),
            created_at=now,
            updated_at=now,
            connection_id=str(item["id"]),
            etag=item.get("etag") if isinstance(item.get("etag"), str) else None,
            secret_name=template(namespace),
            source_id="reconcile",
            adopted=True,
        )

    def _queue_creates(
        self, missing: list[str], sandbox: str, report: Report, dry_run: bool, progress: Callable[[int, int], None]
    ) -> None:
        """One `reconcile` message per namespace, sent by a few threads (a first pass may have thousands)."""

        def send(namespace: str) -> None:
            if not dry_run:
                self.requests.send(json.dumps({"action": "reconcile", "namespace": namespace, "sandbox": sandbox}))

        with ThreadPoolExecutor(SEND_THREADS) as pool:
            for index, (namespace, _) in enumerate(zip(missing, pool.map(send, missing), strict=True), 1):
                report.queued += 1
                report.name("queued", namespace)
                progress(index, len(missing))

    def _create_now(
        self,
        missing: list[str],
        sandbox: str,
        report: Report,
        dry_run: bool,
        concurrency: int,
        progress: Callable[[int, int], None],
    ) -> None:
        """Create directly with a bounded pool (the CLI's --now); each create honours Adobe's Retry-After."""
        if dry_run:
            report.queued = len(missing)
            report.names["queued"] = list(missing)
            return

        def one(namespace: str) -> tuple[str, ConnectorError | None, State | None]:
            try:
                outcome = self.connections.create_or_get(ConnectionRequest(namespace, sandbox), Source("reconcile"))
            except SecretNotFound as err:
                return namespace, err, State.PENDING_SECRET
            except ConnectorError as err:
                return namespace, err, None
            return namespace, None, outcome.record.state

        pool = ThreadPoolExecutor(max(1, concurrency))
        try:
            futures = [pool.submit(one, namespace) for namespace in missing]
            for index, future in enumerate(as_completed(futures), 1):
                namespace, err, state = future.result()
                if state is State.PENDING_SECRET:
                    report.pending_secret += 1
                    report.name("pending_secret", namespace)
                elif err is not None:
                    report.failed[namespace] = f"{err.code}: {err.message}"
                else:
                    report.created += 1
                    report.name("created", namespace)
                progress(index, len(missing))
        except KeyboardInterrupt:
            # Ctrl-C: nothing new starts; the creates under way finish and release their claims.
            report.interrupted = True
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True)

    def _verify_due(self, records: Iterable[ConnectionRecord], dry_run: bool) -> int:
        due = 0
        horizon = self.settings.verify_after_seconds
        for record in records:
            checked: datetime | None = record.verified_at or record.updated_at
            if record.state is not State.READY or checked is None:
                continue
            if (self.clock.now() - checked).total_seconds() < horizon:
                continue
            body: dict[str, Any] = {
                "action": "verify",
                "namespace": record.key.namespace,
                "sandbox": record.key.sandbox,
            }
            if record.key.event_hub:
                body["eventHubName"] = record.key.event_hub
            if not dry_run:
                self.requests.send(json.dumps(body))
            due += 1
        return due

    def _gone(
        self,
        listing: Listing,
        by_namespace: dict[str, list[ConnectionRecord]],
        unmanaged: set[str],
        report: Report,
        dry_run: bool,
        max_delete: int | None,
    ) -> None:
        """Namespaces seen in a managed subscription that its complete listing no longer shows, past the grace;
        marked gone (as their delete event would) only with RECONCILE_DELETE, and only up to the limit."""
        listed = {n.name for n in listing.namespaces}
        now, grace = self.clock.now(), self.settings.reconcile_gone_grace_seconds
        gone = []
        for namespace, records in by_namespace.items():
            live = [r for r in records if r.state is not State.DELETED]
            if namespace in listed or not live:
                continue
            subscriptions = {r.subscription_id for r in live} - {None}
            managed = {s for s in subscriptions if s in self.settings.subscription_ids}
            if not managed:
                unmanaged.add(namespace)  # never seen where this app manages: not ours to call gone
            elif all(listing.complete_for(s) for s in managed) and all(
                (now - r.created_at).total_seconds() >= grace for r in records
            ):
                gone.append(namespace)
        report.gone = sorted(gone)
        if not report.gone:
            return
        limit = self.settings.reconcile_max_delete if max_delete is None else max_delete
        log.warning(
            "reconcile: %d recorded namespace(s) no longer exist: %s", len(report.gone), ", ".join(report.gone[:20])
        )
        if not self.settings.reconcile_delete or dry_run:
            return
        if len(report.gone) > limit:
            report.deletes_refused = True
            log.error(
                "reconcile: %d namespaces are gone, more than RECONCILE_MAX_DELETE (%d): none marked deleted. Check "
                "AZURE_SUBSCRIPTION_IDS and the listing; `python -m cli reconcile --allow-deletes N` allows more once.",
                len(report.gone),
                limit,
            )
            return
        for namespace in report.gone:
            try:
                gone_now = self.dataflows.namespace_gone(namespace, Source("reconcile"))
            except ConnectorError as err:
                report.failed[namespace] = f"{err.code}: {err.message}"
                continue
            report.marked_deleted += gone_now.connections
