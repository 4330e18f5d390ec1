"""Adobe IMS: ``POST /ims/token/v3`` (OAuth server-to-server) and the tokens it issues.

The token endpoint takes a form body with ``grant_type=client_credentials``, ``client_id``,
``client_secret`` and ``scope`` and answers ``{"access_token", "token_type": "bearer",
"expires_in"}``. Errors are OAuth-shaped: ``{"error", "error_description"}``.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

from devstack.faults import RecordedRequest
from devstack.httpbase import Response

__all__ = ["TOKEN_PATH", "TokenIssuer", "handle_token_request"]

TOKEN_PATH = "/ims/token/v3"


@dataclass
class _Token:
    expires_at: float
    revoked: bool = False


class TokenIssuer:
    """Opaque bearer tokens with an expiry; ``lifetime`` is the ``expires_in`` of new ones (s)."""

    def __init__(self, lifetime: int) -> None:
        self.lifetime = lifetime
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}

    def issue(self) -> str:
        """A new token valid for ``lifetime`` seconds."""
        token = "eyJ" + secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = _Token(time.time() + self.lifetime)
        return token

    def is_valid(self, token: str) -> bool:
        """Issued here, not expired, not revoked."""
        with self._lock:
            issued = self._tokens.get(token)
            return issued is not None and not issued.revoked and issued.expires_at > time.time()

    def expire_all(self) -> None:
        """Revoke every token issued so far."""
        with self._lock:
            for issued in self._tokens.values():
                issued.revoked = True

    @property
    def issued(self) -> list[str]:
        """Every token issued so far."""
        with self._lock:
            return list(self._tokens)


def _oauth_error(status: int, error: str, description: str | None = None) -> Response:
    body = {"error": error} if description is None else {"error": error, "error_description": description}
    return Response.json(status, body)


def handle_token_request(
    request: RecordedRequest, *, client_id: str, client_secret: str, issuer: TokenIssuer
) -> Response:
    """Answer one request to the IMS server as IMS does."""
    if request.path.rstrip("/") != TOKEN_PATH:
        return _oauth_error(404, "not_found", "Unknown IMS endpoint")
    if request.method != "POST":
        return _oauth_error(405, "method_not_allowed")
    if any(key in request.query for key in ("client_id", "client_secret")):
        return _oauth_error(
            400, "invalid_request", "client credentials must be sent in the request body, not in the query string"
        )
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return _oauth_error(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
    try:
        form = {key: values[-1] for key, values in request.form().items()}
    except UnicodeDecodeError:
        return _oauth_error(400, "invalid_request", "bad form body")
    if form.get("client_id") != client_id:
        return _oauth_error(400, "invalid_client", "invalid client_id parameter")
    if form.get("client_secret") != client_secret:
        return _oauth_error(401, "invalid_client", "invalid client_secret parameter")
    if form.get("grant_type") != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type")
    if not form.get("scope", "").strip():
        return _oauth_error(400, "invalid_scope", "scope is required")
    return Response.json(
        200, {"access_token": issuer.issue(), "token_type": "bearer", "expires_in": int(issuer.lifetime)}
    )
