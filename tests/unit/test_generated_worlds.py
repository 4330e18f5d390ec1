"""Generated worlds: random sequences of what production does, against the real operations over fakes.

Hypothesis drives the connection service and reconcile through namespaces created and deleted in
Azure (a managed and an unmanaged subscription), requests over HTTP and the queue with names that
repeat (the Flow Service tutorial's fixed name, another namespace's default name), connections made by
hand in Adobe (someone else's under a colliding name; the namespace's own under another name),
uncertain creates and late commits, Event Grid events duplicated, late and out of order, verify and
reconcile passes, storage lost, and keys rotated (their events may never come). After every step, and
once every late commit has landed and every record was verified, it checks the contract's invariants (see `World.check` and `finish`); a failure
shrinks to a short sequence. `make fuzz` runs it longer (GENERATED_WORLDS_EXAMPLES).
"""

from __future__ import annotations

import contextlib
import os
from datetime import timedelta
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from shared.adobe import connection_body
from shared.dataflows import DataflowService
from shared.errors import ConnectorError
from shared.identity import connection_identity
from shared.inventory import Listing, Namespace
from shared.models import ConnectionKey, ConnectionRequest, Source, State
from shared.reconcile import Reconciler
from shared.retry import Deadline
from tests.unit.fakes import FakeObject, FakeRecords
from tests.unit.test_protocol import SAS, World
from tests.unit.test_protocol import settings as make_settings

NAMESPACES = ("contoso-alpha", "contoso-bravo", "contoso-gamma")
MANAGED, UNMANAGED = "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000f"
TUTORIAL_NAME = "Azure Event Hubs connection"  # the Flow Service tutorial's fixed example name
ENV = {
    "AZURE_SUBSCRIPTION_IDS": MANAGED,
    "RECONCILE_DELETE": "true",
    "DELETE_CONNECTION_ON_NAMESPACE_DELETE": "true",
}
SAS_KEY = SAS.split("SharedAccessKey=")[1]
EXAMPLES = int(os.environ.get("GENERATED_WORLDS_EXAMPLES", "200"))


def resource_id(namespace: str, subscription: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/rg/providers/Microsoft.EventHub/namespaces/{namespace}"


def params(namespace: str) -> dict[str, Any]:
    return {"sasKeyName": "Root", "namespace": namespace}


class Azure:
    """Resource Graph over the model's namespaces (only the managed subscription is listed)."""

    def __init__(self) -> None:
        self.namespaces: dict[str, str] = {}  # name -> subscription, while it exists

    def list(self, subscriptions: Any, deadline: Deadline) -> Listing:
        return Listing([Namespace(n, s, "rg", resource_id(n, s)) for n, s in self.namespaces.items() if s == MANAGED])


class Queue:
    def send(self, text: str, *, delay: float = 0) -> None:
        return None


class GeneratedWorld(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.world = World(**ENV)
        self.azure = Azure()
        self.foreign: set[str] = set()  # made by hand for no identity of ours (colliding names)
        self.own_by_hand: set[str] = set()  # made by hand with an identity's content, under another name
        self.created_ids: list[str] = []  # every id answered with 201
        self.events: list[tuple[str, str, int, str]] = []  # (action, namespace, minute, subscription), any order
        self.minute = 0
        self.versions = 0
        settings = make_settings(**ENV)
        dataflows = DataflowService(
            settings,
            connections=self.world.service,
            adobe=self.world.adobe,
            records=FakeRecords(),  # type: ignore[arg-type]
            events=self.world.events,
            verifies=self.world.verifies,
            clock=self.world.time.clock(),
        )
        self.reconciler = Reconciler(
            settings,
            inventory=self.azure,
            connections=self.world.service,
            dataflows=dataflows,
            records=self.world.records,
            adobe=self.world.adobe,
            requests=Queue(),
            clock=self.world.time.clock(),
        )

    # -- Azure ---------------------------------------------------------------------------------

    @rule(namespace=st.sampled_from(NAMESPACES), managed=st.booleans())
    def namespace_created(self, namespace: str, managed: bool) -> None:
        if namespace in self.azure.namespaces:
            return
        subscription = self.azure.namespaces[namespace] = MANAGED if managed else UNMANAGED
        self._new_key(namespace)
        self.minute += 1
        self.events.append(("write", namespace, self.minute, subscription))

    @rule(namespace=st.sampled_from(NAMESPACES))
    def key_rotated(self, namespace: str) -> None:
        """A new version of the namespace's SAS secret, with a new key (its rotation event may never come)."""
        if f"eventhubs-sas-{namespace}" in self.world.secrets.values:
            self._new_key(namespace)

    def _new_key(self, namespace: str) -> None:
        """A new version of the namespace's SAS secret (every version has its own key)."""
        self.versions += 1
        name = f"eventhubs-sas-{namespace}"
        key = f"{self.versions:02d}" + SAS_KEY[2:]
        self.world.secrets.values[name] = SAS.replace("contoso-unit", namespace).replace(SAS_KEY, key)
        self.world.secrets.versions[name] = f"v{self.versions}"

    @rule(namespace=st.sampled_from(NAMESPACES))
    def namespace_deleted(self, namespace: str) -> None:
        subscription = self.azure.namespaces.pop(namespace, None)
        if subscription is None:
            return
        self.minute += 1
        self.events.append(("delete", namespace, self.minute, subscription))

    @rule(index=st.integers(min_value=0, max_value=30), keep=st.booleans())
    def event_delivered(self, index: int, keep: bool) -> None:
        """One pending event, in any order; kept for a duplicate delivery later when `keep`."""
        if not self.events:
            return
        event = self.events[index % len(self.events)]
        if not keep:
            self.events.remove(event)
        action, namespace, minute, subscription = event
        if subscription != MANAGED:
            return  # the Event Grid adapter ignores events of subscriptions it does not manage
        when = self.world.time.start + timedelta(minutes=minute)
        source = Source("event", f"ev-{action}-{minute}", when, resource_id(namespace, subscription))
        try:
            if action == "delete":
                self.reconciler.dataflows.namespace_gone(namespace, source)
            else:
                self._answer(self.world.service.create_or_get(ConnectionRequest(namespace, "prod"), source))
        except ConnectorError:
            pass

    # -- requests ------------------------------------------------------------------------------

    @rule(
        namespace=st.sampled_from(NAMESPACES),
        name=st.sampled_from([None, TUTORIAL_NAME, *(f"Azure Event Hubs {n}" for n in NAMESPACES)]),
        kind=st.sampled_from(["http", "queue"]),
    )
    def request(self, namespace: str, name: str | None, kind: str) -> None:
        try:
            outcome = self.world.service.create_or_get(ConnectionRequest(namespace, "prod", name=name), Source(kind))
        except ConnectorError:
            return
        self._answer(outcome)

    def _answer(self, outcome: Any) -> None:
        if outcome.created:
            self.created_ids.append(outcome.record.connection_id)

    # -- Adobe ---------------------------------------------------------------------------------

    @rule(
        owner=st.sampled_from(["contoso-foreign", *NAMESPACES]),
        name=st.sampled_from([TUTORIAL_NAME, *(f"Azure Event Hubs {n}" for n in NAMESPACES), "By hand"]),
    )
    def made_by_hand(self, owner: str, name: str) -> None:
        """A connection someone made in the UI: another namespace's (colliding name), or ours under a free name."""
        own = owner != "contoso-foreign"
        if own and (name != "By hand" or any(self._holds(o, owner) for o in self._objects())):
            return  # one hand-made connection per identity, never under the name the app would claim
        body = connection_body(name, "by hand", "Azure EventHub authentication credentials", params(owner))
        made = FakeObject(f"hand-{len(self.foreign) + len(self.own_by_hand)}", name, body, self.world.adobe.calls + 0.5)
        self.world.adobe.objects.setdefault(("prod", "connections"), []).append(made)
        (self.own_by_hand if own else self.foreign).add(made.id)

    @rule(outcome=st.sampled_from(["lost", "late", "503", "gives up"]))
    def next_create_uncertain(self, outcome: str) -> None:
        """The next POST's fate; "gives up": it commits later and every retry of the invocation fails."""
        self.world.adobe.script.extend(["late", "503", "503", "503"] if outcome == "gives up" else [outcome])

    @rule()
    def late_commits_land(self) -> None:
        self.world.adobe.land_late()

    # -- the app's own passes ------------------------------------------------------------------

    @rule(namespace=st.sampled_from(NAMESPACES))
    def verify(self, namespace: str) -> None:
        with contextlib.suppress(ConnectorError):
            self.world.service.verify(ConnectionKey("prod", namespace), Source("queue", "verify"))

    @rule()
    def reconcile(self) -> None:
        self.reconciler.run(now=True, concurrency=1)

    @rule(minutes=st.integers(min_value=1, max_value=40))
    def time_passes(self, minutes: int) -> None:
        self.world.time.advance(minutes * 60)

    @rule()
    def storage_lost_and_rebuilt(self) -> None:
        """The storage account recreated, then reconcile run before requests (README "Disaster recovery")."""
        self.world.records.rows.clear()
        self.reconciler.run(now=True, concurrency=1)

    # -- invariants ----------------------------------------------------------------------------

    def _objects(self) -> list[FakeObject]:
        return self.world.adobe.in_adobe()

    @staticmethod
    def _holds(obj: FakeObject, namespace: str) -> bool:
        return connection_identity(ConnectionKey("prod", namespace), obj.name).matches(obj.content)

    @invariant()
    def nothing_of_another_identity_is_touched(self) -> None:
        ids = {o.id for o in self._objects()}
        assert self.foreign <= ids, "a connection made by hand for another namespace was deleted"
        for record in self.world.records.rows.values():
            assert record[0].connection_id not in self.foreign, "someone else's connection was recorded"

    @invariant()
    def every_record_points_at_its_own_content(self) -> None:
        by_id = {o.id: o for o in self._objects()}
        for record, _ in self.world.records.rows.values():
            obj = by_id.get(record.connection_id or "")
            if obj is not None:
                assert self._holds(obj, record.key.namespace), f"{record.key} records {obj.id} of another identity"
                if record.state is State.READY:  # (a lookup finds it by this name)
                    assert obj.name == record.name, f"{record.key} notes {record.name!r}, {obj.id} is {obj.name!r}"

    @invariant()
    def at_most_one_201_per_object(self) -> None:
        assert len(self.created_ids) == len(set(self.created_ids))

    def finish(self) -> None:
        """Once every late commit has landed and every record was verified: exactly one connection with a ready
        record's content and stored name (duplicates are that, contract "Identity"), the recorded one; none left
        of an identity deleted in Adobe too; a connection made by hand for it is never deleted."""
        self.world.adobe.land_late()
        self.world.adobe.script.clear()
        for _ in range(2):
            for key in list(self.world.records.rows):
                self.world.service.verify(key, Source("queue", "final-verify"))
        for key, (record, _) in self.world.records.rows.items():
            named = [o for o in self._objects() if self._holds(o, key.namespace) and o.name == record.name]
            if record.state is State.READY:
                assert [o.id for o in named] == [record.connection_id], f"{key}: {len(named)} with its name"
                secret = self.world.secrets.values.get(f"eventhubs-sas-{key.namespace}")
                held = named[0].body["auth"]["params"].get("sasKey")
                if secret is not None:  # (a connection made by hand is adopted before its secret exists)
                    current = secret.split("SharedAccessKey=")[1]
                    assert held == current, f"{key}: Adobe holds an old key ({record.secret_version} recorded)"
            if record.state is State.DELETED and record.adobe_deleted:
                made = [o for o in named if o.id not in self.own_by_hand]
                assert not made, f"{key} is deleted but {len(made)} of its connections are left in Adobe"
        self.nothing_of_another_identity_is_touched()

    def teardown(self) -> None:
        self.finish()


GeneratedWorld.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=30,
    deadline=None,
    derandomize=os.environ.get("GENERATED_WORLDS_RANDOM") != "1",
    suppress_health_check=[HealthCheck.too_slow],
)
TestGeneratedWorlds = GeneratedWorld.TestCase
