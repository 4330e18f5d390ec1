"""The Azure Event Hubs connection spec and its auth specs; ``GET /connectionSpecs[/{id}]``.

:class:`AuthSpecs` is the thread-safe table of auth spec name -> (required params, optional
params) that validation of ``auth.params`` and the spec document both read; tests rename or
replace entries (``rename``, ``replace``) to play Adobe renaming a spec.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from devstack.adobe.routing import Call, Route
from devstack.httpbase import Response

__all__ = [
    "AAD_SPEC",
    "DEFAULT_AUTH_SPECS",
    "EVENTHUBS_PROVIDER_ID",
    "EVENTHUBS_SPEC_ID",
    "MASK",
    "SAS_SPEC",
    "SCOPED_AAD_SPEC",
    "SECRET_PARAMS",
    "AuthSpecTable",
    "AuthSpecs",
    "masked",
]

EVENTHUBS_SPEC_ID = "bf9f5905-92b7-48bf-bf20-455bc6b60a4e"
EVENTHUBS_PROVIDER_ID = "521eee4d-8cbe-4906-bb48-fb6bd4450033"

SAS_SPEC = "Azure EventHub authentication credentials"
AAD_SPEC = "Event Hub Azure Active Directory Auth"
SCOPED_AAD_SPEC = "Event Hub Scoped Azure Active Directory Auth"

AuthSpecTable = dict[str, tuple[tuple[str, ...], tuple[str, ...]]]
"""auth spec name -> (required params, optional params)"""

#: auth spec name -> (required params, optional params)
DEFAULT_AUTH_SPECS: AuthSpecTable = {
    SAS_SPEC: (("sasKeyName", "sasKey", "namespace"), ("eventHubName",)),
    AAD_SPEC: (("tenantId", "clientId", "clientSecretValue", "namespace"), ()),
    SCOPED_AAD_SPEC: (("tenantId", "clientId", "clientSecretValue", "namespace", "eventHubName"), ()),
}
#: params Adobe never echoes back; GET responses show them masked
SECRET_PARAMS = frozenset({"sasKey", "clientSecretValue"})
MASK = "****"


def masked(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of a document with every secret ``auth.params`` value replaced by ``****``."""
    out = copy.deepcopy(data)
    params = out.get("auth", {}).get("params", {})
    for key in params:
        if key in SECRET_PARAMS:
            params[key] = MASK
    return out


def _table(specs: Mapping[str, tuple[Sequence[str], Sequence[str]]]) -> AuthSpecTable:
    return {name: (tuple(required), tuple(optional)) for name, (required, optional) in specs.items()}


class AuthSpecs:
    """The auth specs of the Event Hubs connection spec (thread-safe)."""

    def __init__(self, specs: Mapping[str, tuple[Sequence[str], Sequence[str]]] | None = None) -> None:
        self._lock = threading.Lock()
        self._initial = _table(DEFAULT_AUTH_SPECS if specs is None else specs)
        self._specs = dict(self._initial)

    def snapshot(self) -> AuthSpecTable:
        """A copy of the table."""
        with self._lock:
            return dict(self._specs)

    def rename(self, old: str, new: str) -> None:
        """Serve an auth spec under another name (same position in the list)."""
        with self._lock:
            self._specs = {(new if name == old else name): spec for name, spec in self._specs.items()}

    def replace(self, specs: Mapping[str, tuple[Sequence[str], Sequence[str]]]) -> None:
        """Replace the whole table."""
        with self._lock:
            self._specs = _table(specs)

    def reset(self) -> None:
        """Back to the table given to the constructor."""
        with self._lock:
            self._specs = dict(self._initial)

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return isinstance(name, str) and name in self._specs

    def validate(self, spec_name: str, params: Any) -> tuple[str, str] | None:
        """(code, message) of what is wrong with ``auth.params`` for that spec, or None.

        ``1415-400`` for an unknown spec, ``1401-400`` for unknown, missing or empty params.
        """
        with self._lock:
            spec = self._specs.get(spec_name)
        if spec is None:
            return "1415-400", f"auth spec not found: {spec_name!r}"
        required, optional = spec
        if not isinstance(params, dict):
            return "1401-400", "auth.params must be an object"
        unknown = sorted(set(params) - set(required) - set(optional))
        if unknown:
            return "1401-400", f"Unknown auth params for '{spec_name}': {', '.join(unknown)}"
        missing = [name for name in required if name not in params]
        if missing:
            return "1401-400", f"Missing required auth params for '{spec_name}': {', '.join(missing)}"
        bad = sorted(k for k, v in params.items() if not isinstance(v, str) or not v.strip())
        if bad:
            return "1401-400", f"Auth params must be non-empty strings: {', '.join(bad)}"
        return None

    def document(self) -> dict[str, Any]:
        """The Azure Event Hubs connection spec as ``GET /connectionSpecs/{id}`` returns it."""
        auth_spec = []
        for name, (required, optional) in self.snapshot().items():
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

    # -- routes --------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """``GET /connectionSpecs`` and ``GET /connectionSpecs/{id}``."""
        return [Route("GET", "/connectionSpecs", self._list), Route("GET", "/connectionSpecs/{id}", self._get)]

    def _list(self, call: Call) -> Response:
        return Response.json(200, {"items": [self.document()]})

    def _get(self, call: Call) -> Response:
        spec_id = call.params["id"]
        if spec_id != EVENTHUBS_SPEC_ID:
            return call.problem(
                404,
                "1400-404",
                f"Connection spec {spec_id} not found",
                resource_id=spec_id,
                resource_type="connectionSpecs",
            )
        return Response.json(200, {"items": [self.document()]})
