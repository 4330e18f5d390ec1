"""Property-based tests: any input to any trigger gives a clear answer, never an escaping exception.

HTTP: every body gives a 2xx or a 4xx with the contract's JSON error shape (`field` on
InvalidRequest), never a 5xx or a stack trace. Queue and Event Grid: malformed input is a
permanent failure, so the invocation returns (it never raises). No input reaches Adobe: the vault
holds no namespace secret, so even a valid request stops at 422 SecretNotFound.

The generated text holds no lone surrogates and eventType is always a string: both once broke the
app, and the regression tests at the end pin them, so the properties guard everything else.
Run with `--hypothesis-show-statistics` to see which answers the examples got.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from devstack.host import event_grid_event, http_request, indexed_function
from shared.eventhubs import NAMESPACE_PATTERN, SANDBOX_PATTERN
from shared.payloads import REQUEST_FIELDS
from tests.functional.conftest import App

SETTINGS = settings(
    max_examples=80,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
EVENT_SETTINGS = settings(SETTINGS, max_examples=150)  # events are cheap: most stop before any call

# -- strategies ----------------------------------------------------------------------------------

#: characters that break naive code: path and query characters, control characters, quotes,
#: bidi overrides, non-BMP, and text that looks escaped
TRICKY = st.sampled_from(
    ["/", "?", "#", "%", "&", "=", "+", "%2F", "..", "\\", '"', "'", "<", ">", "|", ";", " ", "\t", "\n",
     "\r", "\x00", "\x07", "\x1b", "\x7f", "\u0085", "\u2028", "\u202e", "\ufeff", "é", "ß", "İ", "😀", "${x}"]
)  # fmt: skip
TEXT = st.one_of(
    st.text(max_size=40),
    st.lists(TRICKY | st.text(max_size=3), max_size=12).map("".join),
    st.builds(lambda c, n: c * n, st.sampled_from(["a", "é", "/", "😀", "-"]), st.integers(200, 20_000)),
)
VALID_NAMESPACE = st.from_regex(NAMESPACE_PATTERN, fullmatch=True)
VALID_SANDBOX = st.from_regex(SANDBOX_PATTERN, fullmatch=True).filter(lambda s: len(s) <= 40)
SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
)
JSON = st.recursive(
    SCALAR, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4), max_leaves=12
)


VALID_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "namespace": VALID_NAMESPACE,
    "sandbox": VALID_SANDBOX,
    "eventHubName": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}[A-Za-z0-9]", fullmatch=True),
    "authType": st.sampled_from(["sas", "aad", "SAS", "Aad"]),
    "name": st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF), min_size=1, max_size=30),
    "description": st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF), min_size=1, max_size=60),
}
#: a valid request (reaches Key Vault, then 422: the vault holds no namespace secret)
VALID_REQUEST = st.fixed_dictionaries(
    {"namespace": VALID_NAMESPACE}, optional={k: v for k, v in VALID_VALUES.items() if k != "namespace"}
)
#: a valid request with one field (or an unknown one) set to anything: null, wrong type, huge, tricky
MUTATED_REQUEST = st.builds(
    lambda request, key, value: {**request, key: value},
    VALID_REQUEST,
    st.sampled_from(REQUEST_FIELDS) | TEXT,
    JSON | TEXT,
)
#: any subset of the fields with any values, valid ones included
ANY_FIELDS = st.fixed_dictionaries({}, optional={k: v | JSON for k, v in VALID_VALUES.items()})
REQUEST = st.one_of(VALID_REQUEST, MUTATED_REQUEST, ANY_FIELDS)


def text_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


RAW = st.one_of(
    REQUEST.map(text_bytes),  # JSON objects with the request's fields
    JSON.map(text_bytes),  # any JSON value
    st.binary(max_size=200),  # anything, invalid UTF-8 included
    REQUEST.map(lambda v: base64.b64encode(text_bytes(v))),  # base64 text (older queue senders)
    REQUEST.map(lambda v: b"\xef\xbb\xbf" + text_bytes(v)),  # UTF-8 BOM
    REQUEST.map(lambda v: text_bytes(v)[:-1]),  # truncated JSON
    REQUEST.map(lambda v: text_bytes(v).replace(b'"', b"\xff", 1)),  # invalid UTF-8 inside JSON
    st.builds(lambda n: b'{"namespace": "contoso-faults", "name": "' + b"x" * n + b'"}', st.integers(65_000, 70_000)),
)


# -- checks --------------------------------------------------------------------------------------


def assert_clear_http_answer(status: int, raw_body: bytes, mimetype: str) -> dict[str, Any]:
    assert 200 <= status < 300 or 400 <= status < 500, (status, raw_body[:300])
    assert mimetype == "application/json"
    text = raw_body.decode("utf-8")
    assert "Traceback" not in text and 'File "' not in text
    payload = json.loads(text)
    assert isinstance(payload, dict)
    if currently_in_test_context():
        event(f"{status} {payload['error']['code'] if status >= 400 else 'ok'}")
    if status >= 400:
        error = payload["error"]
        assert isinstance(error["code"], str) and error["code"][:1].isupper(), error
        assert isinstance(error["message"], str) and error["message"].strip(), error
        if error["code"] == "InvalidRequest":
            assert isinstance(error.get("field"), str), error
    return payload


def assert_no_adobe_call(app: App) -> None:
    assert app.stack.adobe.platform_requests == [] and app.stack.adobe.ims_requests == []


# -- HTTP ----------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
@SETTINGS
@given(raw=RAW)
def test_any_http_body_gets_2xx_or_a_clear_4xx(app: App, raw: bytes) -> None:
    response = app.post(raw)
    payload = assert_clear_http_answer(response.status_code, response.get_body(), response.mimetype)
    if response.status_code >= 400 and payload["error"]["code"] in ("InvalidJson", "InvalidRequest", "PayloadTooLarge"):
        assert response.status_code in (400, 413)
    assert_no_adobe_call(app)


@pytest.mark.timeout(120)
@SETTINGS
@given(fields=REQUEST)
def test_any_request_object_gets_2xx_or_a_clear_4xx(app: App, fields: dict[str, Any]) -> None:
    response = app.post(json.dumps(fields).encode())
    payload = assert_clear_http_answer(response.status_code, response.get_body(), response.mimetype)
    if response.status_code == 400 and payload["error"]["code"] == "InvalidRequest":
        # the field named is one the request has (an unknown one may be shortened), or the required one
        named = payload["error"]["field"]
        assert named == "namespace" or any(key.startswith(named) for key in fields), named
    assert_no_adobe_call(app)


@pytest.mark.timeout(120)
@SETTINGS
@given(namespace=TEXT | VALID_NAMESPACE, sandbox=st.none() | TEXT | VALID_SANDBOX, hub=st.none() | TEXT)
def test_any_get_gets_200_404_or_a_clear_400(app: App, namespace: str, sandbox: str | None, hub: str | None) -> None:
    params = {k: v for k, v in (("sandbox", sandbox), ("eventHubName", hub)) if v is not None}
    response = indexed_function("get_connection_http")(
        http_request("GET", "/api/connections/x", route_params={"namespace": namespace}, params=params)
    )
    app.responses.append(response.get_body())
    payload = assert_clear_http_answer(response.status_code, response.get_body(), response.mimetype)
    assert response.status_code in (400, 404), payload
    assert_no_adobe_call(app)


# -- queue ---------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
@SETTINGS
@given(raw=RAW)
def test_any_queue_message_returns_without_raising(app: App, raw: bytes) -> None:
    before = len(app.stack.keyvault.requests)
    app.enqueue(raw)  # a permanent failure returns: raising would make the host redeliver it in vain
    event("reached Key Vault" if len(app.stack.keyvault.requests) > before else "stopped before Key Vault")
    assert_no_adobe_call(app)


# -- Event Grid ----------------------------------------------------------------------------------

NAMESPACE_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourcegroups/rg/providers/Microsoft.EventHub/namespaces/"
)
EVENT_TYPES = st.sampled_from(
    [
        "Microsoft.Resources.ResourceWriteSuccess",
        "Microsoft.Resources.ResourceDeleteSuccess",
        "microsoft.resources.resourcewritesuccess",
        "Microsoft.Resources.ResourceActionSuccess",
        "Microsoft.KeyVault.SecretNewVersionCreated",
        "Microsoft.KeyVault.SecretNearExpiry",
        "",
    ]
) | st.text(max_size=30)
RESOURCE = st.one_of(
    TEXT,
    st.builds(lambda ns: NAMESPACE_ID + ns, VALID_NAMESPACE | TEXT),
    st.builds(
        lambda ns, tail: NAMESPACE_ID + ns + tail, VALID_NAMESPACE, st.sampled_from(["/", "/eventhubs/x", "?a=b"])
    ),
)
EVENT_DATA = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {},
        optional={
            "operationName": st.sampled_from(
                ["Microsoft.EventHub/namespaces/write", "Microsoft.EventHub/namespaces/delete", "x"]
            )
            | JSON,
            "resourceUri": RESOURCE | JSON,
            "ObjectType": st.sampled_from(["Secret", "Key"]) | JSON,
            "ObjectName": st.builds(lambda ns: "eventhubs-sas-" + ns, VALID_NAMESPACE | TEXT) | JSON,
        },
    ),
)
ANY_EVENT = st.fixed_dictionaries(
    {"eventType": EVENT_TYPES, "data": EVENT_DATA},
    optional={
        "subject": st.one_of(RESOURCE, JSON),
        "eventTime": st.text(max_size=10) | st.just("2026-11-26T08:00:00Z"),
    },
)


def namespace_event(action: str, namespace: str, with_subject: bool) -> dict[str, Any]:
    kind = "Write" if action == "write" else "Delete"
    resource = NAMESPACE_ID + namespace
    event: dict[str, Any] = {
        "eventType": f"Microsoft.Resources.Resource{kind}Success",
        "data": {"operationName": f"Microsoft.EventHub/namespaces/{action}", "resourceUri": resource},
    }
    if with_subject:
        event["subject"] = resource
    return event


def secret_event(namespace: str) -> dict[str, Any]:
    name = f"eventhubs-sas-{namespace}"
    return {
        "eventType": "Microsoft.KeyVault.SecretNewVersionCreated",
        "subject": name,
        "data": {"ObjectType": "Secret", "ObjectName": name, "VaultName": "contoso-kv"},
    }


VALID_EVENT = st.one_of(
    st.builds(namespace_event, st.sampled_from(["write", "delete"]), VALID_NAMESPACE, st.booleans()),
    st.builds(secret_event, VALID_NAMESPACE),
)


def _mutate(event: dict[str, Any], where: str, value: Any) -> dict[str, Any]:
    event = json.loads(json.dumps(event))
    if where == "eventType" and value is not None and not isinstance(value, str):
        value = json.dumps(value)  # a non-string eventType: see test_event_type_of_the_wrong_type_is_acknowledged
    if where.startswith("data."):
        if isinstance(event.get("data"), dict):
            event["data"][where[5:]] = value
    elif value is None and where in event:
        del event[where]
    else:
        event[where] = value
    return event


#: a valid event with one part missing, of the wrong type or holding tricky text
MUTATED_EVENT = st.builds(
    _mutate,
    VALID_EVENT,
    st.sampled_from(
        ["subject", "data", "eventType", "data.operationName", "data.resourceUri", "data.ObjectName", "data.ObjectType"]
    ),
    st.one_of(JSON, RESOURCE, st.builds(lambda ns: "eventhubs-sas-" + ns, TEXT)),
)
EVENT = st.one_of(ANY_EVENT, VALID_EVENT, MUTATED_EVENT)


def safe_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event without an eventTime the harness itself cannot parse (the host parses it, not the app)."""
    when = event.get("eventTime")
    if isinstance(when, str):
        try:
            event_grid_event(event)
        except ValueError:
            event = {k: v for k, v in event.items() if k != "eventTime"}
    return event


@pytest.mark.timeout(120)
@EVENT_SETTINGS
@given(grid_event=EVENT)
def test_any_namespace_event_returns_without_raising(app: App, grid_event: dict[str, Any]) -> None:
    before = len(app.stack.keyvault.requests)
    app.event(safe_event(grid_event), function="on_namespace_event")
    event("reached Key Vault" if len(app.stack.keyvault.requests) > before else "stopped before Key Vault")
    assert_no_adobe_call(app)


@pytest.mark.timeout(120)
@EVENT_SETTINGS
@given(grid_event=EVENT)
def test_any_secret_event_returns_without_raising(app: App, grid_event: dict[str, Any]) -> None:
    app.event(safe_event(grid_event), function="on_secret_event")
    assert_no_adobe_call(app)


# -- regression tests: product bugs these properties found ----------------------------------------
# The strategies above generate no lone surrogates and no non-string eventType; these tests pin
# the two gaps they once exposed.

NS = "contoso-props"


def _post_without_escaping(app: App, raw: bytes) -> Any:
    try:
        return app.post(raw)
    except Exception as err:  # what the host would turn into a bare 500
        pytest.fail(f"an exception escaped create_connection_http: {err!r}")


def test_unknown_field_named_with_a_lone_surrogate_is_a_clear_400(app: App) -> None:
    response = _post_without_escaping(app, b'{"namespace": "contoso-props", "x\\ud800": 1}')
    payload = assert_clear_http_answer(response.status_code, response.get_body(), response.mimetype)
    assert response.status_code == 400 and payload["error"]["code"] == "InvalidRequest"


def test_name_with_a_lone_surrogate_is_refused_or_answered_as_json(app: App) -> None:
    app.stack.add_eventhubs_namespace(NS)
    response = _post_without_escaping(app, b'{"namespace": "contoso-props", "name": "a\\ud800"}')
    payload = assert_clear_http_answer(response.status_code, response.get_body(), response.mimetype)
    assert response.status_code in (201, 400), payload
    if response.status_code == 400:
        assert payload["error"]["field"] == "name"
    try:
        read = app.get(NS)
    except Exception as err:
        pytest.fail(f"an exception escaped get_connection_http: {err!r}")
    assert read.status_code in (200, 404)


@pytest.mark.parametrize("event_type", [5, True, ["Microsoft.Resources.ResourceWriteSuccess"], {"a": 1}])
@pytest.mark.parametrize("function", ["on_namespace_event", "on_secret_event"])
def test_event_type_of_the_wrong_type_is_acknowledged(app: App, function: str, event_type: Any) -> None:
    app.event({"eventType": event_type, "subject": NAMESPACE_ID + NS, "data": {}}, function=function)
