"""HTTPS stand-in for Azure Key Vault's secrets API, as the real ``SecretClient`` speaks it.

The client's ``ChallengeAuthPolicy`` first sends each request without a token (and without its
body); the vault answers 401 with a ``WWW-Authenticate: Bearer authorization=..., resource=...``
challenge; the client gets a token for ``<resource>/.default`` and resends the request with it.
The certificate comes from a ``trustme`` CA whose PEM is written to :attr:`KeyVaultStandIn.ca_bundle_path`
(pass it as ``connection_verify=`` or ``REQUESTS_CA_BUNDLE``); use ``verify_challenge_resource=False``
because 127.0.0.1 is not a subdomain of vault.azure.net.
"""

from __future__ import annotations

import re
import shutil
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme

from devstack.faults import RecordedRequest
from devstack.httpbase import Response, StandInServer

__all__ = ["VAULT_RESOURCE", "KeyVaultStandIn"]

VAULT_RESOURCE = "https://vault.azure.net"
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CHALLENGE = f'Bearer authorization="https://login.microsoftonline.com/{TENANT_ID}", resource="{VAULT_RESOURCE}"'
_NAME_RE = re.compile(r"^[0-9A-Za-z-]{1,127}$")
_NOT_FOUND_HINT = (
    "If you recently deleted this secret you may be able to recover it using the correct recovery command. "
    "For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
)


@dataclass
class _Version:
    version: str
    value: str
    created: int
    content_type: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    enabled: bool = True


@dataclass
class _Secret:
    name: str
    versions: list[_Version] = field(default_factory=list)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response.json(status, {"error": {"code": code, "message": message}}, headers)


def _forbidden(name: str) -> Response:
    """Key Vault's answer when RBAC does not let the caller read a secret."""
    message = (
        "Caller is not authorized to perform action on resource.\r\n"
        "If role assignments, deny assignments or role definitions were changed recently, "
        "please observe propagation time.\r\n"
        "Caller: appid=00000000-0000-0000-0000-00000000000a;oid=00000000-0000-0000-0000-00000000000b;"
        f"iss=https://sts.windows.net/{TENANT_ID}/\r\n"
        "Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'\r\n"
        "Resource: '/subscriptions/00000000-0000-0000-0000-000000000001/resourcegroups/rg-security/"
        f"providers/microsoft.keyvault/vaults/contoso-kv/secrets/{name.lower()}'\r\n"
        "Assignment: (not found)\r\n"
        "DenyAssignmentId: null\r\n"
        "DecisionReason: null \r\n"
        "Vault: contoso-kv;location=westeurope\r\n"
    )
    return Response.json(
        403, {"error": {"code": "Forbidden", "message": message, "innererror": {"code": "ForbiddenByRbac"}}}
    )


class KeyVaultStandIn(StandInServer):
    """Key Vault secrets endpoint over HTTPS with the bearer challenge flow.

    ``token_validator(token, "https://vault.azure.net")`` decides whether a bearer token is
    accepted (e.g. ``IdentityStandIn.is_valid_token``); None accepts any non-empty token.
    ``cert_dir``: where to create the directory holding the CA PEM (a temp dir by default).
    Secret names are case-insensitive. :meth:`deny` makes reads of one secret (or of all) answer
    403 ``Forbidden``/``ForbiddenByRbac`` as when the app's identity lacks a role; :meth:`allow`
    undoes every denial.
    """

    name = "keyvault"
    scheme = "https"

    def __init__(
        self,
        token_validator: Callable[[str, str], bool] | None,
        *,
        cert_dir: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._ca = trustme.CA(organization_name="devstack local Key Vault CA")
        server_cert = self._ca.issue_cert("127.0.0.1", "localhost", "::1")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_cert.configure_cert(context)
        super().__init__(host=host, port=port, ssl_context=context)
        self.token_validator = token_validator
        if cert_dir is not None:
            cert_dir.mkdir(parents=True, exist_ok=True)
        self._cert_dir = Path(tempfile.mkdtemp(prefix="devstack-kv-", dir=cert_dir))
        self._ca_path = self._cert_dir / "keyvault-ca.pem"
        self._write_ca()
        self._secrets: dict[str, _Secret] = {}
        self._data_lock = threading.Lock()
        self._denied: set[str] = set()
        self._deny_all = False

    # -- lifecycle -----------------------------------------------------------------------------

    def _write_ca(self) -> None:
        self._cert_dir.mkdir(parents=True, exist_ok=True)
        self._ca.cert_pem.write_to_path(str(self._ca_path))

    def start(self) -> KeyVaultStandIn:
        """Start serving HTTPS (re-writes the CA file if stop() removed it)."""
        if not self._ca_path.exists():
            self._write_ca()
        super().start()
        return self

    def stop(self) -> None:
        """Stop serving and remove the CA file's directory."""
        super().stop()
        shutil.rmtree(self._cert_dir, ignore_errors=True)

    # -- public API ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The vault URL, ``https://127.0.0.1:PORT/``."""
        return self.base_url + "/"

    @property
    def ca_bundle_path(self) -> Path:
        """PEM file of the CA that signed the server certificate."""
        return self._ca_path

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate, PEM-encoded."""
        return self._ca.cert_pem.bytes()

    def set_secret(
        self,
        name: str,
        value: str,
        *,
        content_type: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> str:
        """Store a new version of a secret and return its 32-hex version id."""
        if not _NAME_RE.match(name):
            raise ValueError(f"invalid Key Vault secret name {name!r}")
        return self._store(name, value, content_type, tags or {}).version

    def get_value(self, name: str, version: str | None = None) -> str | None:
        """The value of the latest (or the given) version, or None."""
        with self._data_lock:
            found = self._find(name, version)
            return found.value if found else None

    def delete_secret(self, name: str) -> bool:
        """Delete a secret with every version; False if there was none."""
        with self._data_lock:
            return self._secrets.pop(name.lower(), None) is not None

    def versions(self, name: str) -> list[str]:
        """Version ids of a secret, oldest first (empty if unknown)."""
        with self._data_lock:
            secret = self._secrets.get(name.lower())
            return [v.version for v in secret.versions] if secret else []

    def secret_names(self) -> list[str]:
        """Names of the stored secrets (as first written)."""
        with self._data_lock:
            return [s.name for s in self._secrets.values()]

    def all_values(self) -> set[str]:
        """Every value of every version of every secret."""
        with self._data_lock:
            return {v.value for s in self._secrets.values() for v in s.versions}

    def deny(self, name: str | None = None) -> None:
        """Make reads of this secret (of every secret when None) answer 403 ``ForbiddenByRbac``."""
        with self._data_lock:
            if name is None:
                self._deny_all = True
            else:
                self._denied.add(name.lower())

    def allow(self) -> None:
        """Undo every :meth:`deny`."""
        with self._data_lock:
            self._denied.clear()
            self._deny_all = False

    def is_denied(self, name: str) -> bool:
        """Whether reads of this secret are denied."""
        with self._data_lock:
            return self._deny_all or name.lower() in self._denied

    def secret_id(self, name: str, version: str) -> str:
        """The secret identifier URL as the vault reports it."""
        return f"{self.base_url}/secrets/{name}/{version}"

    # -- storage -------------------------------------------------------------------------------

    def _store(self, name: str, value: str, content_type: str | None, tags: dict[str, str]) -> _Version:
        version = _Version(uuid.uuid4().hex, value, int(time.time()), content_type, dict(tags))
        with self._data_lock:
            secret = self._secrets.setdefault(name.lower(), _Secret(name))
            secret.versions.append(version)
        return version

    def _find(self, name: str, version: str | None) -> _Version | None:
        secret = self._secrets.get(name.lower())
        if secret is None or not secret.versions:
            return None
        if not version:
            return secret.versions[-1]
        for candidate in secret.versions:
            if candidate.version == version.lower():
                return candidate
        return None

    def _bundle(self, name: str, version: _Version) -> dict[str, Any]:
        bundle: dict[str, Any] = {
            "value": version.value,
            "id": self.secret_id(name, version.version),
            "attributes": {
                "enabled": version.enabled,
                "created": version.created,
                "updated": version.created,
                "recoveryLevel": "Recoverable+Purgeable",
                "recoverableDays": 90,
            },
            "tags": dict(version.tags),
        }
        if version.content_type is not None:
            bundle["contentType"] = version.content_type
        return bundle

    # -- protocol ------------------------------------------------------------------------------

    def _authenticate(self, request: RecordedRequest) -> Response | None:
        authorization = request.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return _error(
                401,
                "Unauthorized",
                "AKV10000: Request is missing a Bearer or PoP token.",
                {"WWW-Authenticate": CHALLENGE},
            )
        valid = bool(token) if self.token_validator is None else self.token_validator(token, VAULT_RESOURCE)
        if not valid:
            return _error(
                401,
                "Unauthorized",
                "AKV10032: Invalid issuer or token. The access token is not valid for this vault.",
                {"WWW-Authenticate": CHALLENGE},
            )
        return None

    def handle_request(self, request: RecordedRequest) -> Response:
        """Authenticate, then serve /secrets/{name}[/{version}] GET, PUT and DELETE."""
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        parts = request.path.lstrip("/").split("/")
        if not parts or parts[0].lower() != "secrets" or len(parts) < 2 or len(parts) > 3:
            return _error(404, "NotFound", f"The requested path {request.path} was not found.")
        name = parts[1]
        if not _NAME_RE.match(name):
            return _error(400, "BadParameter", f"The request URI contains an invalid name: {name}")
        version = parts[2] if len(parts) == 3 else None
        method = request.method
        if method == "PUT" and version is None:
            return self._put(name, request)
        if method == "DELETE" and version is None:
            return self._delete(name)
        if method == "GET" and self.is_denied(name):
            return _forbidden(name)
        if method == "GET" and version == "versions":
            return self._list_versions(name)
        if method == "GET":
            return self._get(name, version)
        return _error(405, "MethodNotAllowed", f"{method} is not supported on {request.path}.")

    def _get(self, name: str, version: str | None) -> Response:
        with self._data_lock:
            found = self._find(name, version)
            canonical = self._secrets[name.lower()].name if name.lower() in self._secrets else name
        if found is None:
            what = f"{name}/{version}" if version else name
            return _error(
                404,
                "SecretNotFound",
                f"A secret with (name/id) {what} was not found in this key vault. {_NOT_FOUND_HINT}",
            )
        return Response.json(200, self._bundle(canonical, found))

    def _put(self, name: str, request: RecordedRequest) -> Response:
        try:
            payload = request.json()
        except (ValueError, UnicodeDecodeError):
            return _error(400, "BadParameter", "The request body is not valid JSON.")
        if not isinstance(payload, dict) or not isinstance(payload.get("value"), str):
            return _error(400, "BadParameter", "Property 'value' is required and must be a string.")
        tags = payload.get("tags") or {}
        content_type = payload.get("contentType")
        if not isinstance(tags, dict) or not (content_type is None or isinstance(content_type, str)):
            return _error(400, "BadParameter", "Invalid tags or contentType.")
        version = self._store(name, payload["value"], content_type, {str(k): str(v) for k, v in tags.items()})
        with self._data_lock:
            canonical = self._secrets[name.lower()].name
        return Response.json(200, self._bundle(canonical, version))

    def _delete(self, name: str) -> Response:
        with self._data_lock:
            secret = self._secrets.pop(name.lower(), None)
        if secret is None or not secret.versions:
            return _error(
                404,
                "SecretNotFound",
                f"A secret with (name/id) {name} was not found in this key vault. {_NOT_FOUND_HINT}",
            )
        # No recoveryId: the client's delete poller treats the deletion as done (no soft delete here).
        return Response.json(200, self._bundle(secret.name, secret.versions[-1]))

    def _list_versions(self, name: str) -> Response:
        with self._data_lock:
            secret = self._secrets.get(name.lower())
            items = (
                [
                    {
                        "id": self.secret_id(secret.name, v.version),
                        "attributes": self._bundle(secret.name, v)["attributes"],
                        "tags": dict(v.tags),
                    }
                    for v in secret.versions
                ]
                if secret
                else []
            )
        return Response.json(200, {"value": items, "nextLink": None})
