"""Dataflow health over fakes: the judgement (every status), the transitions (what publishes), and
what one pass costs (N flow reads, N runs listings, one metrics query per namespace, one
Observability query when some flow lists no run, nothing for records that are not ready)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adobe.runs import FlowRun
from shared.dataflow_records import DataflowRecord
from shared.errors import DependencyUnavailable
from shared.health import RECOVERED, UNHEALTHY, HealthChecker, Signals, Verdict, judge, next_health
from shared.health_status import Health, HealthStatus, RecordCounts
from shared.models import AuthType, ConnectionKey, ConnectionRecord, State
from shared.retry import Deadline
from tests.unit.fakes import FakeRecords, FakeTime
from tests.unit.test_protocol import settings

RATIO = 0.005
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
WINDOW = (NOW - timedelta(hours=3), NOW)


def run(status: str = "success", records_in: int = 100, failed: int = 0, run_id: str = "r1") -> FlowRun:
    return FlowRun(run_id, status, records_in, records_in - failed, failed, 0, ("CONNECTOR-2001",) if failed else ())


ENABLED = {"flow_state": "enabled"}


@pytest.mark.parametrize(
    ("signals", "status"),
    [
        (Signals(flow_state="disabled", runs=()), HealthStatus.DISABLED),
        (Signals(flow_state="disabled", runs=(run("failed"),), hub_messages=5), HealthStatus.DISABLED),
        (Signals(**ENABLED, runs=(run(), run("failed", run_id="r2"))), HealthStatus.FAILING),
        (Signals(**ENABLED, runs=(run(records_in=1000, failed=6),), hub_messages=1000), HealthStatus.FAILING),
        (Signals(**ENABLED, runs=(run(records_in=1000, failed=5),), hub_messages=1000), HealthStatus.HEALTHY),
        (Signals(**ENABLED, runs=(run("partialSuccess", records_in=0, failed=3),)), HealthStatus.FAILING),
        (Signals(**ENABLED, runs=(), dataset_records=0, hub_messages=40), HealthStatus.STALLED),
        (Signals(**ENABLED, runs=(run(records_in=0),), hub_messages=40), HealthStatus.STALLED),
        (Signals(**ENABLED, runs=(), dataset_records=12, hub_messages=40), HealthStatus.HEALTHY),
        (Signals(**ENABLED, runs=(), dataset_records=0, hub_messages=0), HealthStatus.HEALTHY),
        (Signals(**ENABLED, runs=(run(),), hub_error="outage"), HealthStatus.HEALTHY),
        (Signals(**ENABLED, runs=(), dataset_records=0, hub_error="Azure Monitor is down"), HealthStatus.UNKNOWN),
        (Signals(**ENABLED, runs=(), dataset_error="503", hub_messages=9), HealthStatus.UNKNOWN),
        (Signals(**ENABLED, runs_error="Adobe Flow Service is unavailable"), HealthStatus.UNKNOWN),
        (Signals(flow_error="Adobe Flow Service is unavailable"), HealthStatus.UNKNOWN),
        (Signals(), HealthStatus.UNKNOWN),
    ],
)
def test_judge(signals: Signals, status: HealthStatus) -> None:
    verdict = judge(signals, RATIO)
    assert verdict.status is status, verdict.message
    assert verdict.message


def test_judge_counts_and_reasons() -> None:
    verdict = judge(Signals(**ENABLED, runs=(run(records_in=10, failed=4),), hub_messages=10), RATIO)
    assert verdict.records == RecordCounts(10, 6, 4) and verdict.hub_messages == 10
    assert "4 of 10 records failed" in verdict.message
    unknown = judge(Signals(**ENABLED, runs=(), dataset_records=0, hub_error="Azure Monitor answered 503"), RATIO)
    assert "Azure Monitor answered 503" in unknown.message and unknown.records == RecordCounts()


def step(previous: Health | None, status: HealthStatus, at: datetime = NOW) -> tuple[Health, str | None]:
    return next_health(previous, Verdict(status, RecordCounts(), None, status.value), now=at, window=WINDOW)


H, F, S, D, U = (
    HealthStatus.HEALTHY,
    HealthStatus.FAILING,
    HealthStatus.STALLED,
    HealthStatus.DISABLED,
    HealthStatus.UNKNOWN,
)


@pytest.mark.parametrize(
    ("statuses", "events"),
    [
        ([H], [None]),
        ([F], [UNHEALTHY]),
        ([S], [UNHEALTHY]),
        ([D], [UNHEALTHY]),
        ([U], [None]),
        ([H, H], [None, None]),
        ([H, F], [None, UNHEALTHY]),
        ([F, F], [UNHEALTHY, None]),
        ([F, H], [UNHEALTHY, RECOVERED]),
        ([F, D], [UNHEALTHY, UNHEALTHY]),
        ([S, F, H], [UNHEALTHY, UNHEALTHY, RECOVERED]),
        ([H, U, H], [None, None, None]),
        ([F, U, F], [UNHEALTHY, None, None]),
        ([F, U, H], [UNHEALTHY, None, RECOVERED]),
        ([U, F], [None, UNHEALTHY]),
        ([U, H], [None, None]),
    ],
)
def test_transitions_publish_on_a_change_only(statuses: list[HealthStatus], events: list[str | None]) -> None:
    health: Health | None = None
    seen = []
    for i, status in enumerate(statuses):
        health, event = step(health, status, NOW + timedelta(minutes=15 * i))
        seen.append(event)
    assert seen == events


def test_since_is_when_the_status_last_changed() -> None:
    first, _ = step(None, F, NOW)
    again, _ = step(first, F, NOW + timedelta(minutes=15))
    changed, _ = step(again, H, NOW + timedelta(minutes=30))
    assert again.since == NOW and changed.since == NOW + timedelta(minutes=30)
    assert Health.from_column(changed.to_column()) == changed


# -- the pass over fakes ---------------------------------------------------------------------------


class FakeFlows:
    """Adobe's flow reads, runs, dataset metric and enable action, counted."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}
        self.runs_of: dict[str, list[FlowRun]] = {}
        self.datasets: dict[str, int] = {}
        self.calls: list[str] = []
        self.fail: set[str] = set()

    def flow_state(self, sandbox: str, flow_id: str, deadline: Deadline) -> str | None:
        self.calls.append("flow")
        if "flow" in self.fail:
            raise DependencyUnavailable("Adobe Flow Service is unavailable.", dependency="Adobe Flow Service")
        return self.states.get(flow_id)

    def runs(self, sandbox: str, flow_id: str, since: datetime, deadline: Deadline) -> list[FlowRun]:
        self.calls.append("runs")
        return list(self.runs_of.get(flow_id, []))

    def dataset_records(
        self, sandbox: str, dataset_ids: Iterable[str], start: datetime, end: datetime, deadline: Deadline
    ) -> dict[str, int]:
        self.calls.append("observability")
        if "observability" in self.fail:
            raise DependencyUnavailable("Observability is unavailable.", dependency="Adobe")
        return {d: self.datasets.get(d, 0) for d in dataset_ids}

    def enable(self, sandbox: str, flow_id: str, deadline: Deadline) -> None:
        self.calls.append("enable")
        self.states[flow_id] = "enabled"


class FakeHubs:
    def __init__(self) -> None:
        self.traffic: dict[str, dict[str, int]] = {}
        self.calls: list[str] = []
        self.down = False

    def incoming_messages(self, resource_id: str, start: datetime, end: datetime, deadline: Deadline) -> dict[str, int]:
        self.calls.append(resource_id)
        if self.down:
            raise DependencyUnavailable("Azure Monitor is unavailable.", dependency="Azure Monitor")
        return dict(self.traffic.get(resource_id, {}))


class Published:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def publish(self, event: str, record: Any, error: Any = None) -> None:
        self.events.append((event, record.to_json()))


def rid(namespace: str) -> str:
    return f"/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.EventHub/namespaces/{namespace}"


class HealthWorld:
    def __init__(self, concurrency: int = 8, **env: str) -> None:
        self.time = FakeTime()
        self.flows = FakeFlows()
        self.hubs = FakeHubs()
        self.dataflows = FakeRecords()
        self.connections = FakeRecords()
        self.events = Published()
        self.verifies = True
        self.checker = HealthChecker(
            settings(**env),
            dataflows=self.dataflows,  # type: ignore[arg-type]
            connections=self.connections,
            adobe=self.flows,
            hubs=self.hubs,
            events=self.events,
            clock=self.time.clock(),
            connection_verifies=lambda record, deadline: self.verifies,
            concurrency=concurrency,
        )

    def dataflow(
        self, namespace: str, hub: str, *, state: State = State.READY, runs: list[FlowRun] | None = None
    ) -> str:
        flow_id = f"flow-{namespace}-{hub}"
        key = ConnectionKey("prod", namespace, hub)
        now = self.time.now()
        record = DataflowRecord(
            key,
            state,
            f"flow {hub}",
            now,
            now,
            f"ds-{hub}",
            "xdm",
            "$Default",
            "earliest",
            connection_id="c1",
            flow_id=flow_id,
        )
        self.dataflows.insert(record)  # type: ignore[arg-type]
        if (sandboxed := ConnectionKey("prod", namespace)) not in self.connections.rows:
            self.connections.insert(
                ConnectionRecord(sandboxed, State.READY, AuthType.SAS, namespace, now, now, resource_id=rid(namespace))
            )
        self.flows.states[flow_id] = "enabled"
        self.flows.runs_of[flow_id] = runs if runs is not None else [run()]
        return flow_id

    def health(self, namespace: str, hub: str) -> Health | None:
        record: DataflowRecord = self.dataflows.rows[ConnectionKey("prod", namespace, hub)][0]  # type: ignore[assignment]
        return record.health


def test_a_pass_costs_n_flow_reads_n_runs_listings_and_one_metrics_query_per_namespace() -> None:
    world = HealthWorld()
    for ns in ("ns-a", "ns-b"):
        for hub in ("clicks", "views", "orders"):
            world.dataflow(ns, hub)
    world.dataflow("ns-c", "clicks", state=State.CREATING)
    world.dataflow("ns-c", "views", state=State.FAILED)
    report = world.checker.run()
    assert len(report.statuses) == 6 and set(report.statuses.values()) == {HealthStatus.HEALTHY}
    assert world.flows.calls.count("flow") == 6 and world.flows.calls.count("runs") == 6
    assert "observability" not in world.flows.calls
    assert sorted(world.hubs.calls) == [rid("ns-a"), rid("ns-b")]
    assert world.events.events == []


def test_a_dataflow_is_stored_while_other_dataflows_are_still_being_read() -> None:
    """The table writes of a pass overlap its Adobe reads (the pass then takes about its reads' time), and a
    pass over more namespaces than threads completes (a dataflow's task waits for its namespace's query)."""
    world = HealthWorld(concurrency=2)
    namespaces = [f"ns-{i:02d}" for i in range(12)]
    for ns in namespaces:
        world.dataflow(ns, "clicks")
    first = ConnectionKey("prod", namespaces[0], "clicks")
    seen: list[bool] = []
    plain_runs = world.flows.runs

    def runs(sandbox: str, flow_id: str, since: datetime, deadline: Deadline) -> list[FlowRun]:
        if flow_id == f"flow-{namespaces[-1]}-clicks":  # the last read looks for the first dataflow's write
            waited = time.monotonic() + 2.0
            while world.health(namespaces[0], "clicks") is None and time.monotonic() < waited:
                time.sleep(0.01)
            seen.append(world.health(namespaces[0], "clicks") is not None)
        return plain_runs(sandbox, flow_id, since, deadline)

    world.flows.runs = runs  # type: ignore[method-assign]
    report = world.checker.run()
    assert seen == [True]
    assert world.health(namespaces[0], "clicks") is not None
    assert report.statuses[first] is HealthStatus.HEALTHY and len(report.statuses) == 12
    assert list(report.statuses) == sorted(report.statuses, key=lambda k: k.namespace)
    assert sorted(world.hubs.calls) == sorted(rid(ns) for ns in namespaces)


def test_one_observability_query_for_every_flow_without_runs() -> None:
    world = HealthWorld()
    world.dataflow("ns-a", "clicks", runs=[])
    world.dataflow("ns-a", "views", runs=[])
    world.dataflow("ns-b", "clicks")
    world.flows.datasets = {"ds-clicks": 10}
    world.hubs.traffic = {rid("ns-a"): {"clicks": 50, "views": 5}}
    report = world.checker.run()
    assert world.flows.calls.count("observability") == 1
    assert report.statuses[ConnectionKey("prod", "ns-a", "clicks")] is HealthStatus.HEALTHY
    assert report.statuses[ConnectionKey("prod", "ns-a", "views")] is HealthStatus.STALLED
    [(event, record)] = world.events.events
    assert event == UNHEALTHY and record["eventHubName"] == "views" and record["health"]["status"] == "stalled"
    assert record["health"]["hubMessages"] == 5 and record["health"]["records"] == {
        "in": None,
        "out": None,
        "failed": None,
    }


def test_failing_then_recovered_publishes_twice_and_the_same_status_nothing() -> None:
    world = HealthWorld()
    flow = world.dataflow("ns-a", "clicks", runs=[run("failed", failed=100)])
    world.checker.run()
    world.time.advance(900)
    world.checker.run()
    assert [e for e, _ in world.events.events] == [UNHEALTHY]
    since = world.health("ns-a", "clicks")
    assert since is not None and since.since == world.time.start
    world.flows.runs_of[flow] = [run()]
    world.time.advance(900)
    world.checker.run()
    assert [e for e, _ in world.events.events] == [UNHEALTHY, RECOVERED]


def test_a_metrics_outage_is_unknown_and_never_an_alert() -> None:
    world = HealthWorld()
    world.dataflow("ns-a", "clicks", runs=[])
    world.hubs.down = True
    report = world.checker.run()
    assert report.statuses[ConnectionKey("prod", "ns-a", "clicks")] is HealthStatus.UNKNOWN
    health = world.health("ns-a", "clicks")
    assert health is not None and "Azure Monitor is unavailable" in health.message
    assert world.events.events == []


def test_without_a_resource_id_hub_traffic_is_unknown_and_nothing_queried() -> None:
    world = HealthWorld()
    world.dataflow("ns-a", "clicks", runs=[])
    key = ConnectionKey("prod", "ns-a")
    stored = world.connections.rows[key]
    world.connections.rows[key] = (replace(stored[0], resource_id=None), stored[1])
    world.checker.run()
    assert world.hubs.calls == []
    health = world.health("ns-a", "clicks")
    assert health is not None and health.status is HealthStatus.UNKNOWN and "resource id" in health.message


def test_repair_enables_a_disabled_flow_once_per_window_when_its_connection_verifies() -> None:
    world = HealthWorld(HEALTH_REENABLE="true")
    flow = world.dataflow("ns-a", "clicks")
    world.flows.states[flow] = "disabled"
    world.checker.run()
    assert world.flows.calls.count("enable") == 1
    health = world.health("ns-a", "clicks")
    assert health is not None and health.status is HealthStatus.DISABLED and health.reenabled_at == world.time.now()
    world.flows.states[flow] = "disabled"  # Adobe disabled it again at once
    world.time.advance(900)
    world.checker.run()
    assert world.flows.calls.count("enable") == 1  # once per window
    world.time.advance(3 * 3600)
    world.checker.run()
    assert world.flows.calls.count("enable") == 2


def test_no_repair_without_the_setting_or_when_the_connection_does_not_verify() -> None:
    world = HealthWorld()
    flow = world.dataflow("ns-a", "clicks")
    world.flows.states[flow] = "disabled"
    world.checker.run()
    assert "enable" not in world.flows.calls
    world = HealthWorld(HEALTH_REENABLE="true")
    flow = world.dataflow("ns-a", "clicks")
    world.flows.states[flow] = "disabled"
    world.verifies = False
    world.checker.run()
    health = world.health("ns-a", "clicks")
    assert "enable" not in world.flows.calls and health is not None and "does not verify" in health.message


def test_a_run_event_is_applied_at_once_and_a_replay_changes_nothing() -> None:
    world = HealthWorld()
    flow = world.dataflow("ns-a", "clicks")
    world.checker.run()
    late = run("failed", failed=100, run_id="late")  # Adobe does not list it yet
    assert world.checker.apply_run_event(flow, late, "evt-1") == "applied"
    assert [e for e, _ in world.events.events] == [UNHEALTHY]
    before = world.health("ns-a", "clicks")
    world.time.advance(5)
    assert world.checker.apply_run_event(flow, late, "evt-1") == "duplicate"
    assert world.health("ns-a", "clicks") == before and len(world.events.events) == 1
    assert world.checker.apply_run_event("flow-unknown", late, "evt-2") == "unknown-flow"
