"""Dataflows: an event hub into a Platform dataset (source connection, target connection, flow), each
created exactly once through the protocol of `claims.py`, and torn down in order.

A create:
  1. read the record: `ready` answers at once;
  2. the base connection (created first when missing; the namespace's scoped one when its secret is
     scoped to this hub), the event hub in its explore listing, the dataset in Catalog, the
     consumer group not used by another of the app's flows on that hub;
  3. claim, then source → target → flow, each under its deterministic name and recorded as soon
     as it exists (a retry goes on where a failure stopped: no orphans, no duplicates);
  4. complete; after an uncertain outcome, a delayed verify.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any

from .adobe import EVENT_HUBS_SPEC_ID, AdobeApi, AdobeConnection, Dataset
from .claims import Claim, VerifyQueue, converge, create_once, remove_all
from .clock import Clock
from .dataflow_records import DataflowOutcome, DataflowRecord, DataflowRequest, Step, object_name
from .errors import (
    ConnectorError,
    ConsumerGroupInUse,
    DataflowNotFound,
    DatasetNotFound,
    DependencyUnavailable,
    EventHubNotFound,
    SecretNotFound,
    SecretProblem,
)
from .exactly_once import DATAFLOW, ExactlyOnce, Redo
from .identity import DATA_LAKE_SPEC_ID, FLOW_SPEC_ID
from .logs import log
from .models import ConnectionKey, ConnectionRecord, ConnectionRequest, LastError, Source, State
from .notifications import EventPublisher
from .overlap import beside
from .records import RecordStore
from .retry import Deadline
from .service import ConnectionService
from .settings import Settings

DataflowStore = RecordStore[DataflowRecord]


@dataclass(frozen=True)
class Gone:
    """What marking a namespace gone changed: connection records and dataflows."""

    connections: int
    dataflows: int


class DataflowService:
    """Creates, returns, verifies and tears down the dataflows of event hubs."""

    def __init__(
        self,
        settings: Settings,
        *,
        connections: ConnectionService,
        adobe: AdobeApi,
        records: DataflowStore,
        events: EventPublisher,
        verifies: VerifyQueue,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.connections = connections
        self.adobe = adobe
        self.records = records
        self.events = events
        self.verifies = verifies
        self.clock = clock
        self.engine: ExactlyOnce[DataflowRecord] = ExactlyOnce.build(
            DATAFLOW, records, settings, events=events, verifies=verifies, clock=clock
        )
        self.claims = self.engine.claims

    def get(self, key: ConnectionKey) -> DataflowRecord:
        stored = self.records.get(key)
        if stored is None:
            raise DataflowNotFound(
                f"No dataflow is recorded for event hub '{key.event_hub}' of namespace '{key.namespace}' in sandbox "
                f"'{key.sandbox}'."
            )
        return stored.record

    def _deadline(self) -> Deadline:
        return Deadline(self.clock.monotonic, self.settings.retry_budget_seconds)

    # -- create ----------------------------------------------------------------------------------

    def create_or_get(self, request: DataflowRequest, source: Source, *, rounds: int = 3) -> DataflowOutcome:
        """Return the existing dataflow, or create its three Adobe objects exactly once."""
        stored = self.records.get(request.key)
        answer = self.engine.answer(stored, source)
        if answer is not None:
            return DataflowOutcome(answer, created=False)
        deadline = self._deadline()
        dataset_read = beside(lambda: self.adobe.read_dataset(request.sandbox, request.dataset_id, deadline))
        try:
            connection = self._base_connection(request, source)
            dataset = self._check(request, connection, source, dataset_read.result())
        except ConnectorError as err:
            if err.permanent:
                fresh = self._new_record(request, self.clock.now(), source)
                self.engine.record_failure(request.key, stored, err, source, fresh=lambda: fresh)
            raise
        claim = self.engine.claim(
            request.key,
            stored,
            source,
            new_record=lambda now: _with_connection(self._new_record(request, now, source), connection),
            takeover=lambda current: _with_connection(self._takeover(current, request, source), connection),
        )
        if not isinstance(claim, Claim):
            settled = self.engine.settle(request.key, claim, source, rounds=rounds)
            if settled is not None:
                return DataflowOutcome(settled, created=False)
            return self.create_or_get(request, source, rounds=rounds - 1)  # a teardown took it: from scratch
        claim, flow_id, uncertain, created = self._create_objects(claim, connection, dataset, source)
        completed = claim.record.with_object(Step.FLOW, flow_id).completed(now=self.clock.now())
        record = self.engine.complete(claim, completed, uncertain=uncertain, created=created)
        verb = "created" if created else "adopted"
        log.info("dataflow %s %s: flow %s (%s)", record.key, verb, record.flow_id, source.describe())
        return DataflowOutcome(record, created=created)

    def _base_connection(self, request: DataflowRequest, source: Source) -> ConnectionRecord:
        """The namespace's connection (scoped to this hub when its secret is), created when missing."""
        outcome = self.connections.create_or_get(
            ConnectionRequest(request.namespace, request.sandbox), Source(source.kind, source.id)
        )
        record = outcome.record
        if record.key.event_hub not in (None, request.event_hub):
            raise SecretProblem(
                f"The namespace's secret is scoped to event hub '{record.key.event_hub}' (EntityPath), not "
                f"'{request.event_hub}'.",
                secret_name=self.settings.sas_secret_name(request.namespace),
            )
        if record.state is not State.READY or record.connection_id is None:
            raise SecretNotFound(
                f"The connection of namespace '{request.namespace}' is {record.state.value}; the dataflow follows "
                "once it exists.",
                secret_name=self.settings.sas_secret_name(request.namespace),
            )
        return record

    def _check(
        self, request: DataflowRequest, connection: ConnectionRecord, source: Source, dataset: Dataset | None
    ) -> Dataset:
        """What Adobe can check cheaply, before anything is created (the dataset was read beside the base
        connection)."""
        if connection.event_hubs is not None and request.event_hub not in connection.event_hubs:
            self._check_listed(request, self.connections.explore_again(connection, self._deadline()), source)
        if dataset is None:
            raise DatasetNotFound(f"Dataset '{request.dataset_id}' does not exist in sandbox '{request.sandbox}'.")
        if dataset.schema_id is None or dataset.schema_version is None:
            raise DatasetNotFound(f"Dataset '{request.dataset_id}' has no XDM schema to write with.")
        for other in self.records.list(namespace=request.namespace):
            if (
                other.key != request.key
                and other.key.event_hub == request.event_hub
                and other.consumer_group == request.consumer_group
                and other.state is not State.DELETED
            ):
                raise ConsumerGroupInUse(
                    f"Consumer group '{request.consumer_group}' of event hub '{request.event_hub}' already serves the "
                    f"dataflow in sandbox '{other.key.sandbox}'; a consumer group serves one flow at a time: name "
                    "another consumerGroup."
                )
        return dataset

    def _check_listed(self, request: DataflowRequest, listed: tuple[str, ...] | None, source: Source) -> None:
        """The stored listing is a cache: only a fresh listing without the hub refuses it, and not while the hub's
        event is younger than HUB_VISIBLE_AFTER_SECONDS (Adobe may list a new hub later than Azure announces it)."""
        if listed is None or request.event_hub in listed:
            return
        hubs = f"({', '.join(listed) or 'none'})"
        age = (self.clock.now() - source.event_time).total_seconds() if source.event_time else None
        visible_after = self.settings.hub_visible_after_seconds
        if age is not None and age < visible_after:
            raise DependencyUnavailable(
                f"Adobe does not list event hub '{request.event_hub}' of namespace '{request.namespace}' yet {hubs}; "
                f"its event is {age:.0f} s old and a new hub may take up to {visible_after:g} s to be listed: "
                "retried later.",
                dependency="Adobe Flow Service",
                retry_after=max(1, min(60, int(visible_after - age) + 1)),
            )
        hint = (
            ""
            if age is not None
            else f" A hub created in the last {visible_after:g} s may not be listed yet: ask again in a few minutes."
        )
        raise EventHubNotFound(
            f"Event hub '{request.event_hub}' is not among the event hubs Adobe lists for namespace "
            f"'{request.namespace}' {hubs}.{hint}"
        )

    def _new_record(self, request: DataflowRequest, now: datetime, source: Source) -> DataflowRecord:
        return DataflowRecord(
            key=request.key,
            state=State.CREATING,
            name=request.name or object_name(request.key, Step.FLOW),
            created_at=now,
            updated_at=now,
            dataset_id=request.dataset_id,
            data_type=request.data_type,
            consumer_group=request.consumer_group,
            reset=request.reset,
            mapping_id=request.mapping_id,
        ).saw_event(source.event_time)

    @staticmethod
    def _takeover(current: DataflowRecord, request: DataflowRequest, source: Source) -> DataflowRecord:
        may_exist = current.may_exist or current.state is State.CREATING
        if current.state is State.DELETED:  # created again: the objects are found by name, or made anew
            # Marked deleted but left in Adobe (a namespace deleted without DELETE_CONNECTION_ON_NAMESPACE_DELETE):
            # the old objects are looked up, not made a second time.
            may_exist = may_exist or (not current.adobe_deleted and any(current.object_id(step) for step in Step))
            for step in Step:
                current = current.with_object(step, None)
        return replace(current, may_exist=may_exist, adobe_deleted=False).saw_event(source.event_time)

    def _create_objects(
        self, claim: Claim[DataflowRecord], connection: ConnectionRecord, dataset: Dataset, source: Source
    ) -> tuple[Claim[DataflowRecord], str, bool, bool]:
        """Source, target, flow: each made once; the source and target are recorded at once (the claim is
        kept), the flow's id goes into the completed record. A failure is recorded with what was made, so
        the retry goes on from there. On an adopted connection (storage was lost) each is looked up first.
        (claim, flow id, whether a verify must follow, whether to answer 201)."""
        uncertain, created, deadline = False, False, self._deadline()
        flow_id = claim.record.flow_id
        try:
            # The source and the target do not depend on each other: made side by side, each recorded as
            # soon as it exists (a failure of one leaves the other recorded, so the retry goes on from there).
            missing = [step for step in (Step.SOURCE, Step.TARGET) if claim.record.object_id(step) is None]
            held = claim.record
            made = {step: beside(partial(self._make, held, step, connection, dataset, deadline)) for step in missing}
            failure: ConnectorError | None = None
            for step in missing:
                try:
                    made_now = made[step].result()
                except ConnectorError as err:
                    failure = failure or err
                    continue
                uncertain = uncertain or made_now.uncertain
                claim = self.claims.save(claim, claim.record.with_object(step, made_now.id))
            if failure is not None:
                failure.outcome_unknown = failure.outcome_unknown or uncertain
                raise failure
            if flow_id is None:
                flow = self._make(claim.record, Step.FLOW, connection, dataset, deadline)
                uncertain = uncertain or flow.uncertain
                # Found before any POST: made earlier (answered then, or never), so 200 now.
                flow_id, created = flow.id, flow.created or not self._look_first(claim.record, connection)
        except ConnectorError as err:
            self.engine.release_failed(claim, err, source)
            raise
        assert flow_id is not None
        return claim, flow_id, uncertain, created

    @staticmethod
    def _look_first(record: DataflowRecord, connection: ConnectionRecord) -> bool:
        """Look each object up before any create: an uncertain create earlier, or an adopted base connection
        (storage was lost: the objects may exist without a record)."""
        return record.may_exist or connection.adopted

    def _make(
        self, record: DataflowRecord, step: Step, connection: ConnectionRecord, dataset: Dataset, deadline: Deadline
    ) -> AdobeConnection:
        """One of the dataflow's objects, made once (after an uncertain outcome, looked up by content first)."""
        identity = record.identity(step)
        assert identity is not None  # made in order: what it is made on is recorded
        return create_once(
            self.adobe,
            record.key.sandbox,
            identity,
            _body(step, record, connection, dataset),
            keep=None,
            look_up_first=self._look_first(record, connection),
            deadline=deadline,
        )

    # -- verify and teardown -------------------------------------------------------------------------

    def verify(self, key: ConnectionKey, source: Source) -> DataflowRecord | None:
        """Keep exactly one of each of the dataflow's objects: the recorded one, else the oldest (recorded)."""
        deadline = self._deadline()

        def converge_all(claim: Claim[DataflowRecord]) -> DataflowRecord | Redo[DataflowRecord]:
            previous = claim.previous
            assert previous is not None
            record = claim.record
            for step in Step:
                identity = claim.record.identity(step)  # as recorded: a flow on a source gone since is found too
                kept = (
                    converge(self.adobe, key.sandbox, identity, keep=record.object_id(step), deadline=deadline)
                    if identity is not None
                    else None
                )
                record = record.with_object(step, kept.id if kept else None)
            if previous.state is State.READY:
                record = self._without_stale_flow(record, deadline)
            if all(record.object_id(step) for step in Step):
                return self.claims.complete(claim, record.completed(now=self.clock.now()))
            if previous.state is State.READY:
                return Redo(self._incomplete(record, source))
            # Not all three exist: the record keeps what was found and its state; the next create makes the rest.
            unfinished = replace(record, state=previous.state, last_error=previous.last_error, may_exist=False)
            return self.claims.complete(claim, unfinished.unleased())

        return self.engine.verify(
            key,
            source,
            converge=converge_all,
            recreate=lambda record: self.create_or_get(record.request(), source).record,
            remove=self._remove_all,
        )

    def _without_stale_flow(self, record: DataflowRecord, deadline: Deadline) -> DataflowRecord:
        """A flow whose source or target is gone moves no data: it is deleted, to be made again with them."""
        if record.flow_id is None or (record.source_connection_id and record.target_connection_id):
            return record
        self.adobe.delete(record.key.sandbox, Step.FLOW.value, record.flow_id, deadline)
        return record.with_object(Step.FLOW, None)

    def _incomplete(self, record: DataflowRecord, source: Source) -> DataflowRecord:
        """A ready dataflow with objects deleted in Adobe by hand: recorded as failed, to be created again (the
        missing objects only), as a connection's verify does."""
        gone = ", ".join(step.suffix for step in Step if record.object_id(step) is None)
        message = f"Adobe no longer had the dataflow's {gone} (deleted by hand?); the verify created it again."
        log.warning("verify of dataflow %s: %s", record.key, message)
        error = LastError("DataflowIncomplete", message, self.clock.now())
        return record.failed(error, may_exist=False, source_id=source.id)

    def tear_down(self, key: ConnectionKey, source: Source, *, in_adobe: bool = True) -> bool:
        """The event hub is gone: delete the flow, then its source and target connections; mark it `deleted`.

        With `in_adobe=False` (a namespace deleted without DELETE_CONNECTION_ON_NAMESPACE_DELETE) the
        record is only marked."""
        return self.engine.delete(key, source, in_adobe=in_adobe, adobe_left=_adobe_left, remove=self._remove_all)

    def _remove_all(self, record: DataflowRecord) -> int:
        """Flow, then source and target: each recorded one and any an uncertain create left."""
        return sum(self._remove(record, step) for step in (Step.FLOW, Step.SOURCE, Step.TARGET))

    def _remove(self, record: DataflowRecord, step: Step) -> int:
        """The recorded object of `step` and any with its content and stored name (an uncertain create's)."""
        identity, recorded = record.identity(step), record.object_id(step)
        if identity is None:
            return int(
                recorded is not None and self.adobe.delete(record.key.sandbox, step.value, recorded, self._deadline())
            )
        return remove_all(self.adobe, record.key.sandbox, identity, recorded=recorded, deadline=self._deadline())

    def namespace_gone(self, namespace: str, source: Source) -> Gone:
        """A namespace that no longer exists (its delete event, a reconcile that lists it no more): its dataflows
        are torn down first (Adobe refuses to delete a connection that flows use, 1418-400), then its connections
        marked deleted; in Adobe too with DELETE_CONNECTION_ON_NAMESPACE_DELETE."""
        flows = self.tear_down_namespace(
            namespace, source, in_adobe=self.settings.delete_connection_on_namespace_delete
        )
        return Gone(self.connections.mark_namespace_deleted(namespace, source), flows)

    def tear_down_namespace(self, namespace: str, source: Source, *, in_adobe: bool) -> int:
        """Every dataflow of a deleted namespace, before its base connection (Adobe's 1418-400 otherwise)."""
        records = list(self.records.list(namespace=namespace))
        return sum(1 for record in records if self.tear_down(record.key, source, in_adobe=in_adobe))

    def tear_down_event_hub(self, namespace: str, event_hub: str, source: Source) -> int:
        """The dataflows of a deleted event hub, in every sandbox (the event carries none)."""
        records = [r for r in self.records.list(namespace=namespace) if r.key.event_hub == event_hub]
        if not records and source.event_time is not None and self._tombstone(namespace, event_hub, source):
            return 0
        records = records or [r for r in self.records.list(namespace=namespace) if r.key.event_hub == event_hub]
        return sum(1 for record in records if self.tear_down(record.key, source))

    def _tombstone(self, namespace: str, event_hub: str, source: Source) -> bool:
        """A hub deleted before its dataflow was recorded: a `deleted` record holding the event's time, so the
        older `eventhubs/write` delivered later creates nothing (the engine's tombstone)."""
        defaults = self.settings.dataflow_defaults
        request = DataflowRequest(namespace, defaults.sandbox, event_hub, defaults.dataset_id or "")
        return self.engine.tombstone(self._new_record(request, self.clock.now(), source), source)

    def resume_pending(self, namespace: str, source: Source) -> int:
        """Dataflows that waited for their namespace's connection (its secret came later)."""
        resumed = 0
        for record in list(self.records.list(namespace=namespace)):
            if record.state is State.PENDING_SECRET or (
                record.state is State.FAILED
                and record.last_error is not None
                and record.last_error.code == "SecretNotFound"
            ):
                resumed += int(self.create_or_get(record.request(), source).created)
        return resumed


def _body(step: Step, record: DataflowRecord, connection: ConnectionRecord, dataset: Dataset) -> dict[str, Any]:
    """The create body of one of the dataflow's objects, as Adobe's tutorials document it."""
    name, description = record.object_name(step), f"Created by the Event Hubs connector for {record.key}"
    if step is Step.SOURCE:
        return {
            "name": name,
            "description": description,
            "baseConnectionId": connection.connection_id,
            "connectionSpec": {"id": EVENT_HUBS_SPEC_ID, "version": "1.0"},
            "data": {"format": "json"},
            "params": {
                "eventHubName": record.key.event_hub,
                "dataType": record.data_type,
                "reset": record.reset,
                "consumerGroup": record.consumer_group,
            },
        }
    if step is Step.TARGET:
        return {
            "name": name,
            "description": description,
            "data": {"format": "parquet_xdm", "schema": {"id": dataset.schema_id, "version": dataset.schema_version}},
            "params": {"dataSetId": record.dataset_id},
            "connectionSpec": {"id": DATA_LAKE_SPEC_ID, "version": "1.0"},
        }
    body: dict[str, Any] = {
        "name": name,
        "description": description,
        "flowSpec": {"id": FLOW_SPEC_ID, "version": "1.0"},
        "sourceConnectionIds": [record.source_connection_id],
        "targetConnectionIds": [record.target_connection_id],
    }
    if record.mapping_id is not None:
        body["transformations"] = [{"name": "Mapping", "params": {"mappingId": record.mapping_id, "mappingVersion": 0}}]
    return body


def _adobe_left(record: DataflowRecord) -> bool:
    """Adobe may still hold objects of the dataflow (recorded ones, or an uncertain create's)."""
    return not record.adobe_deleted and (record.may_exist or any(record.object_id(step) for step in Step))


def _with_connection(record: DataflowRecord, connection: ConnectionRecord) -> DataflowRecord:
    return replace(record, connection_id=connection.connection_id)
