"""The admin endpoint of a running ``devstack serve``, and its client (``add-namespace``).

Plain HTTP on 127.0.0.1, every request with ``Authorization: Bearer <token>`` (the token is in the
mode-0600 state file, :mod:`devstack.statefile`):

- ``GET /status`` -> 200 ``{"pid": <serve's pid>}``;
- ``POST /namespaces`` ``{"namespace", "scoped": <event hub> | null, "secret": <bool>,
  "eventHubs": [<event hub>, ...] | null}`` -> 201 with what
  :meth:`devstack.stack.LocalStack.seed_namespace` made known; 400 ``{"error"}`` for a bad name;
- ``POST /datasets`` ``{"name", "sandbox", "datasetId": <id> | null}`` -> 201 ``{"id", "name",
  "sandbox"}`` (a Catalog dataset with an XDM schema, for dataflows); 400 for a bad name, an
  unknown sandbox or an id already taken.

Anything else answers 404; a missing or wrong token 401.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Callable, Sequence
from typing import Any

import requests

from devstack.faults import RecordedRequest
from devstack.httpbase import Response, StandInServer
from devstack.stack import LocalStack, SeededNamespace
from shared.eventhubs import ADOBE_ID_PATTERN, EVENT_HUB_PATTERN, NAMESPACE_PATTERN

__all__ = ["AdminError", "AdminServer", "AdminUnreachable", "add_dataset", "add_namespace", "status"]

_NAMESPACE_RULE = "6 to 50 letters, digits and hyphens, starting with a letter and ending with a letter or digit"
_HUB_RULE = "1 to 256 letters, digits, '.', '-' and '_', starting and ending with a letter or digit"


class AdminServer(StandInServer):
    """Serves the admin API for ``stack``; ``on_seeded`` is told of every namespace added."""

    name = "admin"

    def __init__(
        self,
        stack: LocalStack,
        *,
        token: str | None = None,
        on_seeded: Callable[[SeededNamespace], None] | None = None,
    ) -> None:
        super().__init__()
        self.stack = stack
        self.token = token or secrets.token_urlsafe(32)
        self.on_seeded = on_seeded

    def handle_request(self, request: RecordedRequest) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip(), self.token):
            return Response.json(401, {"error": "the admin token from the state file is required"})
        if request.method == "GET" and request.path == "/status":
            return Response.json(200, {"pid": os.getpid()})
        if request.method == "POST" and request.path == "/namespaces":
            return self._add_namespace(request)
        if request.method == "POST" and request.path == "/datasets":
            return self._add_dataset(request)
        return Response.json(404, {"error": f"no admin operation {request.method} {request.path}"})

    def _add_namespace(self, request: RecordedRequest) -> Response:
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            return Response.json(400, {"error": "the body must be JSON"})
        problem = _problem(body)
        if problem:
            return Response.json(400, {"error": problem})
        hubs = body.get("eventHubs")
        seeded = self.stack.seed_namespace(
            body["namespace"],
            event_hubs=None if hubs is None else tuple(hubs),
            scoped=body.get("scoped"),
            secret=bool(body.get("secret", True)),
        )
        if self.on_seeded is not None:
            self.on_seeded(seeded)
        return Response.json(201, dataclasses.asdict(seeded))

    def _add_dataset(self, request: RecordedRequest) -> Response:
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            return Response.json(400, {"error": "the body must be JSON"})
        if not isinstance(body, dict):
            return Response.json(400, {"error": "the body must be a JSON object"})
        name, sandbox, wanted = (
            body.get("name"),
            body.get("sandbox") or self.stack.default_sandbox,
            body.get("datasetId"),
        )
        if not isinstance(name, str) or not name.strip() or len(name) > 256:
            return Response.json(400, {"error": "name must be 1 to 256 characters"})
        if sandbox not in self.stack.adobe.sandboxes:
            known = ", ".join(sorted(self.stack.adobe.sandboxes))
            return Response.json(400, {"error": f"sandbox {sandbox!r} does not exist in the stand-in (it has {known})"})
        if wanted is not None and (not isinstance(wanted, str) or not ADOBE_ID_PATTERN.fullmatch(wanted)):
            return Response.json(400, {"error": f"dataset id {wanted!r} is not an id (letters, digits and hyphens)"})
        if wanted is not None and any(d["id"] == wanted for d in self.stack.adobe.datasets(None)):
            return Response.json(400, {"error": f"a dataset with id {wanted} exists already"})
        dataset_id = self.stack.adobe.add_dataset(name.strip(), sandbox=sandbox, dataset_id=wanted)
        return Response.json(201, {"id": dataset_id, "name": name.strip(), "sandbox": sandbox})


def _problem(body: Any) -> str | None:
    """What is wrong with a ``POST /namespaces`` body, or None."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    namespace = body.get("namespace")
    if not isinstance(namespace, str) or not NAMESPACE_PATTERN.fullmatch(namespace):
        return f"namespace {namespace!r} is not an Event Hubs namespace name ({_NAMESPACE_RULE})"
    hubs = body.get("eventHubs")
    scoped = body.get("scoped")
    names = ([] if hubs is None else hubs if isinstance(hubs, list) else [hubs]) + ([] if scoped is None else [scoped])
    for hub in names:
        if not isinstance(hub, str) or not EVENT_HUB_PATTERN.fullmatch(hub):
            return f"event hub {hub!r} is not an event hub name ({_HUB_RULE})"
    if not isinstance(body.get("secret", True), bool):
        return "secret must be true or false"
    return None


# -- client ------------------------------------------------------------------------------------


class AdminUnreachable(Exception):
    """Nothing answers at the admin URL (the serve that wrote the state file is gone)."""


class AdminError(Exception):
    """The admin endpoint refused the request."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _call(method: str, url: str, token: str, body: dict[str, Any] | None = None, timeout: float = 10) -> Any:
    with requests.Session() as session:
        session.trust_env = False  # loopback: no proxy from the environment
        try:
            response = session.request(
                method, url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
            )
        except requests.RequestException as exc:
            raise AdminUnreachable(f"{type(exc).__name__} from {url}") from None
    try:
        payload = response.json()
    except ValueError:
        payload = {"error": response.text[:200]}
    if response.status_code >= 300:
        message = payload.get("error") if isinstance(payload, dict) else None
        raise AdminError(response.status_code, str(message or f"HTTP {response.status_code}"))
    return payload


def status(admin_url: str, token: str) -> dict[str, Any]:
    """``GET /status``."""
    answer: dict[str, Any] = _call("GET", admin_url + "/status", token)
    return answer


def add_namespace(
    admin_url: str,
    token: str,
    namespace: str,
    *,
    scoped: str | None = None,
    secret: bool = True,
    event_hubs: Sequence[str] | None = None,
) -> dict[str, Any]:
    """``POST /namespaces``; returns the seeded namespace (``secret_name``, ``resource_id``,
    ``event_hubs``...). AdminUnreachable, or AdminError with the refusal."""
    body = {
        "namespace": namespace,
        "scoped": scoped,
        "secret": secret,
        "eventHubs": None if event_hubs is None else list(event_hubs),
    }
    answer: dict[str, Any] = _call("POST", admin_url + "/namespaces", token, body)
    return answer


def add_dataset(
    admin_url: str, token: str, name: str, *, sandbox: str | None = None, dataset_id: str | None = None
) -> dict[str, Any]:
    """``POST /datasets``; returns ``{"id", "name", "sandbox"}``. AdminUnreachable, or AdminError."""
    body = {"name": name, "sandbox": sandbox, "datasetId": dataset_id}
    answer: dict[str, Any] = _call("POST", admin_url + "/datasets", token, body)
    return answer
