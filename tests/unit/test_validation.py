"""Request validation: namespace rules, optional fields, unknown fields."""

import pytest

from shared.errors import InvalidRequest
from shared.models import AuthType
from shared.payloads import parse_request


def parse(body: object):
    return parse_request(body, "prod")


@pytest.mark.parametrize(
    "namespace",
    ["abcdef", "Contoso-Telemetry", "a" * 50, "a1-b2-c3", "x12345"],
)
def test_valid_namespaces_are_lowercased(namespace: str) -> None:
    assert parse({"namespace": namespace}).namespace == namespace.lower()


@pytest.mark.parametrize(
    "namespace",
    ["abcde", "a" * 51, "1abcdef", "-abcdef", "abcdef-", "abc_def", "abc.def", "abc def", "ab/cdef", "abcdéf", ""],
)
def test_invalid_namespaces_name_the_field(namespace: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse({"namespace": namespace})
    assert caught.value.field == "namespace"
    assert caught.value.http_status == 400


def test_defaults() -> None:
    request = parse({"namespace": "contoso-telemetry"})
    assert request.sandbox == "prod"
    assert request.event_hub is None
    assert request.auth_type is AuthType.SAS
    assert request.key.connection_name == "Azure Event Hubs contoso-telemetry"


def test_full_request() -> None:
    request = parse(
        {
            "namespace": "contoso-telemetry",
            "sandbox": "dev-1",
            "eventHubName": "Clicks.v2",
            "authType": "AAD",
            "name": "Clicks",
            "description": "Click stream",
        }
    )
    assert (request.sandbox, request.event_hub, request.auth_type) == ("dev-1", "clicks.v2", AuthType.AAD)
    assert request.key.connection_name == "Azure Event Hubs contoso-telemetry clicks.v2"
    assert request.key.row_key == "contoso-telemetry|clicks.v2"


def test_nulls_mean_absent_for_optional_fields() -> None:
    request = parse({"namespace": "contoso-telemetry", "sandbox": None, "eventHubName": None, "name": None})
    assert request.sandbox == "prod" and request.event_hub is None and request.name is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "namespace"),
        ({"namespace": None}, "namespace"),
        ({"namespace": 12345678}, "namespace"),
        ({"namespace": "contoso-telemetry", "namspace": "x"}, "namspace"),
        ({"namespace": "contoso-telemetry", "sandbox": "Prod"}, "sandbox"),
        ({"namespace": "contoso-telemetry", "sandbox": 1}, "sandbox"),
        ({"namespace": "contoso-telemetry", "eventHubName": "-x"}, "eventHubName"),
        ({"namespace": "contoso-telemetry", "eventHubName": "a" * 257}, "eventHubName"),
        ({"namespace": "contoso-telemetry", "eventHubName": "a/b"}, "eventHubName"),
        ({"namespace": "contoso-telemetry", "authType": "jwt"}, "authType"),
        ({"namespace": "contoso-telemetry", "authType": True}, "authType"),
        ({"namespace": "contoso-telemetry", "name": "a" * 257}, "name"),
        ({"namespace": "contoso-telemetry", "name": "line\nbreak"}, "name"),
        ({"namespace": "contoso-telemetry", "name": "   "}, "name"),
        ({"namespace": "contoso-telemetry", "description": ["x"]}, "description"),
        ({"namespace": "contoso-telemetry", "description": "d" * 1025}, "description"),
    ],
)
def test_bad_fields_are_named(body: dict, field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse(body)
    assert caught.value.field == field
    assert caught.value.to_body()["error"]["field"] == field


@pytest.mark.parametrize("body", [[], "text", 5, None, True])
def test_non_objects_are_invalid_json(body: object) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse(body)
    assert caught.value.code == "InvalidJson"


def test_unicode_in_name_is_kept() -> None:
    assert parse({"namespace": "contoso-telemetry", "name": "Télémétrie ✓"}).name == "Télémétrie ✓"


def test_error_message_shows_bounded_input() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse({"namespace": "x" * 10_000})
    assert len(caught.value.message) < 400
