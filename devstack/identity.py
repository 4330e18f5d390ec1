"""Stand-in for the App Service / Azure Functions managed-identity token endpoint.

``azure.identity.ManagedIdentityCredential`` (through MSAL's ``_obtain_token_on_app_service``) sends
``GET $IDENTITY_ENDPOINT?api-version=2019-08-01&resource=<resource>[&client_id=|mi_res_id=|object_id=]``
with the headers ``X-IDENTITY-HEADER: $IDENTITY_HEADER`` and ``Metadata: true``, and reads
``access_token`` and ``expires_on`` (epoch seconds) from the JSON answer; on failure it reports the
answer's ``statusCode`` and ``message``.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from dataclasses import dataclass

from devstack.faults import RecordedRequest
from devstack.httpbase import Response, StandInServer

__all__ = ["IdentityStandIn", "normalize_resource"]

API_VERSION = "2019-08-01"


def normalize_resource(resource: str) -> str:
    """``https://vault.azure.net/.default`` and ``https://vault.azure.net/`` -> ``https://vault.azure.net``."""
    value = resource.strip()
    if value.endswith("/.default"):
        value = value[: -len("/.default")]
    return value.rstrip("/").lower()


@dataclass(frozen=True)
class _Identity:
    client_id: str
    resource_id: str | None = None
    object_id: str | None = None


@dataclass
class _Token:
    resource: str
    expires_on: float
    client_id: str
    revoked: bool = False


class IdentityStandIn(StandInServer):
    """Managed-identity endpoint (``IDENTITY_ENDPOINT``/``IDENTITY_HEADER``) issuing opaque tokens.

    ``token_lifetime`` is in seconds. ``client_id`` is the client id of the system-assigned
    identity (a random uuid by default; ``object_id`` is its principal id). As on App Service, a
    request naming an identity (``client_id``, ``mi_res_id``, ``object_id``/``principal_id``) gets a token only
    when that identity is assigned to the app: the system-assigned one, or a user-assigned one
    added with :meth:`assign_identity`; any other answers 400 (``Identity not found``).
    :meth:`reset` unassigns every user-assigned identity.
    """

    name = "identity"

    def __init__(
        self,
        *,
        token_lifetime: float = 3600,
        header_value: str | None = None,
        client_id: str | None = None,
        path: str = "/msi/token",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.token_lifetime = token_lifetime
        self._header_value = header_value or secrets.token_hex(16)
        self.client_id = client_id or str(uuid.uuid4())
        self.object_id = str(uuid.uuid4())
        self._assigned: dict[str, _Identity] = {}
        self._path = path if path.startswith("/") else "/" + path
        self._tokens: dict[str, _Token] = {}
        self._tokens_lock = threading.Lock()

    # -- public API ----------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The full token URL, e.g. ``http://127.0.0.1:PORT/msi/token``."""
        return self.base_url + self._path

    @property
    def header_value(self) -> str:
        """The secret expected in ``X-IDENTITY-HEADER``."""
        return self._header_value

    def env(self) -> dict[str, str]:
        """``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER`` pointing at this stand-in."""
        return {"IDENTITY_ENDPOINT": self.endpoint, "IDENTITY_HEADER": self._header_value}

    def is_valid_token(self, token: str, resource: str) -> bool:
        """True if ``token`` was issued here for ``resource``, is unexpired and not revoked."""
        with self._tokens_lock:
            issued = self._tokens.get(token)
        if issued is None or issued.revoked:
            return False
        return issued.resource == normalize_resource(resource) and issued.expires_on > time.time()

    @property
    def issued_tokens(self) -> list[str]:
        """Every access token handed out so far."""
        with self._tokens_lock:
            return list(self._tokens)

    def assign_identity(self, client_id: str, *, resource_id: str | None = None, object_id: str | None = None) -> None:
        """Assign a user-assigned identity to the app: requests naming its ``client_id`` (or its
        ``mi_res_id``/``object_id``, when given) get tokens for it."""
        with self._tokens_lock:
            self._assigned[client_id.lower()] = _Identity(client_id, resource_id, object_id)

    def unassign_identity(self, client_id: str) -> None:
        """Remove a user-assigned identity (requests naming it then get 400); no error if unknown."""
        with self._tokens_lock:
            self._assigned.pop(client_id.lower(), None)

    @property
    def assigned_identities(self) -> list[str]:
        """Client ids of the user-assigned identities (the system-assigned one is always there)."""
        with self._tokens_lock:
            return [identity.client_id for identity in self._assigned.values()]

    def reset(self) -> None:
        """No user-assigned identities, no faults, no recordings (issued tokens stay valid)."""
        with self._tokens_lock:
            self._assigned.clear()
        self.faults.clear()
        self.reset_recording()

    def _identity_for(self, query: dict[str, str]) -> str | None:
        """The client id the request's identity selector names, or None when it is not assigned."""
        system = _Identity(self.client_id, None, self.object_id)
        with self._tokens_lock:
            identities = [system, *self._assigned.values()]
        selectors = (
            ("client_id", "client_id"),
            ("mi_res_id", "resource_id"),
            ("object_id", "object_id"),
            ("principal_id", "object_id"),
        )
        for key, attribute in selectors:
            wanted = query.get(key, "").strip()
            if not wanted:
                continue
            for identity in identities:
                value = getattr(identity, attribute)
                if value is not None and value.lower() == wanted.lower():
                    return identity.client_id
            return None
        return self.client_id

    def expire_all_tokens(self) -> None:
        """Make every token issued so far invalid (clients holding one get 401 from the vault)."""
        with self._tokens_lock:
            for issued in self._tokens.values():
                issued.revoked = True

    # -- protocol ------------------------------------------------------------------------------

    @staticmethod
    def _error(status: int, message: str) -> Response:
        error = {400: "invalid_request", 401: "unauthorized", 404: "not_found"}.get(status, "error")
        return Response.json(
            status,
            {"statusCode": status, "message": message, "error": error, "error_description": message},
        )

    def handle_request(self, request: RecordedRequest) -> Response:
        """Answer a token request as the App Service identity endpoint does."""
        if request.path.rstrip("/") != self._path.rstrip("/"):
            return self._error(404, f"No such endpoint: {request.path}")
        if request.method != "GET":
            return self._error(405, "Only GET is supported.")
        if request.headers.get("x-identity-header") != self._header_value:
            return self._error(401, "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.")
        query = {key: values[-1] for key, values in request.query.items() if values}
        if query.get("api-version") != API_VERSION:
            return self._error(400, f"api-version must be {API_VERSION}.")
        resource = query.get("resource", "").strip()
        if not resource:
            return self._error(400, "The resource query parameter is required.")
        client_id = self._identity_for(query)
        if client_id is None:
            return Response.json(
                400,
                {
                    "statusCode": 400,
                    "message": "No User Assigned or Delegated Managed Identity found for specified "
                    "ClientId/ResourceId/PrincipalId.",
                    "correlationId": str(uuid.uuid4()),
                    "error": "invalid_request",
                    "error_description": "Identity not found",
                },
            )
        token = secrets.token_urlsafe(32)
        expires_on = int(time.time() + self.token_lifetime)
        with self._tokens_lock:
            self._tokens[token] = _Token(normalize_resource(resource), float(expires_on), client_id)
        return Response.json(
            200,
            {
                "access_token": token,
                "expires_on": str(expires_on),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": client_id,
            },
        )
