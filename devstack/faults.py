"""Fault injection and request recording shared by every stand-in server.

A test adds :class:`Fault` objects to a stand-in's :class:`FaultPlan`; the server consults the plan for
each request and, when a fault matches, answers with it (or drops the connection, or stalls) instead
of (or around) its normal handler. Every request a stand-in receives is kept as a
:class:`RecordedRequest` in its :class:`Recorder`.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, unquote_plus

FaultAction = Literal["respond", "drop", "commit_then_stall", "stall"]

__all__ = ["Fault", "FaultAction", "FaultPlan", "RecordedRequest", "Recorder"]


@dataclass
class Fault:
    """One injected misbehaviour for requests matching ``method`` and the ``path`` regex.

    ``path`` is searched (``re.search``) in the request target including the query string, as sent
    and percent-decoded (a match in either counts).
    Actions: ``respond`` answers ``status`` (500 if None)/``body``/``headers`` instead of the normal handler;
    ``drop`` closes the connection without any response; ``stall`` sleeps ``delay`` and then
    handles the request normally; ``commit_then_stall`` runs the normal handler (the change is
    committed) and sleeps ``delay`` before writing its response. ``delay`` also applies before
    ``respond`` and ``drop``. ``times`` is how many matching requests it applies to (-1: forever).
    """

    method: str | None
    path: str
    status: int | None = None
    body: bytes | dict[str, Any] | list[Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    action: FaultAction = "respond"
    times: int = 1

    def __post_init__(self) -> None:
        if self.action not in ("respond", "drop", "commit_then_stall", "stall"):
            raise ValueError(f"unknown fault action {self.action!r}")
        if self.times == 0 or self.times < -1:
            raise ValueError("times must be a positive count or -1 (forever)")
        re.compile(self.path)

    def matches(self, method: str, target: str) -> bool:
        """Whether this fault applies to a request (ignores the remaining count)."""
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return re.search(self.path, target) is not None or re.search(self.path, unquote_plus(target)) is not None

    def body_bytes(self) -> bytes:
        """The response body as bytes (dicts and lists are JSON-encoded)."""
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


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
