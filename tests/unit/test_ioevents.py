"""I/O Events signatures: cryptography's RSA check, keys only from ADOBE_IO_EVENTS_KEY_URL, cached."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from shared.errors import SignatureInvalid
from shared.ioevents import IOEventsVerifier, parse_delivery

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
BASE = "https://static.adobeioevents.com"


def signed(body: bytes) -> str:
    return base64.b64encode(KEY.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()


class Keys:
    def __init__(self) -> None:
        self.fetched: list[str] = []
        self.t = 0.0

    def fetch(self, url: str) -> bytes | None:
        self.fetched.append(url)
        return PEM if url == BASE + "/prod/keys/k1.pem" else None

    def verifier(self) -> IOEventsVerifier:
        return IOEventsVerifier(BASE, fetch=self.fetch, monotonic=lambda: self.t)


def headers(signature: str, path: str = "/prod/keys/k1.pem") -> dict[str, str]:
    return {"x-adobe-digital-signature-1": signature, "x-adobe-public-key1-path": path}


def test_a_good_signature_verifies_and_the_key_is_cached_24_hours() -> None:
    keys = Keys()
    verifier = keys.verifier()
    body = b'{"event_id":"1"}'
    verifier.verify(body, headers(signed(body)))
    verifier.verify(body, headers(signed(body)))
    assert keys.fetched == [BASE + "/prod/keys/k1.pem"]
    keys.t += 24 * 3600 + 1
    verifier.verify(body, headers(signed(body)))
    assert len(keys.fetched) == 2


@pytest.mark.parametrize(
    "path",
    ["//evil.example/k.pem", "/prod/../../k.pem", "https://evil.example/k.pem", "@evil.example/k.pem", "/k.txt"],
)
def test_a_key_path_off_the_key_host_is_never_fetched(path: str) -> None:
    keys = Keys()
    body = b"{}"
    with pytest.raises(SignatureInvalid):
        keys.verifier().verify(body, headers(signed(body), path))
    assert keys.fetched == []


def test_bad_or_missing_signatures_are_refused() -> None:
    keys = Keys()
    verifier = keys.verifier()
    body = b'{"a":1}'
    for bad in (signed(b'{"a":2}'), "not base64!", ""):
        with pytest.raises(SignatureInvalid):
            verifier.verify(body, headers(bad))
    with pytest.raises(SignatureInvalid):
        verifier.verify(body, {})
    # signature 2 alone is enough
    verifier.verify(
        body, {"x-adobe-digital-signature-2": signed(body), "x-adobe-public-key2-path": "/prod/keys/k1.pem"}
    )


def test_a_delivery_reads_the_run_under_event_body_or_directly_under_event() -> None:
    run = {"id": "r1", "flowId": "f1", "metrics": {"statusSummary": {"status": "failed"}}}
    header = {"_adobeio": {"eventCode": "source_flow_run_error"}}
    for event in ({"header": header, "body": run}, {"header": header, **run}):
        raw = json.dumps({"event_id": "e1", "recipient_client_id": "me", "event": event}).encode()
        delivery = parse_delivery(raw)
        assert delivery.about_a_run and delivery.flow_id == "f1" and delivery.run is not None
        assert delivery.run.failed_run and delivery.event_id == "e1" and delivery.recipient_client_id == "me"
