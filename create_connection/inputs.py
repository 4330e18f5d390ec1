"""Turns trigger payloads (HTTP body, queue message) into decoded JSON, with clear errors."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, Final

from shared.errors import InvalidJson, PayloadTooLarge

MAX_BODY_BYTES: Final = 64 * 1024
_BASE64: Final = re.compile(rb"[A-Za-z0-9+/\s]+={0,2}\s*")


def decode_json(body: bytes, *, what: str = "request body") -> Any:
    """Parse a JSON document of at most 64 KiB; raise PayloadTooLarge or InvalidJson."""
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The {what} is {len(body)} bytes; the limit is {MAX_BODY_BYTES} bytes.")
    if not body.strip():
        raise InvalidJson(f"The {what} is empty; send a JSON object.")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidJson(f"The {what} is not UTF-8 text.") from None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:
        position = f" at line {err.lineno} column {err.colno}" if isinstance(err, json.JSONDecodeError) else ""
        raise InvalidJson(f"The {what} is not valid JSON{position}.") from None


def decode_queue_message(body: bytes) -> Any:
    """A queue message's JSON: plain JSON text, or (from older senders) base64 of JSON text."""
    try:
        return decode_json(body, what="queue message")
    except InvalidJson:
        stripped = body.strip()
        if not (_BASE64.fullmatch(stripped) and len(stripped.replace(b"\n", b"")) % 4 == 0):
            raise
        try:
            decoded = base64.b64decode(stripped, validate=False)
        except (binascii.Error, ValueError):
            raise InvalidJson("The queue message is neither JSON nor base64-encoded JSON.") from None
        return decode_json(decoded, what="queue message (base64-decoded)")
