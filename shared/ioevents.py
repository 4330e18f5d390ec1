"""Adobe I/O Events deliveries: the signature check and what a delivery says.

Adobe signs the raw body (RSA-SHA256, PKCS#1 v1.5, base64) in `x-adobe-digital-signature-1`/`-2`
and names each PEM public key by `x-adobe-public-key1-path`/`-2-path` on
`ADOBE_IO_EVENTS_KEY_URL`. A key is fetched from that host only (a path that would leave it is
refused before any fetch) and kept 24 h; a path that served no key is not asked again for 5
minutes. The RSA check is `cryptography`'s.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from .adobe.runs import FlowRun, parse_run
from .errors import InvalidJson, SignatureInvalid

KEY_TTL_SECONDS: Final = 24 * 3600.0
MISSING_KEY_TTL_SECONDS: Final = 300.0
MAX_BODY_BYTES: Final = 256 * 1024
RUN_EVENTS: Final = frozenset({"source_flow_run_error", "source_flow_run_info"})
_KEY_PATH: Final = re.compile(r"/[A-Za-z0-9_-]+(?:/[A-Za-z0-9_.-]+)*\.pem")


class IOEventsVerifier:
    """Verifies delivery signatures against the public keys of one key host."""

    def __init__(
        self,
        key_url: str,
        *,
        fetch: Callable[[str], bytes | None],
        monotonic: Callable[[], float],
    ) -> None:
        self._key_url = key_url.rstrip("/")
        self._host = urlsplit(self._key_url).netloc
        self._fetch = fetch
        self._monotonic = monotonic
        self._keys: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self.fetches = 0

    def verify(self, raw: bytes, headers: Mapping[str, str]) -> None:
        """Return when signature 1 or 2 verifies; SignatureInvalid otherwise."""
        lowered = {name.lower(): value for name, value in headers.items()}
        for index in (1, 2):
            signature = lowered.get(f"x-adobe-digital-signature-{index}")
            path = lowered.get(f"x-adobe-public-key{index}-path")
            if not signature or not path:
                continue
            key = self._key(path)
            if key is not None and _verifies(key, signature, raw):
                return
        raise SignatureInvalid("The delivery's signature does not verify against Adobe I/O Events' public keys.")

    def _key(self, path: str) -> Any:
        if not _KEY_PATH.fullmatch(path) or ".." in path:
            return None
        url = self._key_url + path
        if urlsplit(url).netloc != self._host:
            return None
        now = self._monotonic()
        with self._lock:
            cached = self._keys.get(path)
            if cached is not None and now < cached[0]:
                return cached[1]
        self.fetches += 1
        key = _public_key(self._fetch(url))
        with self._lock:
            self._keys[path] = (now + (KEY_TTL_SECONDS if key is not None else MISSING_KEY_TTL_SECONDS), key)
        return key


def _public_key(pem: bytes | None) -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    if not pem:
        return None
    try:
        key = load_pem_public_key(pem)
    except (ValueError, TypeError):
        return None
    return key if isinstance(key, rsa.RSAPublicKey) else None


def _verifies(key: Any, signature: str, raw: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        key.verify(base64.b64decode(signature, validate=True), raw, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Delivery:
    """What a verified delivery says: who it is for, which event, and the run it carries."""

    event_id: str
    recipient_client_id: str
    event_code: str
    flow_id: str | None
    run: FlowRun | None

    @property
    def about_a_run(self) -> bool:
        return self.event_code in RUN_EVENTS and self.flow_id is not None and self.run is not None


def parse_delivery(raw: bytes, header_event_id: str | None = None) -> Delivery:
    """The delivery in a verified body; InvalidJson when it is not a JSON object."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidJson("The delivery is not JSON.") from None
    if not isinstance(body, dict):
        raise InvalidJson("The delivery is not a JSON object.")
    event = _dict(body.get("event"))
    header = _dict(_dict(event.get("header")).get("_adobeio"))
    run_body = _dict(event["body"]) if isinstance(event.get("body"), dict) else event  # older: the run at `event`
    flow_id = run_body.get("flowId") if isinstance(run_body.get("flowId"), str) else None
    code = header.get("eventCode") or body.get("event_code") or ""
    return Delivery(
        event_id=str(body.get("event_id") or header_event_id or ""),
        recipient_client_id=str(body.get("recipient_client_id") or ""),
        event_code=str(code),
        flow_id=flow_id,
        run=parse_run(run_body) if flow_id else None,
    )
