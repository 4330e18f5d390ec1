"""The Platform gateway's header checks and the error bodies Adobe's services answer with.

Gateway errors (token, API key, org) are ``{"error_code", "message"}``. Service errors ("problem"
errors: validation, not found, 412, 1418, unknown sandbox, ...) come in the shape chosen by
:data:`ErrorStyle`:

- ``"problem"``: ``{"type", "title", "status", "detail", "report": {"tenantInfo", "additionalContext"}}``
- ``"report"``: Flow Service's documented shape (the ``FLOW-1439-404`` sample) with no ``detail``:
  ``{"type", "title", "status", "report": {"detailed-message", "request-id", "tenantInfo",
  "additionalContext"[, "id", "type"]}, "errorMessage", "errorDetails"}``
- ``"message"``: ``{"code", "message"}``

Every problem response carries an ``x-request-id`` header (the same id as ``report.request-id``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from typing import Any, Literal

from devstack.faults import RecordedRequest
from devstack.httpbase import Response

__all__ = ["ERROR_STYLES", "TITLES", "ErrorStyle", "check_headers", "gateway_error", "problem"]

ErrorStyle = Literal["problem", "report", "message"]
ERROR_STYLES: tuple[ErrorStyle, ...] = ("problem", "report", "message")

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def gateway_error(status: int, code: str, message: str) -> Response:
    """An error of Adobe's API gateway (Adobe I/O): ``{"error_code", "message"}``."""
    return Response.json(status, {"error_code": code, "message": message})


def problem(
    style: ErrorStyle,
    status: int,
    code: str,
    message: str,
    request: RecordedRequest,
    *,
    resource_id: str | None = None,
    resource_type: str | None = None,
    service: str = "FLOW",
) -> Response:
    """A service error in ``style``; ``code`` is the service's code, e.g. ``1401-400``.

    ``resource_id``/``resource_type`` (the ``report.id``/``report.type`` of the ``report`` style)
    name the resource the error is about, when there is one; ``service`` prefixes the code in
    ``type`` (``FLOW`` for Flow Service, ``CAT`` for Catalog).
    """
    request_id = str(uuid.uuid4())
    tenant = {
        "sandboxName": request.headers.get("x-sandbox-name"),
        "imsOrgId": request.headers.get("x-gw-ims-org-id"),
    }
    body: dict[str, Any]
    if style == "message":
        body = {"code": code, "message": message}
    elif style == "report":
        report: dict[str, Any] = {
            "detailed-message": message,
            "request-id": request_id,
            "tenantInfo": tenant,
            "additionalContext": None,
        }
        if resource_id is not None:
            report["id"] = resource_id
        if resource_type is not None:
            report["type"] = resource_type
        body = {
            "type": f"https://ns.adobe.com/aep/errors/{service}-{code}",
            "title": TITLES.get(status, "Error"),
            "status": status,
            "report": report,
            "errorMessage": message,
            "errorDetails": message,
        }
    else:
        body = {
            "type": f"https://ns.adobe.com/aep/errors/{service}-{code}",
            "title": TITLES.get(status, "Error"),
            "status": status,
            "detail": message,
            "report": {"tenantInfo": tenant, "additionalContext": None},
        }
    return Response.json(status, body, {"x-request-id": request_id})


def check_headers(
    request: RecordedRequest,
    *,
    token_is_valid: Callable[[str], bool],
    api_key: str,
    org_id: str,
    sandboxes: Collection[str],
    style: ErrorStyle,
) -> Response | None:
    """The gateway's checks, in Adobe's order; None when the request may reach the service.

    No ``Authorization``: 403 ``403010``; a token that is not a valid bearer token: 401 ``401013``;
    no or a wrong ``x-api-key``: 403 ``403000``/``403003``; wrong org: 400 ``400003``; no sandbox
    header: ``2105-400``; unknown sandbox: ``2100-404`` (these two are service errors in ``style``).
    """
    authorization = request.headers.get("authorization", "").strip()
    if not authorization:
        return gateway_error(403, "403010", "Oauth token is missing.")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token_is_valid(token.strip()):
        return gateway_error(401, "401013", "Oauth token is not valid")
    sent_key = request.headers.get("x-api-key")
    if not sent_key:
        return gateway_error(403, "403000", "Api Key is required")
    if sent_key != api_key:
        return gateway_error(403, "403003", "Api Key is invalid")
    if request.headers.get("x-gw-ims-org-id") != org_id:
        return gateway_error(400, "400003", "Organization ID is missing or invalid")
    sandbox = request.headers.get("x-sandbox-name")
    if not sandbox:
        return problem(style, 400, "2105-400", "Header x-sandbox-name is missing", request)
    if sandbox not in sandboxes:
        return problem(style, 404, "2100-404", f"Sandbox {sandbox} not found", request)
    return None
