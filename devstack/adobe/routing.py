"""The Platform routing table: (method, path pattern) -> handler, contributed by resource modules.

A resource module (``connections.py``, ``specs.py``, ...) builds :class:`Route` objects; the
:class:`Router` mounts them under a service root (``/data/foundation/flowservice``, later
``/data/foundation/catalog``...). Patterns are paths relative to the root with ``{name}``
placeholders for one segment (``/connections/{id}``). A handler takes a :class:`Call` (the
request, its sandbox, the path parameters and the error builder) and returns a :class:`Response`.

Mounting a pattern that an earlier :meth:`Router.mount` already served replaces every route of that
pattern (all methods): a test can swap a built-in resource for its own module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from devstack.adobe.gateway import ErrorStyle, problem
from devstack.faults import RecordedRequest
from devstack.httpbase import Response

__all__ = ["Call", "Handler", "Route", "Router"]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class Call:
    """One Platform request that passed the gateway, as a handler sees it.

    ``style`` and ``echo`` are the stand-in's ``error_style`` and ``echo_request_in_errors`` when
    the request arrived.
    """

    request: RecordedRequest
    sandbox: str
    style: ErrorStyle = "problem"
    echo: bool = False
    params: dict[str, str] = field(default_factory=dict)
    root: str = ""

    def problem(
        self,
        status: int,
        code: str,
        message: str,
        *,
        resource_id: str | None = None,
        resource_type: str | None = None,
        service: str = "FLOW",
    ) -> Response:
        """A service error in the current style; with ``echo`` a 4xx quotes the request body.

        ``service`` is the prefix of the error type (``FLOW``, ``CAT`` for Catalog).
        """
        if self.echo and 400 <= status < 500 and self.request.body:
            message = f"{message}; request body: {self.request.body.decode('utf-8', errors='replace')}"
        return problem(
            self.style,
            status,
            code,
            message,
            self.request,
            resource_id=resource_id,
            resource_type=resource_type,
            service=service,
        )

    def json_body(self, *extra_types: str) -> tuple[Any, Response | None]:
        """(decoded JSON body, None), or (None, the 415/400 problem to answer)."""
        content_type = self.request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type not in ("application/json", *extra_types):
            return None, self.problem(415, "1100-415", "Content-Type must be application/json")
        try:
            return json.loads(self.request.body.decode("utf-8")), None
        except (ValueError, UnicodeDecodeError):
            return None, self.problem(400, "1400-400", "Request body is not valid JSON")

    def query_value(self, name: str, default: str = "") -> str:
        """The last value of a query parameter."""
        return self.request.query.get(name, [default])[-1]


Handler = Callable[[Call], Response]


def _normal(pattern: str) -> str:
    return pattern.rstrip("/") or "/"


@dataclass(frozen=True)
class Route:
    """``method`` + ``pattern`` (relative to the service root, ``{name}`` = one path segment)."""

    method: str
    pattern: str
    handler: Handler

    def compile(self) -> re.Pattern[str]:
        """The pattern as an anchored regex with named groups."""
        parts = _PLACEHOLDER.split(self.pattern.rstrip("/") or "/")
        regex = "".join(f"(?P<{part}>[^/]+)" if i % 2 else re.escape(part) for i, part in enumerate(parts))
        return re.compile(f"^{regex}/?$")


@dataclass
class _Mounted:
    root: str
    pattern: str
    method: str
    regex: re.Pattern[str]
    handler: Handler


class Router:
    """Routes mounted under service roots; :meth:`dispatch` answers 404/405 problems for misses."""

    def __init__(self) -> None:
        self._routes: list[_Mounted] = []
        self._roots: list[str] = []

    def mount(self, root: str, routes: Iterable[Route]) -> None:
        """Add routes under ``root`` (a path from the host, no trailing slash).

        Routes of a pattern mounted earlier under the same root are dropped (every method).
        """
        root = root.rstrip("/")
        if root not in self._roots:
            self._roots.append(root)
        added = [
            _Mounted(root, _normal(route.pattern), route.method.upper(), route.compile(), route.handler)
            for route in routes
        ]
        taken = {mounted.pattern for mounted in added}
        self._routes = [m for m in self._routes if m.root != root or m.pattern not in taken]
        self._routes.extend(added)

    @property
    def roots(self) -> list[str]:
        """The service roots with routes."""
        return list(self._roots)

    def root_for(self, path: str) -> str | None:
        """The service root a path belongs to (the longest that matches), or None."""
        matching = [root for root in self._roots if path == root or path.startswith(root + "/")]
        return max(matching, key=len) if matching else None

    def dispatch(self, call: Call) -> Response:
        """Run the handler for the call's method and path, or answer ``1100-404``/``1100-405``."""
        path = call.request.path
        root = self.root_for(path)
        relative = path[len(root) :] if root is not None else path
        allowed = False
        for mounted in self._routes:
            if mounted.root != root:
                continue
            match = mounted.regex.match(relative or "/")
            if match is None:
                continue
            if mounted.method != call.request.method.upper():
                allowed = True
                continue
            call.params = dict(match.groupdict())
            call.root = mounted.root
            return mounted.handler(call)
        if allowed:
            return call.problem(405, "1100-405", f"{call.request.method} is not allowed on {path}")
        return call.problem(404, "1100-404", f"No resource at {path}")
