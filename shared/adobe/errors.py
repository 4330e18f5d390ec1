"""Adobe's error bodies, in every documented shape, turned into the error hierarchy (scrubbed)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from ..errors import AdobeAuthenticationFailed, AdobeErrorInfo, AdobeRejected
from ..sensitive import scrub

if TYPE_CHECKING:
    import requests

_ADOBE_CODE: Final = re.compile(r"\d{3,6}-\d{3}")
#: Gateway codes that mean "the token is missing or not valid": refresh once and repeat.
TOKEN_CODES: Final = frozenset({"401013", "403010"})
#: Where a message may be, in the order they are read (dots are nested keys).
_MESSAGE_FIELDS: Final = (
    "detail",
    "report.detailed-message",
    "report.detailedMessage",
    "report.message",
    "errorMessage",
    "message",
    "error_description",
    "title",
)
MAX_MESSAGE: Final = 300


def json_body(response: requests.Response) -> dict[str, Any]:
    """The response's JSON object, or {}."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def request_id(response: requests.Response) -> str | None:
    return response.headers.get("x-request-id") or response.headers.get("X-Request-Id")


def error_code(body: dict[str, Any]) -> str | None:
    """Adobe's error code: gateway `error_code`, `code`, or the `NNNN-NNN` in a problem's `type`."""
    code = body.get("error_code") or body.get("code") or body.get("error")
    if code is None and isinstance(body.get("type"), str):
        match = _ADOBE_CODE.search(body["type"])
        code = match.group(0) if match else body["type"].rsplit("/", 1)[-1]
    return None if code is None else str(code)


def error_info(response: requests.Response) -> AdobeErrorInfo:
    return AdobeErrorInfo(
        status=response.status_code, code=error_code(json_body(response)), request_id=request_id(response)
    )


def error_message(response: requests.Response) -> str:
    """The first message found in any documented shape: scrubbed, then cut to 300 characters."""
    body = json_body(response)
    for field in _MESSAGE_FIELDS:
        value: Any = body
        for part in field.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and value.strip():
            text = scrub(" ".join(value.split()))
            return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."
    return f"HTTP {response.status_code}"


def is_token_refusal(response: requests.Response) -> bool:
    """A gateway 401, or a 401/403 whose code says the token is missing or invalid."""
    if response.status_code == 401:
        return True
    return response.status_code == 403 and error_code(json_body(response)) in TOKEN_CODES


def rejected(response: requests.Response, what: str) -> AdobeRejected:
    info = error_info(response)
    cls = AdobeAuthenticationFailed if is_token_refusal(response) else AdobeRejected
    return cls(
        f"Adobe Flow Service refused {what} ({info.code or response.status_code}): {error_message(response)}",
        adobe=info,
    )
