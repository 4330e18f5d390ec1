"""The fault matrix: every dependency misbehaving in turn, against the stand-ins, in bounded time.

Each case injects one fault, sends one create (`POST /api/connections`), and checks:
  - the outcome: HTTP status, error code, Retry-After, Adobe's code where Adobe refused;
  - how many calls each stand-in saw (Flow Service creates and lookups, IMS token requests,
    authorised Key Vault reads of the namespace's secret);
  - that Adobe holds at most one connection and the record is consistent (`ready` with the Adobe
    id, or `failed` with the error as `lastError`, or no record when nothing was claimed);
  - nothing lost or doubled: once the fault is gone the same request succeeds, Adobe holds exactly
    one connection, the record is `ready` with its id, and at most one 201 was ever answered.

The app runs with HTTP_TIMEOUT_SECONDS=1.5 and RETRY_BUDGET_SECONDS=6 (see conftest.py), so the
slowest case (a dependency that never answers) gives up within about 8 s.
"""

from __future__ import annotations

import email.utils
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError

from devstack.azurite import free_port
from devstack.faults import Fault
from shared.runtime import reset_runtime
from tests.functional.conftest import App, body

NS = "contoso-faults"
SAS_SECRET = f"eventhubs-sas-{NS}"
CREATE = r"/connections$"
LOOKUP = r"/connections\?"
#: budget (6 s) + one HTTP timeout (an attempt started just before the end) + slack
MAX_SECONDS = 8.5

GATEWAY_401 = {"error_code": "401013", "message": "Oauth token is not valid"}
GATEWAY_429 = {"error_code": "429050", "message": "Too many requests"}


def problem(status: int, code: str, detail: str) -> dict[str, Any]:
    """An error in Adobe's problem shape (with `report`)."""
    return {
        "type": f"https://ns.adobe.com/aep/errors/FLOW-{code}",
        "title": "Error",
        "status": status,
        "detail": detail,
        "report": {"tenantInfo": {"sandboxName": "prod"}, "additionalContext": None},
    }


def kv_error(status: int, code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


# -- what each stand-in saw --------------------------------------------------------------------


def creates(app: App) -> int:
    return len(app.stack.adobe.calls("POST", CREATE))


def lookups(app: App) -> int:
    return len(app.stack.adobe.calls("GET", LOOKUP))


def tokens(app: App) -> int:
    return app.stack.adobe.token_request_count


def kv_reads(app: App, name: str = SAS_SECRET) -> int:
    """Authorised GETs of one secret (the SDK's token-less challenge request is not a read)."""
    return len(
        [r for r in app.stack.keyvault.calls("GET", rf"/secrets/{name}(/|\?|$)") if r.headers.get("authorization")]
    )


def counts(app: App) -> dict[str, int]:
    return {"creates": creates(app), "lookups": lookups(app), "tokens": tokens(app), "kv": kv_reads(app)}


def entity_or_none(app: App, namespace: str = NS) -> dict[str, Any] | None:
    try:
        return app.entity(namespace)
    except ResourceNotFoundError:
        return None


# -- the matrix --------------------------------------------------------------------------------

Arrange = Callable[[App, pytest.MonkeyPatch], None]


def nothing(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    return None


def clear_faults(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    app.stack.adobe.clear_faults()
    app.stack.keyvault.faults.clear()
    app.stack.identity.faults.clear()


@dataclass(frozen=True)
class Case:
    """One fault: how to inject it, what must come out, and how many calls each stand-in may see."""

    id: str
    arrange: Arrange
    status: int
    code: str | None = None
    creates: tuple[int, int] = (1, 1)
    lookups: tuple[int, int] = (0, 0)
    tokens: tuple[int, int] = (1, 1)
    kv: tuple[int, int] = (1, 1)
    retry_after: tuple[int, int] | None = None  # bounds of the Retry-After header, when one is due
    min_seconds: float = 0.0
    adobe_code: str | None = None
    message_has: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # more fields of the error body
    recover: Arrange = clear_faults


def clear_faults_and_wait(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """As `clear_faults`, then as if the Retry-After asked for had passed (a fresh worker: the throttle of
    the one that was refused holds that worker's creates back until then)."""
    clear_faults(app, monkeypatch)
    reset_runtime()


def platform(*faults: Fault) -> Arrange:
    def arrange(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
        for fault in faults:
            app.stack.adobe.faults.add(fault)

    return arrange


def ims(*faults: Fault) -> Arrange:
    def arrange(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
        for fault in faults:
            app.stack.adobe.ims_faults.add(fault)

    return arrange


def vault(*faults: Fault) -> Arrange:
    def arrange(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
        for fault in faults:
            app.stack.keyvault.faults.add(fault)

    return arrange


def http_date_in(seconds: float) -> str:
    return email.utils.formatdate(time.time() + seconds, usegmt=True)


def retry_after_http_date(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    # Computed when the case runs, not at import.
    app.stack.adobe.faults.add(
        Fault("POST", CREATE, status=429, body=GATEWAY_429, headers={"Retry-After": http_date_in(2.2)})
    )


def platform_refused(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """ADOBE_PLATFORM_URL on a loopback port where nothing listens: every connect is refused."""
    monkeypatch.setenv("ADOBE_PLATFORM_URL", f"http://127.0.0.1:{free_port()}")
    reset_runtime()


def platform_back(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADOBE_PLATFORM_URL", app.env["ADOBE_PLATFORM_URL"])
    reset_runtime()


def wrong_client_secret(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    app.stack.keyvault.set_secret("adobe-client-secret", "p8e-" + secrets.token_urlsafe(24))  # a wrong one


def right_client_secret(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    app.stack.seed_adobe_credentials()
    reset_runtime()  # a new worker: the wrong secret is cached for SECRET_CACHE_SECONDS in this one


def expired_token(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """A first create fetches a token; then IMS forgets every token (Platform answers 401 401013)."""
    app.stack.add_eventhubs_namespace("contoso-warmup")
    assert app.post({"namespace": "contoso-warmup"}).status_code == 201  # token and prod's spec read
    app.stack.adobe.expire_all_tokens()
    app.stack.adobe.reset_recording()
    app.stack.keyvault.reset_recording()


CASES = [
    # -- Adobe Flow Service: throttling ----------------------------------------------------------
    Case(
        "adobe-429-retry-after-1s->201",
        platform(Fault("POST", CREATE, status=429, body=GATEWAY_429, headers={"Retry-After": "1"})),
        201,
        creates=(2, 2),
        min_seconds=0.95,
    ),
    Case("adobe-429-retry-after-http-date->201", retry_after_http_date, 201, creates=(2, 2), min_seconds=0.95),
    Case(
        "adobe-429x2-no-retry-after->201",
        platform(Fault("POST", CREATE, status=429, body=GATEWAY_429, times=2)),
        201,
        creates=(3, 3),
    ),
    Case(
        "adobe-429-retry-after-120s-beyond-budget->503",
        platform(Fault("POST", CREATE, status=429, body=GATEWAY_429, headers={"Retry-After": "120"}, times=-1)),
        503,
        "DependencyUnavailable",
        creates=(1, 1),
        retry_after=(20, 20),  # capped at the policy's 20 s
        extra={"dependency": "Adobe Flow Service"},
        recover=clear_faults_and_wait,
    ),
    # -- Adobe Flow Service: server errors (the create may have happened: look up before repeating)
    *[
        Case(
            f"adobe-{status}-once->lookup->201",
            platform(Fault("POST", CREATE, status=status, body=problem(status, f"1100-{status}", "Upstream error"))),
            201,
            creates=(2, 2),
            lookups=(2, 2),  # by the stored name, then the identity's content under any name: none
        )
        for status in (500, 502, 503, 504)
    ],
    Case(
        "adobe-503-persistent->503-within-budget",
        platform(Fault("POST", CREATE, status=503, body=problem(503, "1103-503", "Try again"), times=-1)),
        503,
        "DependencyUnavailable",
        creates=(3, 6),
        lookups=(4, 10),  # two listings per lookup (stored name, then content under any name)
        retry_after=(5, 30),
        message_has=("Adobe Flow Service", "503"),
        extra={"dependency": "Adobe Flow Service"},
    ),
    Case(
        "adobe-503-persistent-retry-after-0->503-after-6-attempts",
        platform(Fault("POST", CREATE, status=503, headers={"Retry-After": "0"}, times=-1)),
        503,
        "DependencyUnavailable",
        creates=(6, 6),
        lookups=(10, 10),
        retry_after=(5, 5),
    ),
    Case(
        "adobe-create-answer-lost(commit-then-timeout)->lookup-adopts->200",
        platform(Fault("POST", CREATE, action="commit_then_stall", delay=2.5)),
        200,
        creates=(1, 1),
        lookups=(1, 1),
        min_seconds=1.4,
    ),
    Case(
        "adobe-create-connection-dropped->lookup->201",
        platform(Fault("POST", CREATE, action="drop")),
        201,
        creates=(2, 2),
        lookups=(2, 2),
    ),
    Case(
        "adobe-read-timeout-on-lookup-GET->GET-retried->200",
        platform(
            Fault("POST", CREATE, action="commit_then_stall", delay=2.5),
            Fault("GET", LOOKUP, action="stall", delay=2.5),
        ),
        200,
        creates=(1, 1),
        lookups=(2, 2),
        min_seconds=2.9,
    ),
    Case(
        "adobe-connection-refused->503",
        platform_refused,
        503,
        "DependencyUnavailable",
        creates=(0, 0),  # counted by the client (extra["flow_calls"]): nothing listens
        retry_after=(5, 30),
        message_has=("connection failed",),
        extra={"dependency": "Adobe Flow Service"},
        recover=platform_back,
    ),
    # -- Adobe IMS token -------------------------------------------------------------------------
    Case(
        "adobe-401-once->token-refreshed->201",
        platform(Fault("POST", CREATE, status=401, body=GATEWAY_401)),
        201,
        creates=(2, 2),
        tokens=(2, 2),
    ),
    Case("adobe-token-expired->token-refreshed->201", expired_token, 201, creates=(2, 2), tokens=(1, 1), kv=(1, 1)),
    Case(
        "adobe-401-twice->502-AdobeAuthenticationFailed",
        platform(Fault("POST", CREATE, status=401, body=GATEWAY_401, times=2)),
        502,
        "AdobeAuthenticationFailed",
        creates=(2, 2),
        tokens=(2, 2),
        adobe_code="401013",
    ),
    Case(
        "ims-down-503-persistent->503",
        ims(Fault("POST", r"/ims/token", status=503, body={"error": "server_error"}, times=-1)),
        503,
        "DependencyUnavailable",
        creates=(0, 0),
        # Two loops share the budget: the connection-spec read gives up on IMS (and falls back to
        # the documented spec name), then the create's own token fetch tries IMS again.
        tokens=(3, 8),
        retry_after=(5, 30),
        extra={"dependency": "Adobe IMS"},
    ),
    Case(
        "ims-500-once->201",
        ims(Fault("POST", r"/ims/token", status=500, body={"error": "server_error"})),
        201,
        tokens=(2, 2),
    ),
    Case(
        "ims-read-timeout-once->201",
        ims(Fault("POST", r"/ims/token", action="stall", delay=2.5)),
        201,
        tokens=(2, 2),
        min_seconds=1.4,
    ),
    Case(
        "ims-refuses-client-secret->502-AdobeAuthenticationFailed",
        wrong_client_secret,
        502,
        "AdobeAuthenticationFailed",
        creates=(0, 0),
        tokens=(1, 1),
        adobe_code="invalid_client",
        message_has=("adobe-client-secret",),
        recover=right_client_secret,
    ),
    Case(
        "ims-400-invalid-client-persistent->502-no-retry",
        ims(Fault("POST", r"/ims/token", status=400, body={"error": "invalid_client"}, times=-1)),
        502,
        "AdobeAuthenticationFailed",
        creates=(0, 0),
        tokens=(1, 1),
        adobe_code="invalid_client",
    ),
    # -- Adobe refusals in both documented shapes --------------------------------------------------
    Case(
        "adobe-400-problem-shape->502-no-retry",
        platform(Fault("POST", CREATE, status=400, body=problem(400, "1401-400", "Missing required auth params"))),
        502,
        "AdobeRequestRejected",
        adobe_code="1401-400",
        message_has=("Missing required auth params",),
    ),
    Case(
        "adobe-403-gateway-shape->502-no-retry",
        platform(Fault("POST", CREATE, status=403, body={"error_code": "403003", "message": "Api Key is invalid"})),
        502,
        "AdobeRequestRejected",
        adobe_code="403003",
        message_has=("Api Key is invalid",),
    ),
    # -- Key Vault -------------------------------------------------------------------------------
    Case(
        "kv-404-namespace-secret->422-SecretNotFound",
        lambda app, mp: app.stack.keyvault.delete_secret(SAS_SECRET),
        422,
        "SecretNotFound",
        creates=(0, 0),
        tokens=(0, 0),
        message_has=(SAS_SECRET,),
        extra={"secret": SAS_SECRET},
        recover=lambda app, mp: app.stack.add_eventhubs_namespace(NS),
    ),
    Case(
        "kv-403->500-ConfigurationError-naming-vault-and-role",
        vault(
            Fault(
                "GET",
                rf"/secrets/{SAS_SECRET}",
                status=403,
                body=kv_error(403, "Forbidden", "Caller is not authorized to perform action on resource."),
                times=-1,
            )
        ),
        500,
        "ConfigurationError",
        creates=(0, 0),
        tokens=(0, 0),
        message_has=("Key Vault Secrets User", "127.0.0.1"),
        extra={"setting": "KEY_VAULT_URL"},
    ),
    Case(
        "kv-429-retry-after-1s->201",
        vault(
            Fault(
                "GET",
                rf"/secrets/{SAS_SECRET}",
                status=429,
                body=kv_error(429, "Throttled", "Too many requests"),
                headers={"Retry-After": "1"},
            )
        ),
        201,
        kv=(2, 2),
        min_seconds=0.95,
    ),
    Case(
        "kv-429-persistent->503",
        vault(
            Fault(
                "GET",
                rf"/secrets/{SAS_SECRET}",
                status=429,
                body=kv_error(429, "Throttled", "Too many requests"),
                times=-1,
            )
        ),
        503,
        "DependencyUnavailable",
        creates=(0, 0),
        tokens=(0, 0),
        kv=(3, 6),
        retry_after=(5, 30),
        extra={"dependency": "Key Vault"},
    ),
    Case(
        "kv-500-once->201",
        vault(Fault("GET", rf"/secrets/{SAS_SECRET}", status=500, body=kv_error(500, "InternalError", "Oops"))),
        201,
        kv=(2, 2),
    ),
    Case(
        "kv-503-persistent-retry-after-0->503-after-6-attempts",
        vault(
            Fault(
                "GET",
                rf"/secrets/{SAS_SECRET}",
                status=503,
                body=kv_error(503, "ServiceUnavailable", "Busy"),
                headers={"Retry-After": "0"},
                times=-1,
            )
        ),
        503,
        "DependencyUnavailable",
        creates=(0, 0),
        tokens=(0, 0),
        kv=(6, 6),
        retry_after=(5, 5),
    ),
    Case(
        "kv-slow-once(read-timeout)->201",
        vault(Fault("GET", rf"/secrets/{SAS_SECRET}", action="stall", delay=2.5)),
        201,
        kv=(2, 2),
        min_seconds=1.4,
    ),
    Case(
        "kv-slow-persistent->503-within-budget",
        vault(Fault("GET", rf"/secrets/{SAS_SECRET}", action="stall", delay=2.5, times=-1)),
        503,
        "DependencyUnavailable",
        creates=(0, 0),
        tokens=(0, 0),
        kv=(2, 5),
        retry_after=(5, 30),
        min_seconds=4.0,
        extra={"dependency": "Key Vault"},
    ),
]


@pytest.mark.timeout(25)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault(app: App, monkeypatch: pytest.MonkeyPatch, case: Case) -> None:
    app.stack.add_eventhubs_namespace(NS)
    case.arrange(app, monkeypatch)

    started = time.monotonic()
    response = app.post({"namespace": NS})
    elapsed = time.monotonic() - started
    payload = body(response)
    seen = counts(app)
    flow_calls = app.runtime.adobe.calls
    print(
        f"\nFAULT {case.id}: {response.status_code} {payload.get('error', {}).get('code', '')} "
        f"retry-after={response.headers.get('Retry-After')} in {elapsed:.2f}s; {seen} flow_calls={flow_calls}"
    )

    # outcome
    assert response.status_code == case.status, payload
    assert response.mimetype == "application/json"
    assert case.min_seconds <= elapsed < MAX_SECONDS, f"took {elapsed:.2f}s"
    if case.status >= 400:
        error = payload["error"]
        assert error["code"] == case.code and isinstance(error["message"], str) and error["message"]
        for text in case.message_has:
            assert text in error["message"]
        for key, value in case.extra.items():
            assert error[key] == value
        if case.adobe_code is not None:
            assert error["adobe"]["code"] == case.adobe_code
            assert error["adobe"]["requestId"], "Adobe's x-request-id is surfaced"
        if case.retry_after is not None:
            low, high = case.retry_after
            assert low <= int(response.headers["Retry-After"]) <= high
        elif case.status in (409, 503):
            pytest.fail("a 409/503 must carry Retry-After")
    else:
        assert payload["state"] == "ready" and payload["created"] is (case.status == 201)

    # calls each stand-in saw
    for name, (low, high) in (
        ("creates", case.creates),
        ("lookups", case.lookups),
        ("tokens", case.tokens),
        ("kv", case.kv),
    ):
        assert low <= seen[name] <= high, f"{name}: {seen[name]} not in [{low}, {high}] ({seen})"
    if case.arrange is platform_refused:
        # connection attempts, counted by the client: the spec read's, then the create's (shared budget)
        assert 3 <= flow_calls <= 8, f"{flow_calls} connection attempts"

    # at most one connection; the record agrees with the answer
    connections = [c for c in app.stack.adobe.connections("prod") if c["auth"]["params"]["namespace"] == NS]
    assert len(connections) <= 1
    entity = entity_or_none(app)
    if response.status_code < 300:
        assert entity is not None and entity["State"] == "ready"
        assert entity["ConnectionId"] == payload["connectionId"] == connections[0]["id"]
    elif entity is not None:
        assert entity["State"] == "failed", entity
        assert entity["LastErrorCode"] == case.code and entity.get("LastErrorMessage")
        assert "LeaseUntil" not in entity and "Owner" not in entity, "the claim is released"

    # nothing lost, nothing doubled: with the fault gone the same request succeeds once
    case.recover(app, monkeypatch)
    again = app.post({"namespace": NS})
    assert again.status_code in (200, 201), body(again)
    answers = [response.status_code, again.status_code]
    assert answers.count(201) <= 1, f"two 201 answers for one connection: {answers}"
    if response.status_code < 300:
        assert again.status_code == 200
    [connection] = [c for c in app.stack.adobe.connections("prod") if c["auth"]["params"]["namespace"] == NS]
    assert body(again)["connectionId"] == connection["id"]
    entity = app.entity(NS)
    assert entity["State"] == "ready" and entity["ConnectionId"] == connection["id"]
    assert "LastErrorCode" not in entity


# -- storage (Azurite) ---------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_storage_stopped_is_503_then_recovers(app: App) -> None:
    """Azurite stopped between two requests: 503 DependencyUnavailable with Retry-After, fast; no Adobe call."""
    app.stack.add_eventhubs_namespace("contoso-before")
    app.stack.add_eventhubs_namespace(NS)
    assert app.post({"namespace": "contoso-before"}).status_code == 201
    assert app.stack.azurite is not None
    app.stack.azurite.stop()
    try:
        started = time.monotonic()
        response = app.post({"namespace": NS})
        elapsed = time.monotonic() - started
        read = app.get("contoso-before")
        print(f"\nFAULT azurite-stopped: {response.status_code} in {elapsed:.2f}s; GET {read.status_code}")
        assert response.status_code == 503, body(response)
        assert body(response)["error"]["code"] == "DependencyUnavailable"
        assert int(response.headers["Retry-After"]) >= 1
        assert elapsed < MAX_SECONDS
        assert read.status_code == 503 and "Retry-After" in read.headers
        assert app.adobe_creates() == 1, "no Adobe call without a record to claim"
    finally:
        app.stack.azurite.start_again()
    # Azurite keeps its data in memory: the restarted one is empty (the table too).
    reset_runtime()  # a new worker creates the table again
    again = app.post({"namespace": NS})
    assert again.status_code == 201, body(again)
    assert len(app.stack.adobe.connections("prod")) == 2  # one per namespace
    assert app.entity(NS)["State"] == "ready"


@pytest.mark.timeout(11)
def test_storage_hung_is_503_within_the_budget(app: App) -> None:
    """Azurite frozen (SIGSTOP: connections accepted, never answered): 503 within the budget, no Adobe call."""
    app.stack.add_eventhubs_namespace(NS)
    app.stack.add_eventhubs_namespace("contoso-before")
    assert app.post({"namespace": "contoso-before"}).status_code == 201
    assert app.stack.azurite is not None
    app.stack.azurite.pause()
    try:
        started = time.monotonic()
        response = app.post({"namespace": NS})
        elapsed = time.monotonic() - started
    finally:
        app.stack.azurite.resume()
    print(f"\nFAULT azurite-paused: {response.status_code} in {elapsed:.2f}s")
    assert response.status_code == 503, body(response)
    assert body(response)["error"]["code"] == "DependencyUnavailable"
    assert "Retry-After" in response.headers
    assert app.adobe_creates() == 1
    assert elapsed < MAX_SECONDS, f"a hung storage held the request for {elapsed:.1f}s"
    # storage back: the same request succeeds once
    again = app.post({"namespace": NS})
    assert again.status_code == 201
    assert app.entity(NS)["State"] == "ready"


@pytest.mark.timeout(30)
def test_storage_stopped_while_adobe_creates(app: App) -> None:
    """Azurite stops after the claim, while Flow Service creates: 503 (never a 2xx or a 500), one connection."""
    app.stack.add_eventhubs_namespace(NS)
    app.stack.adobe.faults.add(Fault("POST", CREATE, action="commit_then_stall", delay=1.0))
    assert app.stack.azurite is not None
    azurite = app.stack.azurite
    stopper = threading.Timer(0.4, azurite.stop)
    stopper.start()
    try:
        started = time.monotonic()
        response = app.post({"namespace": NS})
        elapsed = time.monotonic() - started
    finally:
        stopper.join()
        azurite.start_again()
    print(f"\nFAULT azurite-stopped-mid-create: {response.status_code} in {elapsed:.2f}s; creates {creates(app)}")
    assert response.status_code == 503, body(response)
    assert body(response)["error"]["code"] == "DependencyUnavailable"
    assert "Retry-After" in response.headers
    assert elapsed < MAX_SECONDS
    assert creates(app) == 1 and len(app.stack.adobe.connections("prod")) == 1


@pytest.mark.timeout(30)
def test_storage_restarted_empty_under_a_warm_worker(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    assert app.post({"namespace": "contoso-before"}).status_code == 422  # the worker is warm
    assert app.stack.azurite is not None
    app.stack.azurite.stop()
    app.stack.azurite.start_again()
    response = app.post({"namespace": NS})
    assert response.status_code in (201, 503), body(response)


@pytest.mark.timeout(30)
def test_queue_redelivery_after_an_uncertain_create_adopts_it(app: App) -> None:
    """The create reached Adobe but its answer was lost and the lookup failed too: the invocation raises
    (the host redelivers); the redelivery looks the name up first and adopts: one connection, no second POST."""
    from shared.errors import DependencyUnavailable

    app.stack.add_eventhubs_namespace(NS)
    app.stack.adobe.faults.add(Fault("POST", CREATE, action="commit_then_stall", delay=2.5))
    app.stack.adobe.faults.add(Fault("GET", LOOKUP, status=503, headers={"Retry-After": "0"}, times=-1))
    with pytest.raises(DependencyUnavailable):
        app.enqueue({"namespace": NS}, message_id="msg-uncertain")
    assert creates(app) == 1 and len(app.stack.adobe.connections("prod")) == 1
    entity = app.entity(NS)
    assert entity["State"] == "failed" and entity["MayExist"] is True
    app.stack.adobe.clear_faults()
    app.stack.adobe.reset_recording()
    app.enqueue({"namespace": NS}, message_id="msg-uncertain")  # the redelivery
    print(f"\nFAULT queue-uncertain-create-redelivered: creates {creates(app)} lookups {lookups(app)}")
    assert creates(app) == 0 and lookups(app) == 1
    [connection] = app.stack.adobe.connections("prod")
    entity = app.entity(NS)
    assert entity["State"] == "ready" and entity["ConnectionId"] == connection["id"]


# -- secret hygiene under faults, with every logger at DEBUG -----------------------------------


@pytest.fixture
def every_logger_at_debug() -> Iterator[None]:
    """Every logger (the SDKs', urllib3's, the ones the runtime quiets) at DEBUG for one test."""
    manager = logging.Logger.manager
    names = [n for n, v in manager.loggerDict.items() if isinstance(v, logging.Logger)]
    names += ["azure", "azure.core.pipeline.policies.http_logging_policy", "azure.identity", "urllib3", "msal"]
    saved = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.timeout(60)
def test_no_secret_leaks_under_faults_at_debug(
    app: App, monkeypatch: pytest.MonkeyPatch, every_logger_at_debug: None
) -> None:
    """Creates, token refreshes, refusals (Adobe echoing the key), IMS refusal, a queue failure:
    the conftest leak check then searches every log line (all loggers at DEBUG, tracebacks included),
    response, record and raised exception for every secret value the stack handed out."""
    from shared.errors import DependencyUnavailable

    secret_name, connection_string, key = app.stack.add_eventhubs_namespace(NS)
    app.stack.add_aad_secret("contoso-aad-one")
    app.stack.adobe.faults.add(Fault("POST", CREATE, status=401, body=GATEWAY_401))
    assert app.post({"namespace": NS}).status_code == 201  # with a token refresh
    app.stack.adobe.expire_all_tokens()
    echoed = problem(400, "1401-400", f"Invalid sasKey {key} in {connection_string}")
    app.stack.add_eventhubs_namespace("contoso-echo", key=key)
    app.stack.adobe.faults.add(Fault("POST", CREATE, status=400, body=echoed))
    refused = app.post({"namespace": "contoso-echo"})
    assert refused.status_code == 502 and key not in refused.get_body().decode()
    assert app.post({"namespace": "contoso-aad-one", "authType": "aad"}).status_code == 201
    app.stack.keyvault.set_secret(f"eventhubs-sas-{'contoso-malformed'}", f"SharedAccessKey={key};Endpoint=nope")
    assert app.post({"namespace": "contoso-malformed"}).status_code == 422
    app.stack.adobe.faults.add(Fault("POST", CREATE, status=503, headers={"Retry-After": "0"}, times=-1))
    app.stack.add_eventhubs_namespace("contoso-queued")
    with pytest.raises(DependencyUnavailable) as raised:
        app.enqueue({"namespace": "contoso-queued"})
    for secret in app.stack.known_secret_values():
        assert secret not in str(raised.value) and secret not in repr(raised.value.args)
    wrong_client_secret(app, monkeypatch)  # stored in the vault; the worker has it cached
    reset_runtime()
    app.stack.adobe.clear_faults()
    app.stack.add_eventhubs_namespace("contoso-ims-refused")
    assert app.post({"namespace": "contoso-ims-refused"}).status_code == 502
    assert secret_name  # the leak check runs in the fixture's teardown


@pytest.mark.timeout(20)
def test_identity_endpoint_down_is_503(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    app.stack.identity.faults.add(Fault(None, r"", status=503, body={"error": "unavailable"}, times=-1))
    started = time.monotonic()
    response = app.post({"namespace": NS})
    elapsed = time.monotonic() - started
    print(
        f"\nFAULT identity-503-persistent: {response.status_code} {body(response)['error']['code']} in {elapsed:.2f}s"
    )
    assert elapsed < MAX_SECONDS
    assert app.adobe_creates() == 0
    assert response.status_code == 503 and "Retry-After" in response.headers


def test_a_429_holds_back_the_workers_other_creates_until_its_retry_after(app: App) -> None:
    """Adobe's Retry-After is honoured by the worker, not only by the refused call: a create started while
    another waits out its 429 waits too, instead of finding the limit again (so one 429 in all)."""
    names = ("contoso-throttle-a", "contoso-throttle-b")
    for name in names:
        app.stack.add_eventhubs_namespace(name)
    app.stack.adobe.faults.add(Fault("POST", CREATE, status=429, body=GATEWAY_429, headers={"Retry-After": "2"}))
    answers: dict[str, int] = {}

    def create(name: str) -> None:
        answers[name] = app.post({"namespace": name}).status_code

    first = threading.Thread(target=create, args=(names[0],))
    first.start()
    for _ in range(100):  # until the 429 is answered
        if app.stack.adobe.calls("POST", CREATE):
            break
        time.sleep(0.02)
    time.sleep(0.2)
    create(names[1])
    first.join(timeout=30)
    assert answers == dict.fromkeys(names, 201)
    refused, *later = app.stack.adobe.calls("POST", CREATE)
    assert refused.fault is not None and len(later) == 2  # one 429, then one create each
    assert all(call.at - refused.at >= 1.9 for call in later), [call.at - refused.at for call in later]


def test_a_burst_against_the_rate_limit_costs_about_one_post_per_create(app: App) -> None:
    """24 concurrent creates against Adobe's 5 creates/s: the waiters leave in paced slots after the Retry-After
    instead of all at once, so the burst costs at most 1.3 POSTs per create (it cost 2.4 when every waiter woke
    at the same instant), every create answers 201 and none is made twice."""
    names = [f"contoso-burst-{i:02d}" for i in range(24)]
    for name in names:
        app.stack.add_eventhubs_namespace(name)
    app.stack.add_eventhubs_namespace("contoso-burst-warm")
    assert app.post({"namespace": "contoso-burst-warm"}).status_code == 201  # a warm worker
    app.stack.adobe.reset_recording()
    limit = app.stack.adobe.limit_creates(5, burst=5)
    answers: dict[str, int] = {}
    barrier = threading.Barrier(len(names))

    def create(name: str) -> None:
        barrier.wait()
        answers[name] = app.post({"namespace": name}).status_code

    workers = [threading.Thread(target=create, args=(name,)) for name in names]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    posts = len(app.stack.adobe.calls("POST", CREATE))
    print(f"\nBURST 24 creates at 5/s: {posts} POSTs, {limit.refused} answered 429")
    assert answers == dict.fromkeys(names, 201)
    assert posts <= 1.3 * len(names), (posts, limit.refused)
    made = [c["auth"]["params"]["namespace"] for c in app.stack.adobe.connections()]
    assert sorted(n for n in made if n in names) == sorted(names)  # exactly once each


def test_a_retry_after_beyond_the_budget_answers_503_at_once_without_calling_adobe(app: App) -> None:
    """The worker owes Adobe a wait longer than the invocation has left: it answers 503 with a Retry-After at once."""
    for name in ("contoso-throttle-c", "contoso-throttle-d"):
        app.stack.add_eventhubs_namespace(name)
    app.stack.adobe.faults.add(Fault("POST", CREATE, status=429, body=GATEWAY_429, headers={"Retry-After": "120"}))
    assert app.post({"namespace": "contoso-throttle-c"}).status_code == 503
    started = time.monotonic()
    response = app.post({"namespace": "contoso-throttle-d"})
    assert response.status_code == 503 and time.monotonic() - started < 1.0
    assert 5 <= int(response.headers["Retry-After"]) <= 20
    assert len(app.stack.adobe.calls("POST", CREATE)) == 1  # the second create was never sent
