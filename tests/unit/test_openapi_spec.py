"""openapi.yaml is a valid OpenAPI document that states the contract, and the response checker
(tests/openapi_contract.py) accepts what the contract allows and refuses what it does not."""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
from typing import Any

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.versions.shortcuts import get_spec_version

from devstack.host import http_request, indexed_function
from shared import errors
from tests.openapi_contract import (
    CONTRACT_ERROR_CODES,
    assert_request_matches,
    assert_response_matches,
    documented_statuses,
    find_operation,
    load_spec,
    resolve,
)

CREATE = ("POST", "/api/connections")
GET = ("GET", "/api/connections/contoso-telemetry")

# The contract's "Responses (HTTP)" table, per operation. 401 is the Functions host's answer to a
# missing or wrong function key.
CONTRACT_STATUSES = {
    CREATE: {200, 201, 400, 401, 409, 413, 422, 500, 502, 503},
    GET: {200, 400, 401, 404, 500, 503},
}


def record(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "connectionId": "2ba89c4e-a0d1-4b53-a89c-4ea0d1cb5387",
        "etag": '"1f00a2b4-0000-0200-0000-65e1c1a40000"',
        "namespace": "contoso-telemetry",
        "sandbox": "prod",
        "eventHubName": "clicks",
        "authType": "sas",
        "state": "ready",
        "name": "Azure Event Hubs contoso-telemetry clicks",
        "createdAt": "2024-03-01T10:15:30Z",
        "updatedAt": "2024-03-01T10:15:31.123456+00:00",
        "lastError": None,
        "created": True,
    }
    base.update(changes)
    return base


def error(code: str, message: str = "Something is wrong.", **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


JSON = {"Content-Type": "application/json"}
RETRY = {"Content-Type": "application/json", "Retry-After": "5"}


# ---------------------------------------------------------------------------------------- the spec


def test_spec_is_valid_openapi_3_0() -> None:
    spec = load_spec()
    validate(spec)
    assert get_spec_version(spec).major == "3"
    assert spec["openapi"].startswith("3.0.")


@pytest.mark.parametrize("operation", sorted(CONTRACT_STATUSES))
def test_every_contract_status_is_documented_for_its_operation(operation: tuple[str, str]) -> None:
    assert documented_statuses(*operation) == CONTRACT_STATUSES[operation]


def test_operations_are_the_http_functions() -> None:
    spec = load_spec()
    operations = {
        (method.upper(), path): item["operationId"]
        for path, methods in spec["paths"].items()
        for method, item in methods.items()
    }
    assert operations == {
        ("POST", "/api/connections"): "createConnection",
        ("GET", "/api/connections/{namespace}"): "getConnection",
        ("POST", "/api/dataflows"): "createDataflow",
        ("GET", "/api/dataflows/{namespace}/{eventHubName}"): "getDataflow",
        ("GET", "/api/adobe-events"): "adobeEventsChallenge",
        ("POST", "/api/adobe-events"): "adobeEventsDelivery",
    }
    _, get_operation = find_operation(*GET)
    parameters = {(p["in"], p["name"]): p["required"] for p in get_operation["parameters"]}
    assert parameters == {("path", "namespace"): True, ("query", "sandbox"): False, ("query", "eventHubName"): False}


def test_function_key_security_scheme() -> None:
    spec = load_spec()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["functionKey"] == {
        **schemes["functionKey"],
        "type": "apiKey",
        "in": "header",
        "name": "x-functions-key",
    }
    assert schemes["functionKeyQuery"] == {
        **schemes["functionKeyQuery"],
        "type": "apiKey",
        "in": "query",
        "name": "code",
    }
    assert {name for requirement in spec["security"] for name in requirement} == {"functionKey", "functionKeyQuery"}


@pytest.mark.parametrize("status", [409, 503])
def test_retry_after_is_required_on_409_and_503(status: int) -> None:
    _, operation = find_operation(*CREATE)
    header = operation["responses"][str(status)]["headers"]["Retry-After"]
    assert header["required"] is True
    assert header["schema"] == {"type": "integer", "minimum": 1}


def test_every_response_with_a_body_is_application_json() -> None:
    for operation in CONTRACT_STATUSES:
        _, resolved = find_operation(*operation)
        for status, response in resolved["responses"].items():
            if status == "401":
                assert "content" not in response
            else:
                assert set(response["content"]) == {"application/json"}, (operation, status)


def test_every_contract_error_code_is_described() -> None:
    description = load_spec()["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["description"]
    missing = {code for code in CONTRACT_ERROR_CODES if code not in description}
    assert not missing


def test_request_schema_is_closed_and_namespace_is_required() -> None:
    schema = resolve(load_spec()["components"]["schemas"]["ConnectionRequest"])
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["namespace"]
    assert set(schema["properties"]) == {"namespace", "sandbox", "eventHubName", "authType", "name", "description"}


def test_record_schema_allows_extra_properties_and_states_are_the_contract_states() -> None:
    schemas = load_spec()["components"]["schemas"]
    assert schemas["ConnectionRecord"]["additionalProperties"] is True
    assert schemas["ConnectionState"]["enum"] == ["creating", "ready", "pending_secret", "failed", "deleted"]


def test_examples_in_the_spec_match_their_schemas() -> None:
    spec = load_spec()
    for path, methods in spec["paths"].items():
        concrete = path.replace("{namespace}", "contoso-telemetry")
        for method, operation in methods.items():
            resolved = resolve(operation)
            for example in (
                resolved.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("examples", {})
                .values()
            ):
                assert_request_matches(method, concrete, example["value"])
            for status, response in resolved["responses"].items():
                for example in response.get("content", {}).get("application/json", {}).get("examples", {}).values():
                    assert_response_matches(method, concrete, int(status), example["value"], RETRY)


# ---------------------------------------------------------------------------------------- the checker accepts


@pytest.mark.parametrize(
    "body",
    [
        record(),
        record(eventHubName=None, authType="aad", secretVersion="0123456789abcdef"),
        record(connectionId=None, etag=None, state="creating"),
        record(
            state="failed", lastError={"code": "SecretNotFound", "message": "No secret.", "at": "2024-03-01T10:15:30Z"}
        ),
    ],
)
def test_created_records_are_accepted(body: dict[str, Any]) -> None:
    assert_response_matches(*CREATE, 201, body, JSON)


def test_existing_record_and_get_are_accepted() -> None:
    assert_response_matches(*CREATE, 200, record(created=False), JSON)
    assert_response_matches(*GET, 200, record(created=False), JSON)
    assert_response_matches(*GET, 200, {k: v for k, v in record().items() if k != "created"}, JSON)
    assert_response_matches(
        "GET", "/api/connections/contoso-telemetry?sandbox=dev&eventHubName=clicks", 200, record(), {}
    )


@pytest.mark.parametrize(
    ("operation", "status", "body", "headers"),
    [
        (CREATE, 400, error("InvalidJson"), JSON),
        (CREATE, 400, error("InvalidRequest", field="namespace"), JSON),
        (GET, 400, error("InvalidRequest", field="sandbox"), JSON),
        (GET, 404, error("ConnectionNotFound"), JSON),
        (CREATE, 409, error("ConnectionBeingCreated"), RETRY),
        (CREATE, 413, error("PayloadTooLarge"), JSON),
        (CREATE, 422, error("SecretNotFound", secret="eventhubs-sas-contoso-telemetry"), JSON),
        (CREATE, 422, error("SecretInvalid"), JSON),
        (CREATE, 500, error("ConfigurationError", setting="KEY_VAULT_URL"), JSON),
        (GET, 500, error("InternalError"), JSON),
        (
            CREATE,
            502,
            error("AdobeRequestRejected", adobe={"status": 400, "code": "1415-400", "requestId": "r-1"}),
            JSON,
        ),
        (CREATE, 502, error("AdobeAuthenticationFailed", adobe={"status": 401, "code": None, "requestId": None}), JSON),
        (GET, 503, error("DependencyUnavailable", dependency="storage"), {"retry-after": "30"}),
        (GET, 401, None, {}),
    ],
)
def test_contract_errors_are_accepted(
    operation: tuple[str, str], status: int, body: dict[str, Any] | None, headers: dict[str, str]
) -> None:
    assert_response_matches(*operation, status, body, headers)


def test_the_apps_error_classes_produce_bodies_the_spec_accepts() -> None:
    adobe = errors.AdobeErrorInfo(status=400, code="1415-400", request_id="req-1")
    cases: list[tuple[tuple[str, str], errors.ConnectorError]] = [
        (CREATE, errors.InvalidJson("The request body is not valid JSON.")),
        (CREATE, errors.InvalidRequest("Unknown field 'x'.", field="x")),
        (CREATE, errors.PayloadTooLarge("Too large.")),
        (GET, errors.ConnectionNotFound("No record.")),
        (CREATE, errors.ConnectionBeingCreated("Busy.", retry_after=5)),
        (CREATE, errors.SecretNotFound("No secret.", secret_name="eventhubs-sas-contoso-telemetry")),
        (CREATE, errors.SecretProblem("Bad secret.", secret_name="eventhubs-sas-contoso-telemetry")),
        (CREATE, errors.ConfigurationError("Missing.", setting="KEY_VAULT_URL")),
        (CREATE, errors.AdobeRejected("Refused.", adobe=adobe)),
        (CREATE, errors.AdobeAuthenticationFailed("Bad client.", adobe=adobe)),
        (GET, errors.DependencyUnavailable("Down.", dependency="adobe", retry_after=30)),
    ]
    for operation, exc in cases:
        headers = dict(JSON)
        if exc.retry_after is not None:
            headers["Retry-After"] = str(exc.retry_after)
        assert_response_matches(*operation, exc.http_status, exc.to_body(), headers)
    assert {exc.code for _, exc in cases} == CONTRACT_ERROR_CODES


@pytest.mark.parametrize(
    ("raw", "status"),
    [(b"{not json", 400), (b"", 400), (b" " * 10 + b"x" * (64 * 1024), 413)],
    ids=["invalid-json", "empty", "too-large"],
)
def test_the_real_http_function_answers_match_the_spec(raw: bytes, status: int) -> None:
    """The indexed create_connection_http, called in-process on inputs refused before any backend
    is touched (the functional tests check the other answers with the same helper)."""
    function = indexed_function("create_connection_http")
    response = function(http_request("POST", "/api/connections", body=raw))
    if inspect.isawaitable(response):
        response = asyncio.run(response)
    headers = {**dict(response.headers), "Content-Type": response.mimetype}
    assert response.status_code == status
    assert_response_matches(*CREATE, response.status_code, json.loads(response.get_body()), headers)


# ---------------------------------------------------------------------------------------- the checker refuses


def without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    node = changed
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return changed


@pytest.mark.parametrize(
    ("operation", "status", "body", "headers", "reason"),
    [
        (CREATE, 201, record(state="done"), JSON, "is not one of"),
        (CREATE, 201, record(authType="key"), JSON, "is not one of"),
        (CREATE, 201, without(record(), "namespace"), JSON, "'namespace' is a required property"),
        (CREATE, 201, without(record(), "lastError"), JSON, "'lastError' is a required property"),
        (CREATE, 201, record(created=False), JSON, "is not one of [True]"),
        (CREATE, 200, record(created=True), JSON, "is not one of [False]"),
        (CREATE, 201, without(record(), "created"), JSON, "'created' is a required property"),
        (CREATE, 201, record(createdAt="2024-03-01 10:15"), JSON, "is not a 'date-time'"),
        (CREATE, 201, record(lastError={"code": "X", "message": "m"}), JSON, "'at' is a required property"),
        (CREATE, 201, record(sandbox=None), JSON, "None is not of type 'string'"),
        (CREATE, 400, without(error("InvalidJson"), "error", "code"), JSON, "'code' is a required property"),
        (CREATE, 400, error("InvalidRequest"), JSON, "'field' is a required property"),
        (CREATE, 400, error("SecretNotFound"), JSON, "is not one of"),
        (CREATE, 400, {"message": "no envelope"}, JSON, "'error' is a required property"),
        (CREATE, 409, error("ConnectionBeingCreated"), JSON, "'Retry-After' is missing"),
        (CREATE, 503, error("DependencyUnavailable"), {"Retry-After": "soon"}, "must be an integer"),
        (CREATE, 503, error("DependencyUnavailable"), {"Retry-After": "0"}, "less than the minimum"),
        (CREATE, 500, error("ConfigurationError"), JSON, "'setting' is a required property"),
        (CREATE, 502, error("AdobeRequestRejected"), JSON, "'adobe' is a required property"),
        (
            CREATE,
            502,
            error("AdobeRequestRejected", adobe={"status": 503, "code": None, "requestId": None}),
            JSON,
            "maximum",
        ),
        (CREATE, 404, error("ConnectionNotFound"), JSON, "status 404 is not documented"),
        (GET, 201, record(), JSON, "status 201 is not documented"),
        (GET, 404, error("InvalidRequest", field="x"), JSON, "is not one of"),
        (CREATE, 201, record(), {"Content-Type": "text/plain"}, "is not one of ['application/json']"),
        (GET, 401, {"error": "x"}, {}, "documents no body"),
    ],
)
def test_invalid_responses_are_refused(
    operation: tuple[str, str], status: int, body: Any, headers: dict[str, str], reason: str
) -> None:
    with pytest.raises(AssertionError) as raised:
        assert_response_matches(*operation, status, body, headers)
    assert reason in str(raised.value)


def test_unknown_paths_and_methods_are_refused() -> None:
    with pytest.raises(AssertionError, match="no path"):
        assert_response_matches("GET", "/api/nothing", 200, record(), JSON)
    with pytest.raises(AssertionError, match="DELETE is not documented"):
        assert_response_matches("DELETE", "/api/connections/contoso-telemetry", 200, record(), JSON)
    with pytest.raises(AssertionError, match="no path"):
        assert_response_matches("GET", "/api/connections/a/b", 200, record(), JSON)


# ---------------------------------------------------------------------------------------- the request schema


@pytest.mark.parametrize(
    "body",
    [
        {"namespace": "contoso-telemetry"},
        {"namespace": "abcdef"},
        {"namespace": "a" * 50},
        {"namespace": "Contoso-Telemetry-01", "sandbox": "dev-2", "eventHubName": "clicks.v1_raw-x", "authType": "aad"},
        {"namespace": "contoso-telemetry", "eventHubName": "a", "name": "n", "description": ""},
        {"namespace": "contoso-telemetry", "eventHubName": "a" * 256},
    ],
)
def test_valid_requests_are_accepted(body: dict[str, Any]) -> None:
    assert_request_matches(*CREATE, body)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"namespace": "abcde"},
        {"namespace": "a" * 51},
        {"namespace": "1abcdef"},
        {"namespace": "abcdef-"},
        {"namespace": "abc_def"},
        {"namespace": "contoso-telemetry", "namespce": "typo"},
        {"namespace": "contoso-telemetry", "sandbox": "Prod"},
        {"namespace": "contoso-telemetry", "authType": "key"},
        {"namespace": "contoso-telemetry", "eventHubName": "-clicks"},
        {"namespace": "contoso-telemetry", "eventHubName": "clicks."},
        {"namespace": "contoso-telemetry", "eventHubName": "a" * 257},
        {"namespace": "contoso-telemetry", "eventHubName": "cli/cks"},
        {"namespace": 123456},
    ],
)
def test_invalid_requests_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(AssertionError):
        assert_request_matches(*CREATE, body)


def test_get_takes_no_request_body() -> None:
    with pytest.raises(AssertionError, match="takes no request body"):
        assert_request_matches(*GET, {"namespace": "contoso-telemetry"})
