"""Trigger payloads (HTTP body, queue message) validated into typed requests, with clear errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .dataflow_records import DataflowRequest
from .errors import InvalidRequest
from .eventhubs import (
    ADOBE_ID_PATTERN,
    CONSUMER_GROUP_PATTERN,
    CONTROL_CHARS,
    show_input,
    validate_event_hub,
    validate_namespace,
    validate_sandbox,
)
from .models import AuthType, ConnectionKey, ConnectionRequest
from .settings import DataflowDefaults

REQUEST_FIELDS: Final = ("namespace", "sandbox", "eventHubName", "authType", "name", "description")
VERIFY_FIELDS: Final = ("action", "namespace", "sandbox", "eventHubName")
DATAFLOW_FIELDS: Final = (
    "namespace",
    "eventHubName",
    "sandbox",
    "datasetId",
    "dataType",
    "consumerGroup",
    "reset",
    "mappingId",
    "name",
)
ACTIONS: Final = ("create", "verify", "dataflow", "reconcile")
MAX_NAME_LENGTH: Final = 256
MAX_DESCRIPTION_LENGTH: Final = 1024


@dataclass(frozen=True)
class ReconcileRequest:
    """`{"action": "reconcile", "namespace", "sandbox"}`: a namespace a reconcile found without a record;
    handled like a namespace-created event (no secret yet: `pending_secret`)."""

    request: ConnectionRequest


@dataclass(frozen=True)
class VerifyRequest:
    """`{"action": "verify", ...}`: make Adobe hold exactly one connection for this key."""

    key: ConnectionKey


def _optional_text(body: Mapping[str, Any], field: str, limit: int) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"'{field}' must be a string.", field=field)
    if len(value) > limit:
        raise InvalidRequest(f"'{field}' is longer than {limit} characters.", field=field)
    if CONTROL_CHARS.search(value):
        raise InvalidRequest(f"'{field}' must not contain control characters.", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(f"'{field}' must be valid Unicode text (no lone surrogates).", field=field) from None
    if not value.strip():
        raise InvalidRequest(f"'{field}' must not be blank.", field=field)
    return value


def parse_request(body: object, default_sandbox: str) -> ConnectionRequest:
    """Validate a decoded JSON request (HTTP body or queue message) into a ConnectionRequest."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request must be a JSON object.", field=None, code="InvalidJson")
    _reject_unknown(body, REQUEST_FIELDS)
    if body.get("namespace") is None:
        raise InvalidRequest("'namespace' is required.", field="namespace")
    namespace = validate_namespace(body["namespace"])
    sandbox = default_sandbox if body.get("sandbox") is None else validate_sandbox(body["sandbox"])
    event_hub = None if body.get("eventHubName") is None else validate_event_hub(body["eventHubName"])
    auth_value = body.get("authType")
    if auth_value is None:
        auth_type = AuthType.SAS
    elif isinstance(auth_value, str) and auth_value.lower() in {a.value for a in AuthType}:
        auth_type = AuthType(auth_value.lower())
    else:
        raise InvalidRequest('\'authType\' must be "sas" or "aad".', field="authType")
    return ConnectionRequest(
        namespace=namespace,
        sandbox=sandbox,
        event_hub=event_hub,
        auth_type=auth_type,
        name=_optional_text(body, "name", MAX_NAME_LENGTH),
        description=_optional_text(body, "description", MAX_DESCRIPTION_LENGTH),
    )


def parse_dataflow_request(body: object, defaults: DataflowDefaults) -> DataflowRequest:
    """Validate the body of POST /api/dataflows (or an `"action": "dataflow"` queue message)."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request must be a JSON object.", field=None, code="InvalidJson")
    _reject_unknown(body, DATAFLOW_FIELDS)
    for required in ("namespace", "eventHubName"):
        if body.get(required) is None:
            raise InvalidRequest(f"'{required}' is required.", field=required)
    dataset = body.get("datasetId", defaults.dataset_id)
    if dataset is None:
        raise InvalidRequest("'datasetId' is required (DATAFLOW_DATASET_ID is not set).", field="datasetId")
    data_type = _one_of(body, "dataType", ("xdm", "raw"), defaults.data_type)
    mapping = body.get("mappingId")
    if mapping is not None and (not isinstance(mapping, str) or not ADOBE_ID_PATTERN.fullmatch(mapping)):
        raise InvalidRequest("'mappingId' must be a mapping set id (letters, digits and hyphens).", field="mappingId")
    if data_type == "raw" and mapping is None:
        raise InvalidRequest("'mappingId' is required with dataType raw (a Data Prep mapping set).", field="mappingId")
    consumer_group = body.get("consumerGroup", defaults.consumer_group)
    if not isinstance(consumer_group, str) or not CONSUMER_GROUP_PATTERN.fullmatch(consumer_group):
        raise InvalidRequest("'consumerGroup' is not a consumer group name.", field="consumerGroup")
    if not isinstance(dataset, str) or not ADOBE_ID_PATTERN.fullmatch(dataset):
        raise InvalidRequest("'datasetId' must be a dataset id (letters, digits and hyphens).", field="datasetId")
    return DataflowRequest(
        namespace=validate_namespace(body["namespace"]),
        sandbox=defaults.sandbox if body.get("sandbox") is None else validate_sandbox(body["sandbox"]),
        event_hub=validate_event_hub(body["eventHubName"]),
        dataset_id=dataset,
        data_type=data_type,
        consumer_group=consumer_group,
        reset=_one_of(body, "reset", ("earliest", "latest"), defaults.reset),
        mapping_id=mapping,
        name=_optional_text(body, "name", MAX_NAME_LENGTH),
    )


def _one_of(body: Mapping[str, Any], field: str, choices: tuple[str, ...], default: str) -> str:
    value = body.get(field, default)
    if value not in choices:
        raise InvalidRequest(f"'{field}' must be one of {', '.join(choices)}.", field=field)
    return str(value)


def parse_queue_message(
    body: object, defaults: DataflowDefaults
) -> ConnectionRequest | VerifyRequest | DataflowRequest | ReconcileRequest:
    """A queue message: the POST body (optionally `"action": "create"`), a verify, or a dataflow request."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request must be a JSON object.", field=None, code="InvalidJson")
    action = body.get("action", "create")
    if action not in ACTIONS:
        raise InvalidRequest(f"'action' must be one of {', '.join(ACTIONS)}.", field="action")
    rest = {k: v for k, v in body.items() if k != "action"}
    if action == "create":
        return parse_request(rest, defaults.sandbox)
    if action == "dataflow":
        return parse_dataflow_request(rest, defaults)
    if action == "reconcile":
        _reject_unknown(rest, ("namespace", "sandbox"))
        return ReconcileRequest(parse_request(rest, defaults.sandbox))
    _reject_unknown(body, VERIFY_FIELDS)
    if body.get("namespace") is None:
        raise InvalidRequest("'namespace' is required.", field="namespace")
    sandbox = defaults.sandbox if body.get("sandbox") is None else validate_sandbox(body["sandbox"])
    event_hub = None if body.get("eventHubName") is None else validate_event_hub(body["eventHubName"])
    return VerifyRequest(ConnectionKey(sandbox, validate_namespace(body["namespace"]), event_hub))


def _reject_unknown(body: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(str(key) for key in body if key not in allowed)
    if unknown:
        raise InvalidRequest(
            f"Unknown field {show_input(unknown[0])}; allowed fields are {', '.join(allowed)}.",
            # A lone surrogate cannot be encoded: shown escaped, so any key can be named in the answer.
            field=unknown[0][:100].encode("utf-8", "backslashreplace").decode("utf-8"),
        )
