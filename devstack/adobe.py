"""Stand-ins for Adobe IMS (OAuth server-to-server) and the Flow Service API of Experience Platform.

Two HTTP servers share one state: IMS issues opaque bearer tokens for one client id/secret; the
Platform gateway checks the headers of every call the way Adobe's gateway does (token, API key,
org, sandbox) and serves the Azure Event Hubs part of Flow Service: base connections and the
connection spec. Errors come in Adobe's two shapes: gateway ``{"error_code", "message"}`` and
problem ``{"type", "title", "status", "detail", "report"}``. Every response has an
``x-request-id`` header and ``Content-Type: application/json``.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self
from urllib.parse import urlencode

from devstack.faults import FaultPlan, RecordedRequest
from devstack.httpbase import Response, StandInServer
from devstack.lifecycle import StartStop

__all__ = [
    "AAD_SPEC",
    "DEFAULT_AUTH_SPECS",
    "EVENTHUBS_SPEC_ID",
    "FLOW_SERVICE_PATH",
    "SAS_SPEC",
    "SCOPED_AAD_SPEC",
    "SECRET_PARAMS",
    "AdobeStandIn",
]

EVENTHUBS_SPEC_ID = "bf9f5905-92b7-48bf-bf20-455bc6b60a4e"
EVENTHUBS_PROVIDER_ID = "521eee4d-8cbe-4906-bb48-fb6bd4450033"
FLOW_SERVICE_PATH = "/data/foundation/flowservice"
TOKEN_PATH = "/ims/token/v3"

SAS_SPEC = "Azure EventHub authentication credentials"
AAD_SPEC = "Event Hub Azure Active Directory Auth"
SCOPED_AAD_SPEC = "Event Hub Scoped Azure Active Directory Auth"

#: auth spec name -> (required params, optional params)
DEFAULT_AUTH_SPECS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    SAS_SPEC: (("sasKeyName", "sasKey", "namespace"), ("eventHubName",)),
    AAD_SPEC: (("tenantId", "clientId", "clientSecretValue", "namespace"), ()),
    SCOPED_AAD_SPEC: (("tenantId", "clientId", "clientSecretValue", "namespace", "eventHubName"), ()),
}
#: params Adobe never echoes back; GET responses show them masked
SECRET_PARAMS = frozenset({"sasKey", "clientSecretValue"})
MASK = "****"
FILTERABLE = ("id", "name", "description", "connectionSpec.id", "state")
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

NextLinkStyle = Literal["absolute", "path", "relative"]


def _gateway(status: int, code: str, message: str) -> Response:
    return Response.json(status, {"error_code": code, "message": message})


def _ms() -> int:
    return int(time.time() * 1000)


def _new_etag() -> str:
    return f'"{uuid.uuid4()}"'


def _strip_etag(value: str) -> str:
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')


@dataclass
class _Token:
    expires_at: float
    revoked: bool = False


@dataclass
class _Connection:
    sandbox: str
    seq: int
    data: dict[str, Any]
    in_use: bool = False


class _AdobeServer(StandInServer):
    """One of the two Adobe servers; delegates handling to the shared :class:`AdobeStandIn`."""

    def __init__(self, name: str, owner: AdobeStandIn, *, host: str, port: int) -> None:
        super().__init__(host=host, port=port, request_ids=True)
        self.name = name
        self._owner = owner

    def handle_request(self, request: RecordedRequest) -> Response:
        if self.name == "adobe-ims":
            return self._owner._handle_ims(request)
        return self._owner._handle_platform(request, self)

    def finalize_response(self, request: RecordedRequest, response: Response) -> Response:
        response = super().finalize_response(request, response)
        if response.header("content-type") is None:
            response.headers["Content-Type"] = "application/json"
        return response


class AdobeStandIn(StartStop):
    """Adobe IMS and Platform (Flow Service) stand-ins sharing state, for one org and client.

    ``token_lifetime`` is the ``expires_in`` of issued tokens (seconds); ``create_delay`` makes
    every ``POST /connections`` slow (seconds, inside the handler, after validation);
    ``sandboxes`` are the sandbox names that exist; ``auth_specs`` maps auth spec name to
    (required params, optional params) (default: :data:`DEFAULT_AUTH_SPECS`).
    ``next_link_style`` chooses the form of ``_links.next.href`` in list answers: an absolute URL,
    a path from the host (``/data/foundation/flowservice/connections?...``) or a path relative to
    the Flow Service root (``/connections?...``).
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        org_id: str,
        *,
        token_lifetime: int = 86399,
        create_delay: float = 0.0,
        sandboxes: Iterable[str] = ("prod",),
        auth_specs: Mapping[str, tuple[Sequence[str], Sequence[str]]] | None = None,
        next_link_style: NextLinkStyle = "absolute",
        host: str = "127.0.0.1",
        ims_port: int = 0,
        platform_port: int = 0,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.org_id = org_id
        self.token_lifetime = token_lifetime
        self.create_delay = create_delay
        self.next_link_style: NextLinkStyle = next_link_style
        self._lock = threading.RLock()
        self._sandboxes: set[str] = set(sandboxes)
        specs = DEFAULT_AUTH_SPECS if auth_specs is None else auth_specs
        self._auth_specs: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
            name: (tuple(required), tuple(optional)) for name, (required, optional) in specs.items()
        }
        self._initial = (set(self._sandboxes), dict(self._auth_specs), create_delay)
        self._tokens: dict[str, _Token] = {}
        self._connections: dict[str, _Connection] = {}
        self._seq = 0
        self.ims = _AdobeServer("adobe-ims", self, host=host, port=ims_port)
        self.platform = _AdobeServer("adobe-platform", self, host=host, port=platform_port)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Self:
        """Start both servers."""
        self.ims.start()
        try:
            self.platform.start()
        except BaseException:
            self.ims.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop both servers (idempotent)."""
        try:
            self.platform.stop()
        finally:
            self.ims.stop()

    @property
    def ims_url(self) -> str:
        """IMS base URL (``ADOBE_IMS_URL``), no trailing slash."""
        return self.ims.base_url

    @property
    def platform_url(self) -> str:
        """Platform gateway base URL (``ADOBE_PLATFORM_URL``), no trailing slash."""
        return self.platform.base_url

    @property
    def flow_service_url(self) -> str:
        """``{platform_url}/data/foundation/flowservice``."""
        return self.platform_url + FLOW_SERVICE_PATH

    # -- faults and recording ------------------------------------------------------------------

    @property
    def faults(self) -> FaultPlan:
        """Fault plan of the Platform server."""
        return self.platform.faults

    @property
    def ims_faults(self) -> FaultPlan:
        """Fault plan of the IMS server."""
        return self.ims.faults

    @property
    def platform_requests(self) -> list[RecordedRequest]:
        """Requests the Platform server received."""
        return self.platform.requests

    @property
    def ims_requests(self) -> list[RecordedRequest]:
        """Requests the IMS server received."""
        return self.ims.requests

    def calls(self, method: str | None = None, path_regex: str | None = None) -> list[RecordedRequest]:
        """Platform requests filtered by method and a regex searched in the path and query."""
        return self.platform.calls(method, path_regex)

    def ims_calls(self, method: str | None = None, path_regex: str | None = None) -> list[RecordedRequest]:
        """IMS requests filtered by method and a regex searched in the path and query."""
        return self.ims.calls(method, path_regex)

    @property
    def token_requests(self) -> list[RecordedRequest]:
        """Every ``POST /ims/token/v3`` received (successful or not)."""
        return self.ims.calls("POST", "^" + TOKEN_PATH)

    @property
    def token_request_count(self) -> int:
        """``len(token_requests)``."""
        return len(self.token_requests)

    def reset_recording(self) -> None:
        """Forget the requests recorded by both servers."""
        self.ims.reset_recording()
        self.platform.reset_recording()

    def clear_faults(self) -> None:
        """Remove every fault from both servers."""
        self.ims.faults.clear()
        self.platform.faults.clear()

    def reset(self) -> None:
        """Back to the constructor's state except issued tokens: no connections, faults or recordings."""
        sandboxes, auth_specs, create_delay = self._initial
        with self._lock:
            self._connections.clear()
            self._sandboxes = set(sandboxes)
            self._auth_specs = dict(auth_specs)
            self.create_delay = create_delay
        self.clear_faults()
        self.reset_recording()

    # -- tokens --------------------------------------------------------------------------------

    def issue_token(self) -> str:
        """Issue a token directly (as a successful IMS call would)."""
        token = "eyJ" + secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = _Token(time.time() + self.token_lifetime)
        return token

    def is_valid_token(self, token: str) -> bool:
        """Whether a token was issued here and is neither expired nor revoked."""
        with self._lock:
            issued = self._tokens.get(token)
            return issued is not None and not issued.revoked and issued.expires_at > time.time()

    def expire_all_tokens(self) -> None:
        """Invalidate every token issued so far: Platform answers 401 ``401013`` to them."""
        with self._lock:
            for issued in self._tokens.values():
                issued.revoked = True

    @property
    def issued_tokens(self) -> list[str]:
        """Every access token issued so far."""
        with self._lock:
            return list(self._tokens)

    # -- sandboxes and auth specs --------------------------------------------------------------

    def add_sandbox(self, name: str) -> None:
        """Make a sandbox exist."""
        with self._lock:
            self._sandboxes.add(name)

    def remove_sandbox(self, name: str) -> None:
        """Make a sandbox unknown (404 ``2100-404``)."""
        with self._lock:
            self._sandboxes.discard(name)

    @property
    def sandboxes(self) -> set[str]:
        """The sandbox names that exist."""
        with self._lock:
            return set(self._sandboxes)

    @property
    def auth_specs(self) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        """Auth spec name -> (required params, optional params)."""
        with self._lock:
            return dict(self._auth_specs)

    def rename_auth_spec(self, old: str, new: str) -> None:
        """Serve an auth spec under another name (e.g. the SAS spec as ``Basic Authentication for Event Hubs``)."""
        with self._lock:
            self._auth_specs = {(new if name == old else name): spec for name, spec in self._auth_specs.items()}

    def set_auth_specs(self, auth_specs: Mapping[str, tuple[Sequence[str], Sequence[str]]]) -> None:
        """Replace the auth spec table."""
        with self._lock:
            self._auth_specs = {name: (tuple(r), tuple(o)) for name, (r, o) in auth_specs.items()}

    # -- connections ---------------------------------------------------------------------------

    def connections(self, sandbox: str = "prod") -> list[dict[str, Any]]:
        """The connections of a sandbox, oldest first, unmasked (auth params included)."""
        with self._lock:
            return [
                copy.deepcopy(c.data)
                for c in sorted(self._connections.values(), key=lambda c: c.seq)
                if c.sandbox == sandbox
            ]

    def connection(self, connection_id: str) -> dict[str, Any] | None:
        """One connection (any sandbox), unmasked, or None."""
        with self._lock:
            found = self._connections.get(connection_id)
            return copy.deepcopy(found.data) if found else None

    def seed_connection(
        self,
        name: str,
        params: Mapping[str, str],
        *,
        spec_name: str = SAS_SPEC,
        sandbox: str = "prod",
        description: str | None = None,
    ) -> dict[str, Any]:
        """Create a connection directly (no validation), as if made earlier; returns it."""
        return copy.deepcopy(self._store(sandbox, name, description, spec_name, dict(params)).data)

    def mark_in_use(self, connection_id: str, in_use: bool = True) -> None:
        """Mark a connection as used by dataflows (its DELETE then fails with ``1418-400``)."""
        with self._lock:
            self._connections[connection_id].in_use = in_use

    def delete_all(self) -> None:
        """Delete every connection in every sandbox."""
        with self._lock:
            self._connections.clear()

    def _store(
        self, sandbox: str, name: str, description: str | None, spec_name: str, params: dict[str, Any]
    ) -> _Connection:
        now = _ms()
        etag = _new_etag()
        data: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "createdAt": now,
            "updatedAt": now,
            "createdBy": f"{self.client_id}@AdobeID",
            "updatedBy": f"{self.client_id}@AdobeID",
            "createdClient": self.client_id,
            "updatedClient": self.client_id,
            "sandboxName": sandbox,
            "imsOrgId": self.org_id,
            "name": name,
        }
        if description is not None:
            data["description"] = description
        data.update(
            {
                "connectionSpec": {"id": EVENTHUBS_SPEC_ID, "version": "1.0"},
                "state": "enabled",
                "auth": {"specName": spec_name, "params": params},
                "version": etag,
                "etag": etag,
            }
        )
        with self._lock:
            self._seq += 1
            connection = _Connection(sandbox, self._seq, data)
            self._connections[data["id"]] = connection
        return connection

    @staticmethod
    def _masked(data: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(data)
        params = out.get("auth", {}).get("params", {})
        for key in params:
            if key in SECRET_PARAMS:
                params[key] = MASK
        return out

    # -- IMS -----------------------------------------------------------------------------------

    def _handle_ims(self, request: RecordedRequest) -> Response:
        if request.path.rstrip("/") != TOKEN_PATH:
            return Response.json(404, {"error": "not_found", "error_description": "Unknown IMS endpoint"})
        if request.method != "POST":
            return Response.json(405, {"error": "method_not_allowed"})
        if any(key in request.query for key in ("client_id", "client_secret")):
            return Response.json(
                400,
                {
                    "error": "invalid_request",
                    "error_description": "client credentials must be sent in the request body, not in the query string",
                },
            )
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return Response.json(
                400,
                {
                    "error": "invalid_request",
                    "error_description": "Content-Type must be application/x-www-form-urlencoded",
                },
            )
        try:
            form = {key: values[-1] for key, values in request.form().items()}
        except UnicodeDecodeError:
            return Response.json(400, {"error": "invalid_request", "error_description": "bad form body"})
        if form.get("client_id") != self.client_id:
            return Response.json(400, {"error": "invalid_client", "error_description": "invalid client_id parameter"})
        if form.get("client_secret") != self.client_secret:
            return Response.json(
                401, {"error": "invalid_client", "error_description": "invalid client_secret parameter"}
            )
        if form.get("grant_type") != "client_credentials":
            return Response.json(400, {"error": "unsupported_grant_type"})
        if not form.get("scope", "").strip():
            return Response.json(400, {"error": "invalid_scope", "error_description": "scope is required"})
        return Response.json(
            200,
            {"access_token": self.issue_token(), "token_type": "bearer", "expires_in": int(self.token_lifetime)},
        )

    # -- Platform ------------------------------------------------------------------------------

    def _problem(self, status: int, code: str, detail: str, request: RecordedRequest) -> Response:
        return Response.json(
            status,
            {
                "type": f"https://ns.adobe.com/aep/errors/FLOW-{code}",
                "title": _TITLES.get(status, "Error"),
                "status": status,
                "detail": detail,
                "report": {
                    "tenantInfo": {
                        "sandboxName": request.headers.get("x-sandbox-name"),
                        "imsOrgId": request.headers.get("x-gw-ims-org-id"),
                    },
                    "additionalContext": None,
                },
            },
        )

    def _check_gateway(self, request: RecordedRequest) -> Response | None:
        authorization = request.headers.get("authorization", "").strip()
        if not authorization:
            return _gateway(401, "403010", "Oauth token is missing.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not self.is_valid_token(token.strip()):
            return _gateway(401, "401013", "Oauth token is not valid")
        api_key = request.headers.get("x-api-key")
        if not api_key:
            return _gateway(403, "403000", "Api Key is required")
        if api_key != self.client_id:
            return _gateway(403, "403003", "Api Key is invalid")
        if request.headers.get("x-gw-ims-org-id") != self.org_id:
            return _gateway(400, "400003", "Organization ID is missing or invalid")
        sandbox = request.headers.get("x-sandbox-name")
        if not sandbox:
            return self._problem(400, "2105-400", "Header x-sandbox-name is missing", request)
        if sandbox not in self.sandboxes:
            return self._problem(404, "2100-404", f"Sandbox {sandbox} not found", request)
        return None

    def _handle_platform(self, request: RecordedRequest, server: _AdobeServer) -> Response:
        if not (request.path == FLOW_SERVICE_PATH or request.path.startswith(FLOW_SERVICE_PATH + "/")):
            return _gateway(404, "404000", "Resource not found")
        denied = self._check_gateway(request)
        if denied is not None:
            return denied
        sandbox = request.headers["x-sandbox-name"]
        parts = [p for p in request.path[len(FLOW_SERVICE_PATH) :].split("/") if p]
        method = request.method
        if parts == ["connections"]:
            if method == "POST":
                return self._create(request, sandbox, server)
            if method == "GET":
                return self._list(request, sandbox)
        elif len(parts) == 2 and parts[0] == "connections":
            if method == "GET":
                return self._get(request, sandbox, parts[1])
            if method == "PATCH":
                return self._patch(request, sandbox, parts[1])
            if method == "DELETE":
                return self._delete(request, sandbox, parts[1])
        elif parts and parts[0] == "connectionSpecs" and len(parts) <= 2 and method == "GET":
            return self._spec(request, parts[1] if len(parts) == 2 else None)
        else:
            return self._problem(404, "1100-404", f"No resource at {request.path}", request)
        return self._problem(405, "1100-405", f"{method} is not allowed on {request.path}", request)

    def _json_body(self, request: RecordedRequest, *extra_types: str) -> tuple[Any, Response | None]:
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type not in ("application/json", *extra_types):
            return None, self._problem(415, "1100-415", "Content-Type must be application/json", request)
        try:
            return json.loads(request.body.decode("utf-8")), None
        except (ValueError, UnicodeDecodeError):
            return None, self._problem(400, "1400-400", "Request body is not valid JSON", request)

    def _validate_params(self, spec_name: str, params: Any) -> str | None:
        required, optional = self._auth_specs[spec_name]
        if not isinstance(params, dict):
            return "auth.params must be an object"
        unknown = sorted(set(params) - set(required) - set(optional))
        if unknown:
            return f"Unknown auth params for '{spec_name}': {', '.join(unknown)}"
        missing = [name for name in required if name not in params]
        if missing:
            return f"Missing required auth params for '{spec_name}': {', '.join(missing)}"
        bad = sorted(k for k, v in params.items() if not isinstance(v, str) or not v.strip())
        if bad:
            return f"Auth params must be non-empty strings: {', '.join(bad)}"
        return None

    def _create(self, request: RecordedRequest, sandbox: str, server: _AdobeServer) -> Response:
        body, error = self._json_body(request)
        if error is not None:
            return error
        if not isinstance(body, dict):
            return self._problem(400, "1400-400", "Request body must be a JSON object", request)
        unknown = sorted(set(body) - {"name", "description", "auth", "connectionSpec"})
        if unknown:
            return self._problem(400, "1400-400", f"Unknown fields: {', '.join(unknown)}", request)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            return self._problem(400, "1400-400", "name is required and must be a non-empty string", request)
        description = body.get("description")
        if description is not None and not isinstance(description, str):
            return self._problem(400, "1400-400", "description must be a string", request)
        if body.get("connectionSpec") != {"id": EVENTHUBS_SPEC_ID, "version": "1.0"}:
            return self._problem(
                400,
                "1400-400",
                f"connectionSpec must be {{'id': '{EVENTHUBS_SPEC_ID}', 'version': '1.0'}}: connection spec not found",
                request,
            )
        auth = body.get("auth")
        if not isinstance(auth, dict) or set(auth) != {"specName", "params"}:
            return self._problem(400, "1400-400", "auth must be an object with specName and params", request)
        spec_name = auth["specName"]
        with self._lock:
            known_spec = isinstance(spec_name, str) and spec_name in self._auth_specs
            problem = self._validate_params(spec_name, auth["params"]) if known_spec else None
        if not known_spec:
            return self._problem(400, "1415-400", f"auth spec not found: {spec_name!r}", request)
        if problem is not None:
            return self._problem(400, "1401-400", problem, request)
        if self.create_delay > 0 and not server.sleep(self.create_delay):
            return self._problem(503, "1103-503", "Service is shutting down, please try again", request)
        connection = self._store(sandbox, name, description, spec_name, dict(auth["params"]))
        return Response.json(201, {"id": connection.data["id"], "etag": connection.data["etag"]})

    def _list(self, request: RecordedRequest, sandbox: str) -> Response:
        filters: list[tuple[str, bool, set[str]]] = []
        for expression in request.query.get("property", []):
            negate = "!=" in expression and "==" not in expression
            key, sep, value = expression.partition("!=" if negate else "==")
            key = key.strip()
            if not sep or key not in FILTERABLE:
                return self._problem(
                    400,
                    "1400-400",
                    f"Unsupported property filter {expression!r}; use key==value with key in {', '.join(FILTERABLE)}",
                    request,
                )
            filters.append((key, negate, set(value.split(","))))
        try:
            limit = int(request.query.get("limit", ["100"])[-1])
            if not 1 <= limit <= 1000:
                raise ValueError
        except ValueError:
            return self._problem(400, "1400-400", "limit must be an integer from 1 to 1000", request)
        after = 0
        token = request.query.get("continuationToken", [""])[-1]
        if token:
            try:
                after = int(base64.urlsafe_b64decode(token.encode() + b"==").decode())
            except (ValueError, UnicodeDecodeError):
                return self._problem(400, "1400-400", "Invalid continuationToken", request)

        def matches(data: dict[str, Any]) -> bool:
            for key, negate, values in filters:
                actual = data.get("connectionSpec", {}).get("id") if key == "connectionSpec.id" else data.get(key)
                hit = actual is not None and str(actual) in values
                if hit == negate:
                    return False
            return True

        with self._lock:
            candidates = [
                c
                for c in sorted(self._connections.values(), key=lambda c: c.seq)
                if c.sandbox == sandbox and matches(c.data)
            ]
        if request.query.get("count", [""])[-1].lower() == "true":
            return Response.json(200, {"count": len(candidates)})
        remaining = [c for c in candidates if c.seq > after]
        page = remaining[:limit]
        links: dict[str, Any] = {}
        if len(remaining) > limit:
            next_token = base64.urlsafe_b64encode(str(page[-1].seq).encode()).decode().rstrip("=")
            params: list[tuple[str, str]] = [("property", p) for p in request.query.get("property", [])]
            params += [("limit", str(limit)), ("continuationToken", next_token)]
            links["next"] = {"href": self._link("/connections?" + urlencode(params))}
        return Response.json(
            200,
            {"items": [self._masked(c.data) for c in page], "_links": links, "_page": {"count": len(page)}},
        )

    def _link(self, relative: str) -> str:
        if self.next_link_style == "relative":
            return relative
        if self.next_link_style == "path":
            return FLOW_SERVICE_PATH + relative
        return self.flow_service_url + relative

    def _find(self, sandbox: str, connection_id: str) -> _Connection | None:
        found = self._connections.get(connection_id)
        return found if found is not None and found.sandbox == sandbox else None

    def _not_found(self, request: RecordedRequest, connection_id: str) -> Response:
        return self._problem(404, "1401-404", f"Connection {connection_id} not found", request)

    def _get(self, request: RecordedRequest, sandbox: str, connection_id: str) -> Response:
        with self._lock:
            found = self._find(sandbox, connection_id)
            data = self._masked(found.data) if found else None
        if data is None:
            return self._not_found(request, connection_id)
        return Response.json(200, {"items": [data]})

    def _patch(self, request: RecordedRequest, sandbox: str, connection_id: str) -> Response:
        if_match = request.headers.get("if-match")
        if not if_match:
            return self._problem(400, "1403-400", "If-Match header is missing", request)
        body, error = self._json_body(request, "application/json-patch+json")
        if error is not None:
            return error
        with self._lock:
            found = self._find(sandbox, connection_id)
            if found is None:
                return self._not_found(request, connection_id)
            if _strip_etag(if_match) != _strip_etag(found.data["etag"]):
                return self._problem(
                    412, "1404-412", f"The etag {if_match} does not match the connection's etag", request
                )
            if not isinstance(body, list) or not body:
                return self._problem(400, "1400-400", "Body must be a non-empty JSON Patch array", request)
            updated = copy.deepcopy(found.data)
            for op in body:
                problem = self._apply_op(updated, op)
                if problem is not None:
                    code, detail = problem
                    return self._problem(400, code, detail, request)
            etag = _new_etag()
            updated.update({"etag": etag, "version": etag, "updatedAt": _ms()})
            found.data = updated
        return Response.json(200, {"id": connection_id, "etag": etag})

    def _apply_op(self, data: dict[str, Any], op: Any) -> tuple[str, str] | None:
        if not isinstance(op, dict) or op.get("op") not in ("replace", "add") or "value" not in op:
            return "1400-400", f"Unsupported JSON Patch operation: {op!r}"
        path, value = op.get("path"), op["value"]
        spec_name = data["auth"]["specName"]
        if path in ("/name", "/description"):
            if not isinstance(value, str) or (path == "/name" and not value.strip()):
                return "1400-400", f"{path[1:]} must be a non-empty string"
            data[path[1:]] = value
            return None
        if path == "/auth/params":
            candidate = value
        elif isinstance(path, str) and path.startswith("/auth/params/"):
            candidate = dict(data["auth"]["params"])
            candidate[path[len("/auth/params/") :]] = value
        else:
            return "1400-400", f"Unsupported JSON Patch path: {path!r}"
        if spec_name not in self._auth_specs:
            return "1415-400", f"auth spec not found: {spec_name!r}"
        problem = self._validate_params(spec_name, candidate)
        if problem is not None:
            return "1401-400", problem
        data["auth"]["params"] = dict(candidate)
        return None

    def _delete(self, request: RecordedRequest, sandbox: str, connection_id: str) -> Response:
        with self._lock:
            found = self._find(sandbox, connection_id)
            if found is None:
                return self._not_found(request, connection_id)
            if found.in_use:
                return self._problem(
                    400,
                    "1418-400",
                    f"Connection {connection_id} is used by one or more flows and cannot be deleted",
                    request,
                )
            del self._connections[connection_id]
        return Response(204)

    def spec_document(self) -> dict[str, Any]:
        """The Azure Event Hubs connection spec as ``GET /connectionSpecs/{id}`` returns it."""
        with self._lock:
            specs = dict(self._auth_specs)
        auth_spec = []
        for name, (required, optional) in specs.items():
            properties: dict[str, Any] = {}
            for param in (*required, *optional):
                prop: dict[str, Any] = {"type": "string", "description": param}
                if param in SECRET_PARAMS:
                    prop["format"] = "password"
                properties[param] = prop
            auth_spec.append(
                {
                    "name": name,
                    "type": "AzureActiveDirectoryAuth" if "Active Directory" in name else "SasKeyAuth",
                    "spec": {
                        "$schema": "http://json-schema.org/draft-07/schema#",
                        "type": "object",
                        "description": f"Defines auth params required for connecting to Azure Event Hubs ({name})",
                        "properties": properties,
                        "required": list(required),
                    },
                }
            )
        return {
            "id": EVENTHUBS_SPEC_ID,
            "name": "azure-eventhubs",
            "providerId": EVENTHUBS_PROVIDER_ID,
            "version": "1.0",
            "attributes": {"category": "streaming"},
            "authSpec": auth_spec,
        }

    def _spec(self, request: RecordedRequest, spec_id: str | None) -> Response:
        if spec_id is None:
            return Response.json(200, {"items": [self.spec_document()]})
        if spec_id != EVENTHUBS_SPEC_ID:
            return self._problem(404, "1400-404", f"Connection spec {spec_id} not found", request)
        return Response.json(200, {"items": [self.spec_document()]})
