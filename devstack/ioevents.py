"""Adobe I/O Events deliveries, signed as Adobe signs them, and the loopback host of the public keys.

Adobe signs the raw body of each webhook delivery with RSA-SHA256 (PKCS#1 v1.5), base64, in
``x-adobe-digital-signature-1`` / ``-2``, and names the PEM public key of each in
``x-adobe-public-key1-path`` / ``-2-path`` on ``https://static.adobeioevents.com``
(developer.adobe.com events/docs/guides/sdk/sdk_signature_verification). :class:`IOEventsKeyHost`
serves the stand-in's test key pair (generated per instance) under :data:`KEY_PATHS` on a
loopback host, so ``ADOBE_IO_EVENTS_KEY_URL`` points the app at it; :meth:`IOEventsKeyHost.deliver`
builds a delivery (body bytes and headers) for a flow run.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from devstack.faults import RecordedRequest
from devstack.httpbase import Response, StandInServer

__all__ = ["KEY_PATHS", "IOEventsKeyHost", "delivery_body"]

KEY_PATHS = ("/prod/keys/pub-key-voy5XEbWmT.pem", "/prod/keys/pub-key-maAv3Tg6ZH.pem")


def delivery_body(
    run: dict[str, Any], *, recipient_client_id: str, event_code: str, org_id: str, event_id: str | None = None
) -> dict[str, Any]:
    """A "Platform notifications" delivery: ``{"event_id", "recipient_client_id", "event": {"header",
    "body": <the run>}}``."""
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "recipient_client_id": recipient_client_id,
        "event": {
            "header": {
                "_adobeio": {
                    "imsOrgId": org_id,
                    "providerMetadata": "platform_notifications",
                    "eventCode": event_code,
                }
            },
            "body": run,
        },
    }


class IOEventsKeyHost(StandInServer):
    """Serves the two public keys (plain http on loopback) and signs deliveries with their private keys."""

    name = "ioevents-keys"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self._keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in KEY_PATHS]

    @property
    def url(self) -> str:
        """``ADOBE_IO_EVENTS_KEY_URL`` for the app."""
        return self.base_url

    def public_pem(self, index: int = 0) -> bytes:
        return (
            self._keys[index]
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )

    def handle_request(self, request: RecordedRequest) -> Response:
        if request.method == "GET" and request.path in KEY_PATHS:
            return Response(200, self.public_pem(KEY_PATHS.index(request.path)), {"Content-Type": "text/plain"})
        return Response(404, b"Not Found", {"Content-Type": "text/plain"})

    def sign(self, body: bytes, index: int = 0) -> str:
        """base64 RSA-SHA256 (PKCS#1 v1.5) of the raw body with key ``index``."""
        signature = self._keys[index].sign(body, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(signature).decode()

    def headers(self, body: bytes) -> dict[str, str]:
        """The signature headers Adobe sends with this body (both keys)."""
        return {
            "x-adobe-digital-signature-1": self.sign(body, 0),
            "x-adobe-digital-signature-2": self.sign(body, 1),
            "x-adobe-public-key1-path": KEY_PATHS[0],
            "x-adobe-public-key2-path": KEY_PATHS[1],
        }

    def deliver(self, run: dict[str, Any], **fields: Any) -> tuple[bytes, dict[str, str]]:
        """(raw body, headers) of a signed delivery of a run (fields as :func:`delivery_body`)."""
        raw = json.dumps(delivery_body(run, **fields)).encode()
        return raw, {"Content-Type": "application/json", **self.headers(raw)}
