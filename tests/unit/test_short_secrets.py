"""Secrets too short to be scrubbed are refused before use, named (never quoted), and never registered."""

from __future__ import annotations

import json

import pytest

from shared.credentials import load_adobe_credentials
from shared.errors import ConfigurationError, SecretProblem
from shared.eventhubs import parse_aad_secret, parse_connection_string
from shared.retry import Deadline
from shared.sensitive import scrub
from tests.unit.fakes import FakeSecrets, FakeTime
from tests.unit.test_protocol import ADOBE, settings

OTHER_ANSWER = json.dumps({"namespace": "contoso-telemetry", "created": True, "connectionId": "4cb0c374-aa"})


def _sas(key: str) -> str:
    return f"Endpoint=sb://contoso-telemetry.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey={key}"


@pytest.mark.parametrize("key", ["e", "tel", "fifteen-chars-x"])
def test_a_short_sas_key_is_secret_invalid_naming_the_secret(key: str) -> None:
    with pytest.raises(SecretProblem) as caught:
        parse_connection_string(
            _sas(key), secret_name="eventhubs-sas-contoso-telemetry", expected_namespace="contoso-telemetry"
        )
    error = caught.value
    assert error.code == "SecretInvalid" and error.http_status == 422 and error.permanent
    assert error.secret_name == "eventhubs-sas-contoso-telemetry"
    assert "SharedAccessKey is shorter than 16 characters" in error.message
    assert scrub(OTHER_ANSWER) == OTHER_ANSWER  # never registered: no other text changes


def test_a_sixteen_character_sas_key_is_accepted() -> None:
    sas = parse_connection_string(
        _sas("sixteen-chars-ok"), secret_name="eventhubs-sas-contoso-telemetry", expected_namespace="contoso-telemetry"
    )
    assert sas.key.reveal() == "sixteen-chars-ok"


def test_a_short_aad_client_secret_is_secret_invalid() -> None:
    value = json.dumps({"tenantId": "t", "clientId": "c", "clientSecret": "tel"})
    with pytest.raises(SecretProblem) as caught:
        parse_aad_secret(value, secret_name="eventhubs-aad-contoso-telemetry")
    assert caught.value.code == "SecretInvalid" and caught.value.secret_name == "eventhubs-aad-contoso-telemetry"
    assert "clientSecret" in caught.value.message
    assert scrub(OTHER_ANSWER) == OTHER_ANSWER


def _load(values: dict[str, str]) -> object:
    deadline = Deadline(FakeTime().monotonic, 10)
    return load_adobe_credentials(FakeSecrets(values), settings(), deadline)


def test_a_short_adobe_client_secret_is_a_configuration_error_naming_it() -> None:
    with pytest.raises(ConfigurationError) as caught:
        _load({**ADOBE, "adobe-client-secret": "e"})
    error = caught.value
    assert error.http_status == 500 and error.setting == "ADOBE_CLIENT_SECRET_SECRET"
    assert "'adobe-client-secret'" in error.message and "shorter than 16" in error.message
    assert scrub(OTHER_ANSWER) == OTHER_ANSWER


@pytest.mark.parametrize(
    ("name", "setting"), [("adobe-client-id", "ADOBE_CLIENT_ID_SECRET"), ("adobe-org-id", "ADOBE_ORG_ID_SECRET")]
)
def test_an_empty_adobe_client_id_or_org_id_is_a_configuration_error(name: str, setting: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        _load({**ADOBE, name: "  "})
    assert caught.value.setting == setting and name in caught.value.message


def test_a_short_client_id_is_accepted_it_is_not_a_secret() -> None:
    creds = _load({**ADOBE, "adobe-client-id": "cli"})
    assert creds.client_id == "cli"  # type: ignore[attr-defined]
    assert scrub("client_id=cli") == "client_id=cli"
