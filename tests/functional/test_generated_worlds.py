"""Generated worlds through the real functions: seeded random sequences of what production does, against
Azurite and the stand-ins (issue 19, "The test that would have found all of this").

A seeded generator (`random.Random(seed)`) writes a sequence of steps; the runner plays them through the
indexed functions: namespaces created and deleted in a managed and an unmanaged subscription (only the
managed one in AZURE_SUBSCRIPTION_IDS), secrets that appear late and rotate, requests over HTTP and the
queue with names that repeat (the Flow Service tutorial's fixed name, another namespace's default name),
connections made by hand in Adobe, Event Grid events delivered late, out of order and twice, uncertain
creates (late commits, lost answers), verify and reconcile passes, dataflow requests and event hub events.

Then the world settles (faults cleared, late commits landed, every pending event delivered, the queue
drained, a reconcile pass, a verify of every record) and the invariants of the issue are checked:

- each ready record's identity has exactly one Adobe connection with its content and stored name: the
  recorded one; each live managed namespace with a secret has a ready record;
- nothing made by hand for another identity was deleted or recorded; every record points at an object
  whose content is its own;
- nothing of a deleted identity is left (DELETE_CONNECTION_ON_NAMESPACE_DELETE=true);
- every flow in Adobe is a ready dataflow's, and each ready dataflow's flow reads its own hub;
- Adobe's connection of a ready record holds the vault's newest key;
- at most one 201 per object; no secret fragment anywhere (the `app` fixture checks).

On a failure the seed and the sequence are printed, then the sequence is shrunk by dropping steps one at
a time (at most SHRINK_RUNS re-runs) and the shortest failing sequence is reported. CI runs
GENERATED_WORLDS_SEEDS (default ten seeds of GENERATED_WORLDS_STEPS=30 steps, plus seed 29, which found an
adopted connection left with the key from before a rotation; about half a minute); `make fuzz` runs many more.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.functions.timer import TimerRequest

from devstack.events import namespace_event, secret_event
from devstack.faults import Fault
from devstack.host import indexed_function
from shared.runtime import reset_runtime
from tests.functional.conftest import App, body

NAMESPACES = ("contoso-gw-a", "contoso-gw-b", "contoso-gw-c")
FOREIGN = "fabrikam-gw-foreign"  # never a namespace of this app: its connections are someone else's
HUBS = ("clicks", "views")
MANAGED = "00000000-0000-0000-0000-0000000000a1"
UNMANAGED = "00000000-0000-0000-0000-0000000000f9"
DATASET = "65e1c1a4f2b3c4001b2c3d4e"
TUTORIAL_NAME = "Azure Event Hubs connection"
NAMES = (None, TUTORIAL_NAME, *(f"Azure Event Hubs {n}" for n in NAMESPACES))
CREATE = r"/connections$"
LATE = 2.0  # seconds before a late commit lands
SHRINK_RUNS = 20
SEEDS = [int(s) for s in os.environ.get("GENERATED_WORLDS_SEEDS", "1,2,3,4,5,6,7,8,9,10,29").split(",") if s.strip()]
STEPS = int(os.environ.get("GENERATED_WORLDS_STEPS", "30"))
ENV = {
    "AZURE_SUBSCRIPTION_IDS": MANAGED,
    "RECONCILE_DELETE": "true",
    "RECONCILE_GONE_GRACE_SECONDS": "0",
    "DELETE_CONNECTION_ON_NAMESPACE_DELETE": "true",
    "DATAFLOW_DATASET_ID": DATASET,
}

Step = tuple[Any, ...]


# -- the generator -------------------------------------------------------------------------------


def generate(rng: random.Random, steps: int) -> list[Step]:
    """A random sequence of steps (plain tuples, so a failure prints as a sequence to replay)."""
    makers: list[tuple[int, Callable[[], Step]]] = [
        (5, lambda: ("namespace_created", rng.choice(NAMESPACES), rng.random() < 0.7, rng.random() < 0.6)),
        (2, lambda: ("namespace_deleted", rng.choice(NAMESPACES))),
        (3, lambda: ("secret_stored", rng.choice(NAMESPACES), rng.random() < 0.5)),
        (6, lambda: ("event_delivered", rng.randrange(64), rng.random() < 0.3)),
        (4, lambda: ("request", rng.choice(["http", "queue"]), rng.choice(NAMESPACES), rng.choice(NAMES))),
        (2, lambda: ("made_by_hand", rng.choice([FOREIGN, *NAMESPACES]), rng.choice([*NAMES[1:], "By hand"]))),
        (1, lambda: ("uncertain_create", rng.choice(["late_commit", "commit_then_stall", "drop", "503"]))),
        (2, lambda: ("verify", rng.choice(NAMESPACES), rng.choice([None, *HUBS]))),
        (2, lambda: ("reconcile",)),
        (2, lambda: ("dataflow", rng.choice(NAMESPACES), rng.choice(HUBS))),
        (2, lambda: ("hub_changed", rng.choice(NAMESPACES), rng.choice(HUBS), rng.choice(["write", "delete"]))),
        (1, lambda: ("drain",)),
    ]
    weights = [w for w, _ in makers]
    return [rng.choices(makers, weights)[0][1]() for _ in range(steps)]


# -- the runner ----------------------------------------------------------------------------------


@dataclass
class Run:
    """One world: the app on a fresh stack, the model of Azure, and what the app answered."""

    app: App
    monkeypatch: pytest.MonkeyPatch
    live: dict[str, str] = field(default_factory=dict)  # namespace -> subscription, while it exists in Azure
    with_secret: set[str] = field(default_factory=set)
    pending: list[dict[str, Any]] = field(default_factory=list)  # Event Grid events not delivered yet
    foreign: set[str] = field(default_factory=set)  # ids of connections made by hand for FOREIGN
    own_by_hand: set[str] = field(default_factory=set)  # ids made by hand with one of our namespaces' content
    created: list[str] = field(default_factory=list)  # every id a 201 answered
    late_until: float = 0.0
    minute: int = 0
    base: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(hours=2))

    def fresh(self) -> None:
        """A clean stack, new tables, an empty request queue, a new worker runtime."""
        app, stack = self.app, self.app.stack
        stack.reset()
        for secret in stack.keyvault.secret_names():
            if not secret.startswith("adobe-"):
                stack.keyvault.delete_secret(secret)
        suffix = uuid.uuid4().hex[:16]
        for key, value in {**ENV, "CONNECTIONS_TABLE": f"G{suffix}", "DATAFLOWS_TABLE": f"H{suffix}"}.items():
            self.monkeypatch.setenv(key, value)
            app.env[key] = value
        reset_runtime()
        app.request_queue().clear_messages()
        stack.adobe.add_dataset("Generated worlds", dataset_id=DATASET)

    def tick(self) -> datetime:
        self.minute += 1
        return self.base + timedelta(minutes=self.minute)

    # -- steps ---------------------------------------------------------------------------------

    def play(self, step: Step) -> None:
        getattr(self, step[0])(*step[1:])

    def namespace_created(self, namespace: str, managed: bool, secret: bool) -> None:
        if namespace in self.live:
            return
        subscription = self.live[namespace] = MANAGED if managed else UNMANAGED
        self.app.stack.resource_graph.add_namespace(namespace, subscription_id=subscription)
        self.app.stack.adobe.set_event_hubs(namespace, list(HUBS))
        if secret:
            self.secret_stored(namespace, deliver=True)
        self.pending.append(namespace_event("write", namespace, event_time=self.tick(), subscription_id=subscription))

    def namespace_deleted(self, namespace: str) -> None:
        subscription = self.live.pop(namespace, None)
        if subscription is None:
            return
        self.app.stack.resource_graph.remove_namespace(namespace, subscription)
        self.pending.append(namespace_event("delete", namespace, event_time=self.tick(), subscription_id=subscription))

    def secret_stored(self, namespace: str, deliver: bool) -> None:
        """The namespace's SAS connection string stored (late) or rotated; its Key Vault event now or later."""
        secret_name, _, _ = self.app.stack.add_eventhubs_namespace(namespace)
        self.with_secret.add(namespace)
        event = secret_event(secret_name, event_time=self.tick())
        if deliver:
            self._deliver(event)
        else:
            self.pending.append(event)

    def event_delivered(self, index: int, keep: bool) -> None:
        """One pending event, in any order; kept for a duplicate delivery later when `keep`."""
        if not self.pending:
            return
        event = self.pending[index % len(self.pending)]
        if not keep:
            self.pending.remove(event)
        self._deliver(event)

    def _deliver(self, event: dict[str, Any]) -> None:
        function = "on_secret_event" if "KeyVault" in event["eventType"] else "on_namespace_event"
        self._tolerate(lambda: self.app.event(dict(event), function=function))

    def request(self, kind: str, namespace: str, name: str | None) -> None:
        request: dict[str, Any] = {"namespace": namespace}
        if name is not None:
            request["name"] = name
        if kind == "queue":
            self._tolerate(lambda: self.app.enqueue(request))
            return
        response = self.app.post(request)
        if response.status_code == 201:
            self.created.append(body(response)["connectionId"])

    def made_by_hand(self, owner: str, name: str) -> None:
        """A connection someone made in the UI: FOREIGN's under any name, or ours under a free name."""
        own = owner != FOREIGN
        if own and name != "By hand":
            return  # under a name the app may claim it would be a duplicate by the contract: not by hand
        params = {"sasKeyName": "Root", "sasKey": "h" * 44, "namespace": owner}
        made = self.app.stack.adobe.seed_connection(name, params, description="made by hand")
        (self.own_by_hand if own else self.foreign).add(made["id"])

    def uncertain_create(self, kind: str) -> None:
        adobe = self.app.stack.adobe
        if kind == "503":
            adobe.faults.add(Fault("POST", CREATE, status=503, body={"error_code": "503000", "message": "busy"}))
        elif kind == "drop":
            adobe.faults.add(Fault("POST", CREATE, action="drop"))
        else:
            adobe.faults.add(Fault("POST", CREATE, action=kind, delay=LATE))  # type: ignore[arg-type]
            self.late_until = time.monotonic() + 30  # landed by the time the world settles (see settle)

    def verify(self, namespace: str, hub: str | None) -> None:
        message: dict[str, Any] = {"action": "verify", "namespace": namespace}
        if hub is not None:
            message["eventHubName"] = hub
        self._tolerate(lambda: self.app.enqueue(message))

    def reconcile(self) -> None:
        self._tolerate(lambda: indexed_function("reconcile_timer")(TimerRequest(past_due=False)))

    def dataflow(self, namespace: str, hub: str) -> None:
        response = self.app.post_dataflow({"namespace": namespace, "eventHubName": hub, "datasetId": DATASET})
        if response.status_code == 201:
            self.created.append(body(response)["flowId"])

    def hub_changed(self, namespace: str, hub: str, action: str) -> None:
        subscription = self.live.get(namespace)
        if subscription is None:
            return
        event = namespace_event(
            action,  # type: ignore[arg-type]
            namespace,
            event_hub=hub,
            event_time=self.tick(),
            subscription_id=subscription,
        )
        self.pending.append(event)

    def drain(self) -> None:
        self.app.drain_requests(timeout=30)

    @staticmethod
    def _tolerate(call: Callable[[], Any]) -> None:
        """An invocation that raises is redelivered by the host later (the settle phase delivers again)."""
        try:
            call()
        except AssertionError:
            raise
        except Exception:  # a transient failure: the host redelivers
            pass

    # -- the end -------------------------------------------------------------------------------

    def settle(self) -> None:
        """Faults cleared, late commits landed, every event delivered (the host's redelivery), the queue
        drained, a reconcile pass, then a verify of every record."""
        adobe = self.app.stack.adobe
        adobe.clear_faults()
        if self.late_until:
            time.sleep(LATE + 0.5)
        for event in self.pending:
            self._deliver(event)
        for event in self.pending:  # once more: an invocation that raised is redelivered
            self._deliver(event)
        self.pending.clear()
        self.drain()
        self.reconcile()
        self.drain()
        for _ in range(2):
            for entity in self.app.entities():
                namespace, _, hub = entity["RowKey"].partition("|")
                message = {"action": "verify", "namespace": namespace, "sandbox": entity["PartitionKey"]}
                if hub:
                    message["eventHubName"] = hub
                self._tolerate(lambda message=message: self.app.enqueue(message))  # type: ignore[misc]
            self.drain()

    def summary(self) -> str:
        """One line on the settled world (GENERATED_WORLDS_VERBOSE=1 prints it)."""
        states = sorted(f"{e['RowKey']}:{e['State']}" for e in self.app.entities())
        flows = sorted(f"{e['RowKey']}:{e['State']}" for e in self.app.dataflow_entities())
        adobe = self.app.stack.adobe
        return (
            f"records {states}, dataflows {flows}, {len(adobe.connections('prod'))} connection(s), "
            f"{len(adobe.flows())} flow(s), {len(self.created)} 201(s), {len(adobe.platform_requests)} Adobe calls"
        )

    def check(self) -> None:
        """The issue's invariants over the settled world."""
        adobe = self.app.stack.adobe
        connections = {c["id"]: c for c in adobe.connections("prod")}

        def holds(connection: dict[str, Any], namespace: str, hub: str | None) -> bool:
            params = connection["auth"]["params"]
            return params.get("namespace") == namespace and params.get("eventHubName") == hub

        records = self.app.entities()
        assert self.foreign <= set(connections), "a connection made by hand for another namespace was deleted"
        for entity in records:
            namespace, _, hub_text = entity["RowKey"].partition("|")
            hub = hub_text or None
            state, recorded, name = entity["State"], entity.get("ConnectionId"), entity.get("Name")
            where = f"record {entity['RowKey']} ({state})"
            assert recorded not in self.foreign, f"{where} records a connection made by hand for {FOREIGN}"
            if recorded in connections:
                assert holds(connections[recorded], namespace, hub), f"{where} points at another identity's object"
            mine = [c["id"] for c in connections.values() if holds(c, namespace, hub) and c["name"] == name]
            if state == "ready":
                assert mine == [recorded], f"{where}: {len(mine)} connection(s) with its content and name {name!r}"
                newest = self.app.stack.keyvault.get_value(f"eventhubs-sas-{namespace}")
                held = connections[recorded]["auth"]["params"].get("sasKey")
                assert newest is None or f"SharedAccessKey={held};" in newest + ";", f"{where}: Adobe holds an old key"
            if state == "deleted":  # DELETE_CONNECTION_ON_NAMESPACE_DELETE=true: every object was to be deleted
                left = [i for i in mine if i not in self.own_by_hand]
                assert not left, f"{where}: {len(left)} of its connections left in Adobe"
        ready = {e["RowKey"].partition("|")[0] for e in records if e["State"] == "ready"}
        for namespace, subscription in self.live.items():
            if subscription == MANAGED and namespace in self.with_secret:
                assert namespace in ready, f"{namespace} is live, managed and has its secret, but no ready record"
        self._check_flows()
        assert len(self.created) == len(set(self.created)), "two 201 answers for one object"

    def _check_flows(self) -> None:
        adobe = self.app.stack.adobe
        flows = {f["id"]: f for f in adobe.flows()}
        sources = {s["id"]: s for s in adobe.source_connections()}
        ready = [e for e in self.app.dataflow_entities() if e["State"] == "ready"]
        for entity in ready:
            where = f"dataflow {entity['RowKey']}"
            flow = flows.get(entity.get("FlowId"))
            assert flow is not None, f"{where} is ready but its flow is gone from Adobe"
            source = sources.get(flow["sourceConnectionIds"][0])
            assert source is not None and source["params"]["eventHubName"] == entity["EventHubName"], where
            assert source["baseConnectionId"] == entity.get("ConnectionId"), f"{where} reads another connection"
        recorded = {e.get("FlowId") for e in ready}
        assert set(flows) <= recorded, f"{len(set(flows) - recorded)} flow(s) in Adobe belong to no ready dataflow"


def play(app: App, monkeypatch: pytest.MonkeyPatch, steps: list[Step]) -> None:
    run = Run(app, monkeypatch)
    run.fresh()
    for step in steps:
        run.play(step)
    run.settle()
    if os.environ.get("GENERATED_WORLDS_VERBOSE"):
        print(run.summary())
    run.check()


def shrink(app: App, monkeypatch: pytest.MonkeyPatch, steps: list[Step]) -> tuple[list[Step], str]:
    """Drop steps one at a time while the sequence still fails (at most SHRINK_RUNS re-runs)."""
    failing, reason, runs, index = list(steps), "", 0, 0
    while index < len(failing) and runs < SHRINK_RUNS:
        candidate = failing[:index] + failing[index + 1 :]
        runs += 1
        try:
            play(app, monkeypatch, candidate)
        except AssertionError as err:
            failing, reason = candidate, str(err).splitlines()[0]
            continue
        index += 1
    return failing, reason


@pytest.mark.timeout(600)
@pytest.mark.parametrize("seed", SEEDS)
def test_generated_world(app: App, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    steps = generate(random.Random(seed), STEPS)
    try:
        play(app, monkeypatch, steps)
    except AssertionError as err:
        print(f"generated world {seed} failed: {err}\nsequence: {json.dumps(steps)}")
        shrunk, reason = shrink(app, monkeypatch, steps)
        pytest.fail(
            f"seed {seed}: {err}\nshrunk to {len(shrunk)} step(s) ({reason or 'the same failure'}):\n"
            + "\n".join(f"  {json.dumps(step)}" for step in shrunk),
            pytrace=False,
        )
