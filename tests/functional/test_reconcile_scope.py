"""Reconcile touches only what this deployment manages, and only on complete evidence (issue 19, items 2, 3, 6):
the real Resource Graph client against the stand-in's truncated, short and empty answers, two subscriptions
of which one is managed, the deletion limit and `cli reconcile --allow-deletes`, and a vanished namespace's
dataflows torn down like its delete event would."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import pytest

from devstack.events import namespace_event
from tests.functional.conftest import App, body
from tests.functional.test_cli import _summary, cli
from tests.functional.test_reconcile import age_records, reconcile, set_env

MANAGED = "00000000-0000-0000-0000-0000000000a1"
UNMANAGED = "00000000-0000-0000-0000-0000000000f9"
SEVEN = [f"contoso-scope-{i}" for i in range(7)]


def in_adobe(app: App, namespace: str) -> list[dict]:
    return [c for c in app.stack.adobe.connections("prod") if c["auth"]["params"]["namespace"] == namespace]


def states(app: App, namespaces: list[str]) -> list[str]:
    return [body(app.get(ns))["state"] for ns in namespaces]


@pytest.fixture
def seven(app: App, monkeypatch: pytest.MonkeyPatch) -> App:
    """Seven managed namespaces with ready connections, seen by a first pass (their records note the resource
    id), aged past the grace; RECONCILE_DELETE=true from then on."""
    set_env(app, monkeypatch, AZURE_SUBSCRIPTION_IDS=MANAGED)
    for name in SEVEN:
        app.stack.resource_graph.add_namespace(name, subscription_id=MANAGED)
        app.stack.add_eventhubs_namespace(name)
        assert app.post({"namespace": name}).status_code == 201
    reconcile()  # notes each record's resource id: managed from now on
    assert all(f"/subscriptions/{MANAGED}/" in app.entity(ns)["ResourceId"] for ns in SEVEN)
    age_records(app, seconds=3600)
    set_env(app, monkeypatch, RECONCILE_DELETE="true")
    return app


@pytest.mark.parametrize("thin", ["truncated", "short", "truncated on a later page"])
def test_a_truncated_or_short_listing_marks_nothing_deleted(
    seven: App, thin: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Item 6: the old code took an answer of 1 row of 7 as complete and marked 6 of 7 records deleted."""
    app, graph = seven, seven.stack.resource_graph
    if thin == "truncated":
        graph.truncate_next(missing=6)
    elif thin == "short":
        graph.answer_short(missing=6)
    else:
        graph.page_size = 2
        graph.truncate_next(missing=3, after=1)  # page 1 whole (2 rows and a token), page 2 truncated
    reconcile()
    assert graph.thin_answers_pending == 0, "the stand-in must have answered thin"
    assert states(app, SEVEN) == ["ready"] * 7
    assert all(len(in_adobe(app, ns)) == 1 for ns in SEVEN)
    assert "partial listing" in caplog.text and "no longer exist" not in caplog.text


def test_an_empty_complete_listing_is_stopped_by_the_deletion_limit_and_allowed_by_the_cli(
    seven: App, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Item 6: an empty but successful listing marked 7 of 7 deleted. Empty and complete (0 rows of 0) IS
    complete, so it is the limit (RECONCILE_MAX_DELETE) that refuses it: none marked, an error logged."""
    app = seven
    set_env(app, monkeypatch, RECONCILE_MAX_DELETE="3", DELETE_CONNECTION_ON_NAMESPACE_DELETE="true")
    app.stack.resource_graph.clear()  # a subscription emptied (or a wrong scope): 0 rows of 0
    caplog.set_level(logging.INFO)
    reconcile()
    assert states(app, SEVEN) == ["ready"] * 7
    assert all(len(in_adobe(app, ns)) == 1 for ns in SEVEN)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("RECONCILE_MAX_DELETE" in e and "none marked deleted" in e for e in errors), errors
    summary = [r.getMessage() for r in caplog.records if "namespaces seen" in r.getMessage()]
    assert "7 gone (0 marked deleted)" in summary[-1]

    refused = cli(app, "reconcile")
    assert refused.returncode == 1 and _summary(refused.stdout)["marked deleted"] == 0
    assert "--allow-deletes" in refused.stderr
    too_few = cli(app, "reconcile", "--allow-deletes", "6")
    assert too_few.returncode == 1 and _summary(too_few.stdout)["marked deleted"] == 0
    assert states(app, SEVEN) == ["ready"] * 7
    allowed = cli(app, "reconcile", "--allow-deletes", "7")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert _summary(allowed.stdout)["marked deleted"] == 7
    assert states(app, SEVEN) == ["deleted"] * 7
    assert all(in_adobe(app, ns) == [] for ns in SEVEN)


def test_up_to_the_limit_is_marked(seven: App, monkeypatch: pytest.MonkeyPatch) -> None:
    app = seven
    set_env(app, monkeypatch, RECONCILE_MAX_DELETE="3")
    for name in SEVEN[:3]:
        app.stack.resource_graph.remove_namespace(name, MANAGED)
    reconcile()
    assert states(app, SEVEN) == ["deleted"] * 3 + ["ready"] * 4


def test_unmanaged_namespaces_are_never_adopted_nor_called_gone(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 2: a namespace in a subscription outside AZURE_SUBSCRIPTION_IDS: its connection (made over HTTP) is
    never marked deleted nor deleted in Adobe, and after storage is lost it is not adopted."""
    set_env(
        app,
        monkeypatch,
        AZURE_SUBSCRIPTION_IDS=MANAGED,
        RECONCILE_DELETE="true",
        DELETE_CONNECTION_ON_NAMESPACE_DELETE="true",
    )
    graph = app.stack.resource_graph
    graph.add_namespace("contoso-ours", subscription_id=MANAGED)
    graph.add_namespace("contoso-theirs", subscription_id=UNMANAGED)
    ids = {}
    for name in ("contoso-ours", "contoso-theirs"):
        app.stack.add_eventhubs_namespace(name)
        ids[name] = body(app.post({"namespace": name}))["connectionId"]
    reconcile()
    assert app.entity("contoso-theirs").get("ResourceId") in (None, "")  # never seen where this app manages
    age_records(app, seconds=3600)
    reconcile()
    reconcile()
    assert states(app, ["contoso-ours", "contoso-theirs"]) == ["ready", "ready"]
    assert [c["id"] for c in in_adobe(app, "contoso-theirs")] == [ids["contoso-theirs"]]

    set_env(app, monkeypatch, CONNECTIONS_TABLE="R" + uuid.uuid4().hex[:16])  # storage recreated
    reconcile()
    assert app.get("contoso-theirs").status_code == 404  # not adopted
    assert body(app.get("contoso-ours"))["connectionId"] == ids["contoso-ours"]  # adopted
    assert [c["id"] for c in in_adobe(app, "contoso-theirs")] == [ids["contoso-theirs"]]
    app.drain_requests()
    assert app.get("contoso-theirs").status_code == 404


def test_a_vanished_namespace_has_its_dataflows_torn_down_by_reconcile(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 3: reconcile marked only the connection; the dataflow stayed `ready`, its flow in Adobe, and Adobe
    refused the connection's delete (1418-400)."""
    set_env(
        app,
        monkeypatch,
        AZURE_SUBSCRIPTION_IDS=MANAGED,
        RECONCILE_DELETE="true",
        DELETE_CONNECTION_ON_NAMESPACE_DELETE="true",
    )
    name, hub = "contoso-vanishing", "clicks"
    app.stack.seed_namespace(name, event_hubs=[hub], subscription_id=MANAGED)
    dataset = app.stack.adobe.add_dataset("Clickstream events")
    assert app.post_dataflow({"namespace": name, "eventHubName": hub, "datasetId": dataset}).status_code == 201
    reconcile()
    age_records(app, seconds=3600)
    app.stack.resource_graph.remove_namespace(name, MANAGED)
    reconcile()
    assert body(app.get_dataflow(name, hub))["state"] == "deleted"
    assert body(app.get(name))["state"] == "deleted" and body(app.get(name))["lastError"] is None
    adobe = app.stack.adobe
    assert (adobe.flows(), adobe.source_connections(), adobe.target_connections(), in_adobe(app, name)) == (
        [],
        [],
        [],
        [],
    )
    # Its late delete event changes nothing more.
    app.event(namespace_event("delete", name, event_time=datetime.now(UTC), subscription_id=MANAGED))
    assert body(app.get_dataflow(name, hub))["state"] == "deleted"
