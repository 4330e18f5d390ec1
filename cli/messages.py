"""Request-queue messages for a record's request, in the shape `create_connection_queue` parses
(`shared.payloads.parse_queue_message`): `{"action": "create", ...}` or `{"action": "dataflow", ...}`."""

from __future__ import annotations

import json
from typing import Any

from shared.dataflow_records import DataflowRequest
from shared.models import ConnectionRequest


def create_message(request: ConnectionRequest) -> str:
    """The POST /api/connections body of the request, as a queue message."""
    body = {
        "action": "create",
        "namespace": request.namespace,
        "sandbox": request.sandbox,
        "eventHubName": request.event_hub,
        "authType": request.auth_type.value,
        "name": request.name,
        "description": request.description,
    }
    return _text(body)


def dataflow_message(request: DataflowRequest) -> str:
    """The POST /api/dataflows body of the request, as a queue message."""
    body = {
        "action": "dataflow",
        "namespace": request.namespace,
        "eventHubName": request.event_hub,
        "sandbox": request.sandbox,
        "datasetId": request.dataset_id,
        "dataType": request.data_type,
        "consumerGroup": request.consumer_group,
        "reset": request.reset,
        "mappingId": request.mapping_id,
        "name": request.name,
    }
    return _text(body)


def _text(body: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in body.items() if v is not None}, separators=(",", ":"))
