"""Outcome → HTTP response, in one place."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func

from shared.errors import ConnectorError
from shared.logs import log
from shared.sensitive import scrub


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> func.HttpResponse:
    """A JSON response with the given status."""
    return func.HttpResponse(
        scrub(json.dumps(body, separators=(",", ":"))),  # ASCII-escaped: always encodable
        status_code=status,
        headers=headers,
        mimetype="application/json",
        charset="utf-8",
    )


def error_response(err: ConnectorError) -> func.HttpResponse:
    """The contract's error body with the error's status (and Retry-After when it has one)."""
    headers = {"Retry-After": str(err.retry_after)} if err.retry_after is not None else None
    return json_response(err.http_status, err.to_body(), headers)


def unexpected_error_response(err: BaseException) -> func.HttpResponse:
    """A bug or an unmapped failure: 500 without details (the log has the type, never a value)."""
    log.error("unexpected %s while handling a request", type(err).__name__, exc_info=err)
    return json_response(
        500, {"error": {"code": "InternalError", "message": "An unexpected error occurred; see the function logs."}}
    )
