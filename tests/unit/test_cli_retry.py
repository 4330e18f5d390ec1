"""retry-failed's decision is the queue's (`ConnectorError.permanent`, by code), and its messages parse."""

from __future__ import annotations

import json

import pytest

from cli.messages import create_message, dataflow_message
from shared.dataflow_records import DataflowRequest
from shared.errors import (
    AdobeAuthenticationFailed,
    AdobeRejected,
    ConfigurationError,
    ConnectionBeingCreated,
    ConnectorError,
    DatasetNotFound,
    DependencyUnavailable,
    InvalidJson,
    SecretNotFound,
    SecretProblem,
    retryable,
)
from shared.models import AuthType, ConnectionRequest
from shared.payloads import parse_queue_message
from shared.settings import DataflowDefaults


@pytest.mark.parametrize(
    "error_class",
    [
        ConnectorError,
        ConnectionBeingCreated,
        ConfigurationError,
        DependencyUnavailable,
        SecretNotFound,
        SecretProblem,
        AdobeRejected,
        AdobeAuthenticationFailed,
        DatasetNotFound,
        InvalidJson,
    ],
)
def test_retryable_is_the_error_class_permanent_flag(error_class: type[ConnectorError]) -> None:
    assert retryable(error_class.code) is (not error_class.permanent)


def test_retryable_answers_none_for_an_unknown_code() -> None:
    assert retryable("NoSuchCode") is None
    assert retryable("DependencyUnavailable") is True and retryable("SecretNotFound") is False


DEFAULTS = DataflowDefaults(
    sandbox="prod", dataset_id=None, data_type="xdm", consumer_group="$Default", reset="earliest"
)


def test_create_message_parses_back_to_the_request() -> None:
    request = ConnectionRequest("contoso-telemetry", "dev", "clicks", AuthType.AAD, name="Contoso", description="d")
    text = create_message(request)
    assert json.loads(text)["action"] == "create"
    assert parse_queue_message(json.loads(text), DEFAULTS) == request
    plain = ConnectionRequest("contoso-telemetry", "prod")
    assert json.loads(create_message(plain)) == {
        "action": "create",
        "namespace": "contoso-telemetry",
        "sandbox": "prod",
        "authType": "sas",
    }


def test_dataflow_message_parses_back_to_the_request() -> None:
    request = DataflowRequest(
        "contoso-telemetry", "prod", "clicks", "dataset-1", "raw", "readers", "latest", mapping_id="map-1", name="F"
    )
    text = dataflow_message(request)
    assert json.loads(text)["action"] == "dataflow"
    assert parse_queue_message(json.loads(text), DEFAULTS) == request
