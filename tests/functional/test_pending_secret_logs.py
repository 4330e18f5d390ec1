"""A namespace event before its secret (the usual order in Azure) is `pending_secret` logged at INFO, never a
warning or "failed permanently" (contract: "Every event, secret and record reaches its end state"; issue 20,
item 7). A request someone waits for still fails with 422 SecretNotFound, logged as a failure."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from devstack.events import namespace_event
from shared.logs import LOGGER_NAME
from tests.functional.conftest import App, body

NS = "contoso-newborn"


def _app_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER_NAME]


def _assert_pending_at_info(caplog: pytest.LogCaptureFixture) -> None:
    lines = _app_lines(caplog)
    assert lines, "the invocation logged nothing"
    assert not [r.getMessage() for r in lines if r.levelno >= logging.WARNING]
    assert "failed permanently" not in caplog.text
    outcomes = [r for r in lines if getattr(r, "outcome", None) == "pending_secret"]
    assert len(outcomes) == 1, [r.getMessage() for r in lines]
    [outcome] = outcomes
    assert outcome.levelno == logging.INFO
    assert (outcome.namespace, outcome.state, outcome.error_code) == (NS, "pending_secret", "SecretNotFound")  # type: ignore[attr-defined]


def test_a_namespace_event_before_its_secret_is_pending_at_info(app: App, caplog: pytest.LogCaptureFixture) -> None:
    caplog.clear()
    app.event(namespace_event("write", NS, event_time=datetime.now(UTC)))
    assert app.entity(NS)["State"] == "pending_secret"
    _assert_pending_at_info(caplog)


def test_a_reconcile_message_before_the_secret_is_pending_at_info(app: App, caplog: pytest.LogCaptureFixture) -> None:
    caplog.clear()
    app.enqueue({"action": "reconcile", "namespace": NS, "sandbox": "prod"})
    assert app.entity(NS)["State"] == "pending_secret"
    _assert_pending_at_info(caplog)


def test_a_request_without_the_secret_is_still_a_failure(app: App, caplog: pytest.LogCaptureFixture) -> None:
    caplog.clear()
    response = app.post({"namespace": NS})
    assert response.status_code == 422 and body(response)["error"]["code"] == "SecretNotFound"
    app.enqueue({"namespace": NS})
    assert "queue message" in caplog.text and "failed permanently" in caplog.text
    assert [r for r in _app_lines(caplog) if r.levelno == logging.WARNING and "SecretNotFound" in r.getMessage()]
