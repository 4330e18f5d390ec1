"""The scrubber: every quoted form of a secret removed, short values never registered, other text intact."""

from __future__ import annotations

import json
import secrets
import time
from urllib.parse import quote, quote_plus, urlencode

import pytest

from shared.sensitive import MIN_SECRET_LENGTH, REDACTED, register_secret, scrub, too_short


def _secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(24)


@pytest.mark.parametrize("value", ["e", "tel", "Endpoint", "x" * (MIN_SECRET_LENGTH - 1)])
def test_a_short_value_is_never_registered_and_changes_no_text(value: str) -> None:
    register_secret(value)
    body = json.dumps({"namespace": "contoso-telemetry", "created": True, "state": "ready", "x": value * 2})
    assert too_short(value)
    assert scrub(body) == body


def test_a_value_of_the_minimum_length_is_scrubbed() -> None:
    value = _secret()[:MIN_SECRET_LENGTH]
    register_secret(value)
    assert not too_short(value)
    assert scrub(f"key={value};") == f"key={REDACTED};"


def test_fragments_of_eight_characters_are_scrubbed_and_shorter_ones_kept() -> None:
    value = _secret()
    register_secret(value)
    assert value[3:11] not in scrub(f"... {value[3:11]} ...")
    assert scrub(f"... {value[3:10]} ...") == f"... {value[3:10]} ..."


@pytest.mark.parametrize(
    "quote_it",
    [
        lambda v: json.dumps(v),  # \u00e9 escapes (ensure_ascii)
        lambda v: json.dumps(v).replace("/", "\\/"),  # encoders that escape the solidus
        lambda v: json.dumps(v).replace("\\u00e9", "\\u00E9"),  # upper-case hex
        lambda v: json.dumps(json.dumps(v)),  # a JSON body quoted inside a JSON message
        lambda v: quote(v, safe=""),
        lambda v: quote(v),
        lambda v: quote_plus(v),
        lambda v: urlencode({"client_secret": v}),  # an IMS form echoed back
    ],
    ids=["json", "json-solidus", "json-upper-hex", "json-in-json", "quote", "quote-path", "quote-plus", "form"],
)
def test_every_quoted_form_of_a_non_ascii_secret_is_scrubbed(quote_it: object) -> None:
    value = f"clé/secrète+très {secrets.token_hex(4)}=="
    register_secret(value)
    quoted = quote_it(value)  # type: ignore[operator]
    core = quoted.split("=", 1)[1] if quoted.startswith("client_secret=") else quoted.strip('"\\')
    assert core != value and len(core) >= len(value)
    text = f"Adobe said: invalid request body {{'sasKey': {quoted}}}"
    assert scrub(text) == text.replace(core, REDACTED)


def test_scrubbing_leaves_other_text_and_json_valid() -> None:
    register_secret(_secret())
    register_secret("e")
    register_secret("tel")
    body = json.dumps({"namespace": "contoso-telemetry", "created": True, "connectionId": "4cb0c374-1234"})
    assert scrub(body) == body
    assert json.loads(scrub(body))["created"] is True


def test_scrub_stays_fast_with_many_secrets_registered() -> None:
    for _ in range(300):
        register_secret(_secret("k"))
    text = json.dumps([{"id": secrets.token_hex(16), "name": f"Azure Event Hubs contoso-{i}"} for i in range(120)])
    started = time.perf_counter()
    for _ in range(20):
        assert scrub(text) == text
    per_call = (time.perf_counter() - started) / 20
    assert per_call < 0.02, f"{per_call * 1000:.1f} ms to scrub {len(text)} characters"
