"""Fault injection and request recording shared by every stand-in server.

A test adds :class:`Fault` objects to a stand-in's :class:`FaultPlan`; the server consults the plan for
each request and, when a fault matches, answers with it (or drops the connection, or delays the
normal handler or its answer: ``late_commit``/``stall``, ``commit_then_stall``) instead of (or
around) its normal handler. Every request a stand-in receives is kept as a
:class:`RecordedRequest` in its :class:`Recorder`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias
from urllib.parse import parse_qs, unquote_plus

FaultAction = Literal["respond", "drop", "commit_then_stall", "stall", "late_commit"]
FAULT_ACTIONS: tuple[FaultAction, ...] = ("respond", "drop", "commit_then_stall", "stall", "late_commit")

BodyValue: TypeAlias = "bytes | dict[str, Any] | list[Any]"
"""A fault's response body: raw bytes, or a dict/list sent as JSON."""
FaultBody: TypeAlias = "BodyValue | Callable[[RecordedRequest], BodyValue] | None"
"""A fixed body, a function of the request building one when the fault fires, or None (empty)."""

__all__ = [
    "FAULT_ACTIONS",
    "BodyValue",
    "Fault",
    "FaultAction",
    "FaultBody",
    "FaultPlan",
    "RecordedRequest",
    "Recorder",
    "encode_body",
]


@dataclass
class Fault:
    """One injected misbehaviour for requests matching ``method`` and the ``path`` regex.

    ``path`` is searched (``re.search``) in the request target including the query string, as sent
    and percent-decoded (a match in either counts).
    Actions:

    - ``respond`` answers ``status`` (500 if None)/``body``/``headers`` instead of the normal handler.
      ``body`` may be bytes, a dict or list (sent as JSON), or a callable taking the
      :class:`RecordedRequest` and returning one of those, evaluated when the fault fires (so the
      body can quote the request, as services that echo the submitted params do).
    - ``drop`` closes the connection without any response.
    - ``late_commit`` waits ``delay``, then runs the normal handler (the change IS committed, after
      a client with a shorter timeout has probably given up), then tries to write the response.
    - ``stall`` is the older name of the same behaviour: sleep ``delay``, then handle normally.
    - ``commit_then_stall`` runs the normal handler at once (the change is committed) and sleeps
      ``delay`` before writing its response.

    ``delay`` also applies before ``respond`` and ``drop``. ``times`` is how many matching requests
    it applies to (-1: forever).
    """

    method: str | None
    path: str
    status: int | None = None
    body: FaultBody = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    action: FaultAction = "respond"
    times: int = 1

    def __post_init__(self) -> None:
        if self.action not in FAULT_ACTIONS:
            raise ValueError(f"unknown fault action {self.action!r}")
        if self.times == 0 or self.times < -1:
            raise ValueError("times must be a positive count or -1 (forever)")
        re.compile(self.path)

    def matches(self, method: str, target: str) -> bool:
        """Whether this fault applies to a request (ignores the remaining count)."""
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return re.search(self.path, target) is not None or re.search(self.path, unquote_plus(target)) is not None

    def body_value(self, request: RecordedRequest | None = None) -> BodyValue | None:
        """The body for this request: a callable body is called with ``request`` (required then)."""
        if callable(self.body):
            if request is None:
                raise TypeError("this fault's body is built from the request: pass the request")
            return self.body(request)
        return self.body

    def body_bytes(self, request: RecordedRequest | None = None) -> bytes:
        """The response body as bytes (dicts and lists are JSON-encoded)."""
        return encode_body(self.body_value(request))


def encode_body(value: BodyValue | None) -> bytes:
    """Bytes as they are, dicts and lists as JSON, None as empty."""
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    return json.dumps(value).encode()


class FaultPlan:
    """A thread-safe, ordered list of faults; the first matching fault with uses left wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[list[Any]] = []  # [fault, remaining uses (-1 = forever)]
        self._fired: list[tuple[Fault, str, str]] = []

    def add(self, fault: Fault) -> Fault:
        """Add a fault (after the existing ones) and return it."""
        with self._lock:
            self._entries.append([fault, fault.times])
        return fault

    def clear(self) -> None:
        """Remove every fault and forget which ones fired."""
        with self._lock:
            self._entries.clear()
            self._fired.clear()

    def match(self, method: str, path: str) -> Fault | None:
        """Return the fault for this request, consuming one of its uses, or None."""
        with self._lock:
            for entry in self._entries:
                fault: Fault = entry[0]
                if fault.matches(method, path):
                    if entry[1] > 0:
                        entry[1] -= 1
                        if entry[1] == 0:
                            self._entries.remove(entry)
                    self._fired.append((fault, method, path))
                    return fault
        return None

    def pending(self) -> list[Fault]:
        """Faults that still have uses left."""
        with self._lock:
            return [entry[0] for entry in self._entries]

    @property
    def fired(self) -> list[tuple[Fault, str, str]]:
        """(fault, method, target) for every request a fault was applied to, oldest first."""
        with self._lock:
            return list(self._fired)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


@dataclass
class RecordedRequest:
    """One request as a stand-in received it (header names lower-cased)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float
    target: str = ""
    """The raw request target: path plus ``?query`` when there is one."""
    fault: str | None = None
    """The action of the fault applied to this request, if any."""

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, list[str]]:
        """The body decoded as ``application/x-www-form-urlencoded``."""
        return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)


class Recorder:
    """Thread-safe list of :class:`RecordedRequest` with simple filtering."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []

    def append(self, request: RecordedRequest) -> None:
        """Record one request."""
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every recorded request, oldest first."""
        with self._lock:
            return list(self._requests)

    def calls(self, method: str | None = None, path_regex: str | None = None) -> list[RecordedRequest]:
        """Recorded requests with this method (any if None) whose target (path and query, as sent or
        percent-decoded) matches ``path_regex`` (``re.search``)."""
        pattern = re.compile(path_regex) if path_regex is not None else None
        return [
            r
            for r in self.requests
            if (method is None or r.method.upper() == method.upper())
            and (
                pattern is None
                or pattern.search(r.target or r.path) is not None
                or pattern.search(unquote_plus(r.target or r.path)) is not None
            )
        ]

    def reset(self) -> None:
        """Forget every recorded request."""
        with self._lock:
            self._requests.clear()
