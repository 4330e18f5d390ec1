"""How ``make demo`` prints: masking of secrets, short tables, and the ``--verbose`` dumps.

:class:`Masker` replaces every secret value the stack has handed out (asked anew at each use, as
tokens are issued along the way), also URL-encoded, with ``***``. :class:`View` prints lines (all
masked), two-column tables and, when verbose, request and response bodies and the Adobe calls.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TextIO
from urllib.parse import quote, quote_plus

from devstack.adobe import CATALOG_PATH, FLOW_SERVICE_PATH, TOKEN_PATH
from devstack.faults import RecordedRequest

__all__ = ["MASK", "WIDTH", "Masker", "View", "call_name", "describe_secret", "format_time"]

MASK = "***"
WIDTH = 100
_ID = re.compile(r"/(?=[0-9a-f-]*\d)[0-9a-f][0-9a-f-]{15,}(?=/|$)", re.IGNORECASE)


class Masker:
    """``mask(text)``: ``text`` with every value of ``secrets()`` (and its URL-encoded forms) masked."""

    def __init__(self, secrets: Callable[[], Iterable[str]]) -> None:
        self._secrets = secrets

    def mask(self, text: str) -> str:
        forms = {
            form for value in self._secrets() if value for form in (value, quote(value, safe=""), quote_plus(value))
        }
        for form in sorted(forms, key=len, reverse=True):
            text = text.replace(form, MASK)
        return text


def describe_secret(value: str) -> str:
    """A secret value as the demo shows it: a connection string by its parts with the key masked,
    anything else as ``***`` and its length."""
    parts = dict(part.split("=", 1) for part in value.split(";") if "=" in part)
    if "SharedAccessKey" in parts and "Endpoint" in parts:
        scope = f", EntityPath={parts['EntityPath']}" if parts.get("EntityPath") else ""
        return f"SAS connection string ({parts.get('SharedAccessKeyName')}, key {MASK}{scope})"
    return f"{MASK} ({len(value)} characters)"


def format_time(value: datetime) -> str:
    """``2026-12-02 08:00:00 UTC``."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def call_name(request: RecordedRequest) -> str:
    """``POST connections``: the method and the path under Flow Service or Catalog, ids as ``{id}``
    (``IMS token`` for the token endpoint)."""
    if request.path == TOKEN_PATH:
        return "IMS token"
    path = request.path
    for root in (FLOW_SERVICE_PATH, CATALOG_PATH):
        path = path.removeprefix(root)
    return f"{request.method} {_ID.sub('/{id}', path).lstrip('/')}"


class View:
    """Masked output to ``out``; the dumps only when ``verbose``."""

    def __init__(self, out: TextIO, masker: Masker, *, verbose: bool = False) -> None:
        self.out = out
        self.masker = masker
        self.verbose = verbose

    def line(self, text: str = "") -> None:
        """``text``, masked, wrapped at spaces to :data:`WIDTH` columns (continued 2 further in than
        its text starts, after any ``N.`` numbering)."""
        masked = self.masker.mask(text)
        start = re.match(r" *(?:\d+\. )?", masked)
        indent = " " * ((start.end() if start else 0) + 2)
        lines = textwrap.wrap(
            masked,
            WIDTH,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
        for line in lines or [""]:
            print(line, file=self.out)

    def rows(self, rows: Sequence[tuple[str, Any]], indent: int = 5) -> None:
        """A two-column table: labels padded to the longest."""
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            self.line(f"{' ' * indent}{label:<{width}}  {value}")

    def listing(self, prefix: str, items: Sequence[str]) -> None:
        """``prefix`` then the items, comma-separated, wrapped between items to :data:`WIDTH`."""
        indent = " " * (len(prefix) - len(prefix.lstrip()) + 2)
        current = prefix
        for number, item in enumerate(items):
            piece = item + ("," if number < len(items) - 1 else "")
            if current.strip() and len(self.masker.mask(f"{current} {piece}")) > WIDTH:
                self.raw(current)
                current = indent + piece
            else:
                current = f"{current} {piece}"
        self.raw(current)

    def raw(self, text: str) -> None:
        """``text``, masked, as it is (no wrapping: JSON)."""
        print(self.masker.mask(text), file=self.out)

    def dump(self, label: str, payload: Any) -> None:
        """Verbose only: ``label`` then the payload as indented JSON."""
        if not self.verbose:
            return
        self.raw(f"     {label}:")
        for text in json.dumps(payload, indent=2, default=str).splitlines():
            self.raw("       " + text)

    def exchange(
        self,
        request: str,
        body: Any,
        status: str,
        answer: Any,
        calls: Sequence[RecordedRequest] = (),
    ) -> None:
        """Verbose only: the request and its body (None: no body), the Adobe calls it made, the answer."""
        if not self.verbose:
            return
        if body is None:
            self.raw(f"     request {request}")
        else:
            self.dump(f"request {request}", body)
        self.calls(calls)
        self.dump(f"response {status}", answer)

    def calls(self, requests: Sequence[RecordedRequest]) -> None:
        """Verbose only: each Adobe call with its body."""
        if not self.verbose:
            return
        for request in requests:
            self.raw(f"     Adobe call: {request.method} {request.target}")
            if not request.body:
                continue
            try:
                body: Any = request.json()
            except ValueError:
                self.raw("       " + request.body.decode("utf-8", "replace"))
                continue
            for text in json.dumps(body, indent=2).splitlines():
                self.raw("       " + text)
