"""Adobe's refusals, as the Flow Service client reports them: both documented body shapes, no retry.

The client runs on a scripted session (no network) and a fake clock (no sleeping).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from shared.adobe import AdobeClient, AdobeCredentials, connection_body
from shared.claims import create_once
from shared.errors import AdobeAuthenticationFailed, AdobeRejected
from shared.identity import connection_identity
from shared.models import ConnectionKey
from shared.retry import Deadline, Retrier, RetryPolicy
from shared.sensitive import Secret
from tests.unit.fakes import FakeTime

SAS_KEY = "c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWxlYWstMDAwMDA="
CLIENT_SECRET = "p8e-Xq7Rk2vLm9TzW4bN8cYhQ3"
TOKEN = {"access_token": "eyJ-token", "token_type": "bearer", "expires_in": 86399}


def reply(status: int, payload: Any = None, headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    if isinstance(payload, dict | list):
        response._content = json.dumps(payload).encode()
        response.headers["Content-Type"] = "application/json"
    else:
        response._content = payload or b""
    response.headers["x-request-id"] = f"req-{status}"
    response.headers.update(headers or {})
    return response


class ScriptedSession:
    """Answers each route from its own script; the last answer of a script repeats."""

    def __init__(self, **scripts: list[requests.Response]) -> None:
        self.scripts = scripts
        self.sent: list[tuple[str, str]] = []

    @staticmethod
    def route(method: str, url: str, kwargs: dict[str, Any]) -> str:
        if "/ims/token" in url:
            return "token"
        if method == "POST" and url.endswith("/connections"):
            return "create"
        if method == "GET" and url.endswith("/connections") and kwargs.get("params"):
            return "lookup"
        return "other"

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        route = self.route(method, url, kwargs)
        self.sent.append((route, method))
        script = self.scripts[route]
        return script.pop(0) if len(script) > 1 else script[0]

    def count(self, route: str) -> int:
        return sum(1 for sent, _ in self.sent if sent == route)


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


def client(session: ScriptedSession, clock: FakeTime) -> AdobeClient:
    retrier = Retrier(
        RetryPolicy(),
        monotonic=clock.monotonic,
        wall_clock=lambda: datetime(2026, 11, 26, tzinfo=UTC),
        sleep=clock.sleep,
        jitter=lambda: 0.0,
    )
    creds = AdobeCredentials("client-id", Secret(CLIENT_SECRET), "ORG@AdobeOrg")
    return AdobeClient(
        session,  # type: ignore[arg-type]
        ims_url="https://ims.example",
        platform_url="https://platform.example",
        scopes="openid",
        credentials=lambda deadline: creds,
        retrier=retrier,
        timeout=1.5,
        monotonic=clock.monotonic,
    )


def create(session: ScriptedSession, clock: FakeTime) -> Any:
    body = connection_body(
        "Azure Event Hubs contoso",
        "d",
        "Azure EventHub authentication credentials",
        {"sasKeyName": "Root", "sasKey": SAS_KEY, "namespace": "contoso"},
    )
    return create_once(
        client(session, clock),
        "prod",
        connection_identity(ConnectionKey("prod", "contoso"), "Azure Event Hubs contoso"),
        body,
        keep=None,
        look_up_first=False,
        deadline=Deadline(clock.monotonic, 30),
    )


def problem(status: int, code: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": f"https://ns.adobe.com/aep/errors/FLOW-{code}",
        "title": "Bad Request",
        "status": status,
        **fields,
        "report": {"tenantInfo": {"sandboxName": "prod", "imsOrgId": "ORG@AdobeOrg"}, "additionalContext": None},
    }


REFUSALS = [
    pytest.param(
        reply(403, {"error_code": "403027", "message": "User region is missing"}),
        "403027",
        "User region is missing",
        id="gateway-shape-403",
    ),
    pytest.param(
        reply(400, problem(400, "1401-400", detail="Missing required auth params: sasKey")),
        "1401-400",
        "Missing required auth params",
        id="problem-shape-400-with-report",
    ),
    pytest.param(
        reply(404, problem(404, "2100-404", detail="Sandbox prod not found")),
        "2100-404",
        "Sandbox prod not found",
        id="problem-shape-404",
    ),
    pytest.param(reply(409, problem(409, "1400-409")), "1400-409", "Bad Request", id="problem-shape-title-only"),
    pytest.param(
        reply(422, {"error_code": "422001", "message": "Unprocessable"}), "422001", "Unprocessable", id="gateway-422"
    ),
    pytest.param(reply(412, problem(412, "1404-412", detail="etag")), "1404-412", "etag", id="problem-412"),
    pytest.param(
        reply(400, b"<html>400 Bad Request</html>", {"Content-Type": "text/html"}), None, "400", id="not-json"
    ),
]


@pytest.mark.parametrize(("answer", "adobe_code", "text"), REFUSALS)
def test_a_4xx_is_a_permanent_502_with_adobes_code_and_request_id(
    clock: FakeTime, answer: requests.Response, adobe_code: str | None, text: str
) -> None:
    session = ScriptedSession(token=[reply(200, TOKEN)], create=[answer])
    with pytest.raises(AdobeRejected) as caught:
        create(session, clock)
    err = caught.value
    assert type(err) is AdobeRejected and err.code == "AdobeRequestRejected"
    assert err.http_status == 502 and err.permanent
    assert err.adobe.status == answer.status_code and err.adobe.code == adobe_code
    assert err.adobe.request_id == f"req-{answer.status_code}"
    assert text in err.message
    assert err.to_body()["error"]["adobe"] == {
        "status": answer.status_code,
        "code": adobe_code,
        "requestId": f"req-{answer.status_code}",
    }
    assert session.count("create") == 1 and session.count("lookup") == 0, "a refusal is never retried"
    assert clock.sleeps == []


def test_adobe_echoing_the_key_in_its_message_is_scrubbed(clock: FakeTime) -> None:
    answer = reply(400, problem(400, "1401-400", detail=f"Invalid sasKey {SAS_KEY} for namespace contoso"))
    session = ScriptedSession(token=[reply(200, TOKEN)], create=[answer])
    with pytest.raises(AdobeRejected) as caught:
        create(session, clock)
    assert SAS_KEY not in caught.value.message and SAS_KEY not in json.dumps(caught.value.to_body())
    assert "for namespace contoso" in caught.value.message


def test_a_401_refreshes_the_token_once_then_is_authentication_failed(clock: FakeTime) -> None:
    denied = reply(401, {"error_code": "401013", "message": "Oauth token is not valid"})
    session = ScriptedSession(token=[reply(200, TOKEN)], create=[denied])
    with pytest.raises(AdobeAuthenticationFailed) as caught:
        create(session, clock)
    assert caught.value.code == "AdobeAuthenticationFailed" and caught.value.http_status == 502
    assert caught.value.adobe.code == "401013"
    assert session.count("create") == 2 and session.count("token") == 2
    assert clock.sleeps == []


def test_ims_refusing_the_client_is_authentication_failed_without_retry(clock: FakeTime) -> None:
    refused = reply(401, {"error": "invalid_client", "error_description": "invalid client_secret parameter"})
    session = ScriptedSession(token=[refused], create=[reply(201, {"id": "x", "etag": '"1"'})])
    with pytest.raises(AdobeAuthenticationFailed) as caught:
        create(session, clock)
    err = caught.value
    assert err.adobe.code == "invalid_client" and err.adobe.status == 401 and err.permanent
    assert CLIENT_SECRET not in err.message
    assert session.count("token") == 1 and session.count("create") == 0
    assert clock.sleeps == []


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_429_and_5xx_are_retried_and_only_5xx_looks_up_first(clock: FakeTime, status: int) -> None:
    session = ScriptedSession(
        token=[reply(200, TOKEN)],
        create=[
            reply(status, {"error_code": f"{status}000", "message": "busy"}),
            reply(201, {"id": "c1", "etag": '"1"'}),
        ],
        lookup=[reply(200, {"items": []})],
    )
    connection = create(session, clock)
    assert connection.id == "c1" and connection.created
    assert session.count("create") == 2
    # A 5xx may have reached Adobe: the lookup lists the stored name, then the identity's content under any name.
    assert session.count("lookup") == (0 if status == 429 else 2)
    assert len(clock.sleeps) == 1


def test_an_unverifiable_tls_certificate_is_a_configuration_error_naming_the_url_setting(clock: FakeTime) -> None:
    """Issue 11: reported as "Adobe IMS is unavailable ... after 4 attempts" (503, retried) before."""
    from shared.errors import ConfigurationError

    class UntrustedSession(ScriptedSession):
        def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
            self.sent.append((self.route(method, url, kwargs), method))
            raise requests.exceptions.SSLError("certificate verify failed: self-signed certificate")

    session = UntrustedSession()
    with pytest.raises(ConfigurationError) as caught:
        create(session, clock)  # type: ignore[arg-type]
    assert caught.value.setting == "ADOBE_IMS_URL" and caught.value.http_status == 500
    assert session.count("token") == 1 and clock.sleeps == []  # not retried
