"""Dataflow health: is data arriving? The judgement (pure), and a pass over every `ready` dataflow.

A pass reads, per ready dataflow, the flow (its state) and its runs in the window; per namespace,
the hubs' `IncomingMessages` (one query for all its hubs); and, only when some flow lists no run,
Observability's dataset metric (one query per sandbox). Nothing is read for other records. The
status goes on the record; a change publishes `dataflow-unhealthy` / `dataflow-recovered`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Final, Protocol

from . import telemetry
from .adobe.runs import FlowRun
from .clock import Clock
from .dataflow_records import DataflowRecord
from .errors import ConnectorError
from .health_status import Health, HealthStatus, RecordCounts
from .hubmetrics import HubTraffic
from .logs import log
from .models import ConnectionKey, ConnectionRecord, State
from .notifications import EventPublisher
from .records import RecordStore, WriteConflict
from .retry import Deadline
from .sensitive import scrub
from .settings import HealthSettings, Settings

UNHEALTHY: Final = "dataflow-unhealthy"
RECOVERED: Final = "dataflow-recovered"
#: Adobe and Azure Monitor reads in flight at once during a pass.
CONCURRENCY: Final = 8


# -- the judgement ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signals:
    """What was read for one dataflow; an `*_error` says why a signal could not be read."""

    flow_state: str | None = None
    flow_error: str | None = None
    runs: tuple[FlowRun, ...] | None = None
    runs_error: str | None = None
    dataset_records: int | None = None
    dataset_error: str | None = None
    hub_messages: int | None = None
    hub_error: str | None = None


@dataclass(frozen=True)
class Verdict:
    """A status, the counts it was judged on and why."""

    status: HealthStatus
    records: RecordCounts
    hub_messages: int | None
    message: str


def judge(signals: Signals, max_failed_ratio: float) -> Verdict:
    """The contract's status: `disabled`, `failing`, `stalled`, `healthy` in that order; `unknown`
    when a signal the judgement needs could not be read (with the reason)."""
    hub = signals.hub_messages

    def verdict(status: HealthStatus, message: str, records: RecordCounts | None = None) -> Verdict:
        return Verdict(status, records or RecordCounts(), hub, message)

    if signals.flow_error is not None or signals.flow_state is None:
        return verdict(HealthStatus.UNKNOWN, f"the flow could not be read: {signals.flow_error or 'not in Adobe'}")
    if signals.flow_state == "disabled":
        return verdict(HealthStatus.DISABLED, "Adobe disabled the flow (it stopped reading the event hub)")
    if signals.runs is None:
        return verdict(HealthStatus.UNKNOWN, f"the flow's runs could not be read: {signals.runs_error or 'no answer'}")
    runs = signals.runs
    counts = (
        RecordCounts(sum(r.records_in for r in runs), sum(r.records_out for r in runs), sum(r.failed for r in runs))
        if runs
        else RecordCounts()
    )
    failed_runs = [r for r in runs if r.failed_run]
    if failed_runs:
        codes = sorted({code for r in failed_runs for code in r.errors if code})
        detail = f" ({', '.join(codes[:3])})" if codes else ""
        return verdict(HealthStatus.FAILING, f"{len(failed_runs)} of {len(runs)} runs failed{detail}", counts)
    records_in, failed = counts.records_in or 0, counts.failed or 0
    if failed and (records_in == 0 or failed / records_in > max_failed_ratio):
        return verdict(HealthStatus.FAILING, f"{failed} of {records_in} records failed", counts)
    adobe = counts.records_in if runs else signals.dataset_records
    if adobe:
        source = "runs" if runs else "the dataset metric"
        return verdict(HealthStatus.HEALTHY, f"{adobe} records reached Adobe ({source})", counts)
    if hub is None:
        return verdict(HealthStatus.UNKNOWN, f"the hub's traffic could not be read: {signals.hub_error}", counts)
    if hub == 0:
        return verdict(HealthStatus.HEALTHY, "no traffic in the event hub and nothing failed", counts)
    if adobe is None:
        reason = signals.dataset_error or "no answer"
        return verdict(HealthStatus.UNKNOWN, f"Adobe's count could not be read: {reason}", counts)
    return verdict(HealthStatus.STALLED, f"{hub} messages reached the event hub but Adobe counted none", counts)


def next_health(
    previous: Health | None, verdict: Verdict, *, now: datetime, window: tuple[datetime, datetime]
) -> tuple[Health, str | None]:
    """The new health and the event its change publishes (None: nothing to publish). `unknown` is
    neither healthy nor unhealthy: it never publishes and is never compared with."""
    status = verdict.status
    since = previous.since if previous is not None and previous.status == status else now
    alerted = previous.alerted if previous is not None else None
    event: str | None = None
    if status is not HealthStatus.UNKNOWN:
        if alerted != status and status.unhealthy:
            event = UNHEALTHY
        elif alerted is not None and alerted.unhealthy and not status.unhealthy:
            event = RECOVERED
        alerted = status
    health = Health(
        status=status,
        checked_at=now,
        since=since,
        window_from=window[0],
        window_to=window[1],
        records=verdict.records,
        hub_messages=verdict.hub_messages,
        message=scrub(verdict.message)[:500],
        alerted=alerted,
        reenabled_at=previous.reenabled_at if previous is not None else None,
        event_ids=previous.event_ids if previous is not None else (),
    )
    return health, event


# -- the pass --------------------------------------------------------------------------------------


class FlowReads(Protocol):
    """The Adobe reads of a health check (shared/adobe/runs.py)."""

    def flow_state(self, sandbox: str, flow_id: str, deadline: Deadline) -> str | None: ...

    def runs(self, sandbox: str, flow_id: str, since: datetime, deadline: Deadline) -> list[FlowRun]: ...

    def dataset_records(
        self, sandbox: str, dataset_ids: Iterable[str], start: datetime, end: datetime, deadline: Deadline
    ) -> dict[str, int]: ...

    def enable(self, sandbox: str, flow_id: str, deadline: Deadline) -> None: ...


@dataclass
class HealthReport:
    """What a pass did: statuses by dataflow, and the events it published."""

    statuses: dict[ConnectionKey, HealthStatus] = field(default_factory=dict)
    published: list[tuple[str, ConnectionKey]] = field(default_factory=list)
    reenabled: list[ConnectionKey] = field(default_factory=list)

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for status in self.statuses.values():
            counts[status.value] = counts.get(status.value, 0) + 1
        parts = [f"{n} {s}" for s, n in sorted(counts.items())] or ["no ready dataflow"]
        return f"checked {len(self.statuses)} ({', '.join(parts)}); {len(self.published)} alert(s)"


@dataclass(frozen=True)
class _Outcome:
    """What settling one dataflow did."""

    status: HealthStatus
    event: str | None
    reenabled: bool


#: A namespace's messages per hub, or None and why they could not be read.
_Traffic = tuple[dict[str, int] | None, str | None]


class HealthChecker:
    """Checks the health of ready dataflows (a pass, or one flow an I/O Events delivery names)."""

    def __init__(
        self,
        settings: Settings,
        *,
        dataflows: RecordStore[DataflowRecord],
        connections: RecordStore[ConnectionRecord],
        adobe: FlowReads,
        hubs: HubTraffic,
        events: EventPublisher,
        clock: Clock,
        connection_verifies: Callable[[DataflowRecord, Deadline], bool],
        concurrency: int = CONCURRENCY,
    ) -> None:
        self._settings = settings
        self._health: HealthSettings = settings.health
        self._dataflows = dataflows
        self._connections = connections
        self._adobe = adobe
        self._hubs = hubs
        self._events = events
        self._clock = clock
        self._connection_verifies = connection_verifies
        self._concurrency = max(1, concurrency)

    def _deadline(self) -> Deadline:
        return Deadline(self._clock.monotonic, self._settings.retry_budget_seconds)

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        return now - timedelta(minutes=self._health.window_minutes), now

    def run(self) -> HealthReport:
        """One pass over every ready dataflow."""
        ready = [r for r in self._dataflows.list() if r.state is State.READY and r.flow_id]
        return self.check(ready)

    def apply_run_event(self, flow_id: str, run: FlowRun, event_id: str) -> str:
        """An I/O Events delivery about a run: the flow's dataflow is checked at once with that run.
        Answers `applied`, `duplicate` (this event was applied before) or `unknown-flow`."""
        found = [r for r in self._dataflows.list() if r.flow_id == flow_id and r.state is State.READY]
        if not found:
            return "unknown-flow"
        if all(r.health is not None and event_id in r.health.event_ids for r in found):
            return "duplicate"
        self.check(found, extra_runs={flow_id: run}, event_id=event_id)
        return "applied"

    def check(
        self,
        records: list[DataflowRecord],
        extra_runs: dict[str, FlowRun] | None = None,
        event_id: str | None = None,
    ) -> HealthReport:
        """Read the signals of these dataflows, judge each, store and announce what changed.

        One pool does it all, namespace by namespace: the namespace's metrics query is queued before its
        dataflows, so a dataflow's task finds it in flight or done; each dataflow is judged and written as soon
        as its reads are in, so the table writes overlap other dataflows' Adobe calls. A dataflow whose flow
        lists no run waits for the one Observability query of the pass, made once every read is in."""
        now = self._clock.now()
        window = self.window(now)
        ordered = sorted(records, key=lambda r: r.key.namespace)
        outcomes: dict[ConnectionKey, _Outcome] = {}
        quiet: list[tuple[DataflowRecord, Signals]] = []
        with ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="health") as pool:
            traffic: dict[str, Future[_Traffic]] = {}
            tasks: list[tuple[DataflowRecord, Future[Signals | _Outcome | None]]] = []
            for record in ordered:
                namespace = record.key.namespace
                if namespace not in traffic:
                    traffic[namespace] = pool.submit(self._read_hubs, namespace, window)
                task = pool.submit(
                    self._check_one, record, traffic[namespace], window, now, (extra_runs or {}), event_id
                )
                tasks.append((record, task))
            for record, task in tasks:
                result = task.result()
                if isinstance(result, Signals):
                    quiet.append((record, result))
                elif result is not None:
                    outcomes[record.key] = result
            if quiet:
                counted = self._with_dataset_counts(quiet, window)
                ratio = self._health.max_failed_ratio
                settled = pool.map(lambda q: self._settle(q[0].key, judge(q[1], ratio), now, window, event_id), counted)
                for (record, _), outcome in zip(counted, settled, strict=True):
                    if outcome is not None:
                        outcomes[record.key] = outcome
        report = HealthReport()
        for record in records:  # in the caller's order, whatever order the pool finished in
            outcome = outcomes.get(record.key)
            if outcome is None:
                continue  # deleted or being changed meanwhile: the next pass sees it
            report.statuses[record.key] = outcome.status
            if outcome.reenabled:
                report.reenabled.append(record.key)
            if outcome.event is not None:
                report.published.append((outcome.event, record.key))
        return report

    def _check_one(
        self,
        record: DataflowRecord,
        traffic: Future[_Traffic],
        window: tuple[datetime, datetime],
        now: datetime,
        extra_runs: dict[str, FlowRun],
        event_id: str | None,
    ) -> Signals | _Outcome | None:
        """One dataflow's reads, judgement and write; its signals instead when it needs the dataset metric."""
        read = self._read_flow(record, window[0])
        extra = extra_runs.get(record.flow_id or "")
        if extra is not None and read.runs is not None and extra.id not in {r.id for r in read.runs}:
            read = replace(read, runs=(*read.runs, extra))  # a run Adobe delivered before it lists it
        messages, why = traffic.result()
        hub = None if messages is None else messages.get(record.key.event_hub or "", 0)
        signals = replace(read, hub_messages=hub, hub_error=why)
        if signals.runs == () and signals.flow_state == "enabled":
            return signals
        verdict = judge(signals, self._health.max_failed_ratio)
        return self._settle(record.key, verdict, now, window, event_id)

    # -- reads -------------------------------------------------------------------------------------

    def _read_flow(self, record: DataflowRecord, since: datetime) -> Signals:
        assert record.flow_id is not None
        sandbox, deadline = record.key.sandbox, self._deadline()
        try:
            state = self._adobe.flow_state(sandbox, record.flow_id, deadline)
        except ConnectorError as err:
            return Signals(flow_error=err.message)
        if state is None:
            return Signals(flow_error="Adobe has no such flow (a verify of the dataflow creates it again)")
        if state == "disabled":
            return Signals(flow_state=state, runs=())
        try:
            runs = self._adobe.runs(sandbox, record.flow_id, since, deadline)
        except ConnectorError as err:
            return Signals(flow_state=state, runs_error=err.message)
        return Signals(flow_state=state, runs=tuple(runs))

    def _read_hubs(self, namespace: str, window: tuple[datetime, datetime]) -> _Traffic:
        """The namespace's hubs' messages (one query, whatever the sandboxes of its dataflows)."""
        resource_id = next((r.resource_id for r in self._connections.list(namespace=namespace) if r.resource_id), None)
        if resource_id is None:
            return None, "the namespace's resource id is not known yet (reconcile or its Event Grid event notes it)"
        end = window[1] - timedelta(minutes=self._health.lag_minutes)
        try:
            return self._hubs.incoming_messages(resource_id, window[0], end, self._deadline()), None
        except ConnectorError as err:
            return None, err.message

    def _with_dataset_counts(
        self, quiet: list[tuple[DataflowRecord, Signals]], window: tuple[datetime, datetime]
    ) -> list[tuple[DataflowRecord, Signals]]:
        """Observability's count added to the signals of dataflows whose flow lists no run (one query per sandbox)."""
        counted: list[tuple[DataflowRecord, Signals]] = []
        for sandbox in sorted({r.key.sandbox for r, _ in quiet}):
            mine = [(r, signals) for r, signals in quiet if r.key.sandbox == sandbox]
            try:
                counts = self._adobe.dataset_records(
                    sandbox, {r.dataset_id for r, _ in mine}, window[0], window[1], self._deadline()
                )
            except ConnectorError as err:
                counted += [(r, replace(signals, dataset_error=err.message)) for r, signals in mine]
                continue
            counted += [(r, replace(signals, dataset_records=counts.get(r.dataset_id, 0))) for r, signals in mine]
        return counted

    # -- store, announce, repair -------------------------------------------------------------------

    def _settle(
        self,
        key: ConnectionKey,
        verdict: Verdict,
        now: datetime,
        window: tuple[datetime, datetime],
        event_id: str | None = None,
    ) -> _Outcome | None:
        """Store the new health (If-Match, read again on a conflict) and announce a change; None when the record
        is gone or no longer ready, or this delivery was applied meanwhile."""
        for _ in range(3):
            stored = self._dataflows.get(key)
            if stored is None or stored.record.state is not State.READY:
                return None  # deleted or being changed meanwhile: the next pass sees it
            previous = stored.record.health
            if event_id is not None and previous is not None and event_id in previous.event_ids:
                return None  # the same delivery, applied by another invocation meanwhile
            health, event = next_health(previous, verdict, now=now, window=window)
            if event_id is not None:
                health = health.with_event(event_id)
            health = self._repair(stored.record, health, window)
            try:
                written = self._dataflows.replace(replace(stored.record, health=health), stored.etag)
            except WriteConflict:
                continue
            if event is not None:
                self._announce(event, written.record)
            return _Outcome(health.status, event, health.reenabled_at == now)
        return None

    def _repair(self, record: DataflowRecord, health: Health, window: tuple[datetime, datetime]) -> Health:
        """HEALTH_REENABLE: enable a disabled flow whose base connection verifies, once per window."""
        if not self._health.reenable or health.status is not HealthStatus.DISABLED or record.flow_id is None:
            return health
        if health.reenabled_at is not None and health.reenabled_at > window[0]:
            return health
        deadline = self._deadline()
        try:
            if not self._connection_verifies(record, deadline):
                return replace(
                    health, message=health.message + "; not enabled again: its base connection does not verify"
                )
            self._adobe.enable(record.key.sandbox, record.flow_id, deadline)
        except ConnectorError as err:
            return replace(health, message=scrub(f"{health.message}; enabling it again failed: {err.message}")[:500])
        return replace(
            health, reenabled_at=health.checked_at, message=health.message + "; enabled again (HEALTH_REENABLE)"
        )

    def _announce(self, event: str, record: DataflowRecord) -> None:
        assert record.health is not None
        status = record.health.status
        self._events.publish(event, record)
        telemetry.count(
            "connector.dataflows.health_changes", {"sandbox": record.key.sandbox, "health.status": status.value}
        )
        level = logging.WARNING if event == UNHEALTHY else logging.INFO
        fields = {
            "health_status": status.value,
            "health_event": event,
            "namespace": record.key.namespace,
            "sandbox": record.key.sandbox,
            "event_hub": record.key.event_hub or "",
            "flow_id": record.flow_id or "",
        }
        log.log(
            level,
            "dataflow health: %s namespace=%s event_hub=%s sandbox=%s health_status=%s (%s)",
            "unhealthy" if event == UNHEALTHY else "recovered",
            record.key.namespace,
            record.key.event_hub,
            record.key.sandbox,
            status.value,
            record.health.message,
            extra=fields,
        )
