"""Event Hubs rules: name patterns, request validation, and SAS connection-string parsing."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .errors import InvalidRequest, SecretProblem
from .models import AuthType, ConnectionRequest
from .sensitive import Secret

NAMESPACE_PATTERN: Final = re.compile(r"[A-Za-z][A-Za-z0-9-]{4,48}[A-Za-z0-9]")
EVENT_HUB_PATTERN: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,254}[A-Za-z0-9])?")
SANDBOX_PATTERN: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,253}[a-z0-9])?")
SAS_KEY_NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9._-]{1,50}")
_CONTROL_CHARS: Final = re.compile(r"[\x00-\x1f\x7f]")

REQUEST_FIELDS: Final = ("namespace", "sandbox", "eventHubName", "authType", "name", "description")
MAX_NAME_LENGTH: Final = 256
MAX_DESCRIPTION_LENGTH: Final = 1024


def _show(value: str, limit: int = 60) -> str:
    """A short, printable rendering of user input for an error message."""
    shown = value if len(value) <= limit else value[:limit] + "..."
    return json.dumps(shown)


def _validated(value: object, field: str, pattern: re.Pattern[str], rule: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"'{field}' must be a string.", field=field)
    if not pattern.fullmatch(value):
        raise InvalidRequest(f"'{field}' {_show(value)} is not {rule}.", field=field)
    return value


def validate_namespace(value: object, field: str = "namespace") -> str:
    """Return the namespace in lowercase, or raise InvalidRequest naming the field."""
    rule = (
        "an Event Hubs namespace name: 6 to 50 letters, digits and hyphens, starting with a letter and "
        "ending with a letter or digit"
    )
    return _validated(value, field, NAMESPACE_PATTERN, rule).lower()


def validate_event_hub(value: object, field: str = "eventHubName") -> str:
    """Return the event hub name in lowercase, or raise InvalidRequest naming the field."""
    rule = "an event hub name: 1 to 256 letters, digits, '.', '-' and '_', starting and ending with a letter or digit"
    return _validated(value, field, EVENT_HUB_PATTERN, rule).lower()


def validate_sandbox(value: object, field: str = "sandbox") -> str:
    """Return the sandbox name, or raise InvalidRequest naming the field."""
    return _validated(value, field, SANDBOX_PATTERN, "a sandbox name: lowercase letters, digits and hyphens")


def _optional_text(body: Mapping[str, Any], field: str, limit: int) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"'{field}' must be a string.", field=field)
    if len(value) > limit:
        raise InvalidRequest(f"'{field}' is longer than {limit} characters.", field=field)
    if _CONTROL_CHARS.search(value):
        raise InvalidRequest(f"'{field}' must not contain control characters.", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(f"'{field}' must be valid Unicode text (no lone surrogates).", field=field) from None
    if not value.strip():
        raise InvalidRequest(f"'{field}' must not be blank.", field=field)
    return value


def parse_request(body: object, default_sandbox: str) -> ConnectionRequest:
    """Validate a decoded JSON request (HTTP body or queue message) into a ConnectionRequest."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request must be a JSON object.", field=None, code="InvalidJson")
    unknown = sorted(str(key) for key in body if key not in REQUEST_FIELDS)
    if unknown:
        raise InvalidRequest(
            f"Unknown field {_show(unknown[0])}; allowed fields are {', '.join(REQUEST_FIELDS)}.",
            # A lone surrogate cannot be encoded: shown escaped, so any key can be named in the answer.
            field=unknown[0][:100].encode("utf-8", "backslashreplace").decode("utf-8"),
        )
    if body.get("namespace") is None:
        raise InvalidRequest("'namespace' is required.", field="namespace")
    namespace = validate_namespace(body["namespace"])
    sandbox = default_sandbox if body.get("sandbox") is None else validate_sandbox(body["sandbox"])
    event_hub = None if body.get("eventHubName") is None else validate_event_hub(body["eventHubName"])
    auth_value = body.get("authType")
    if auth_value is None:
        auth_type = AuthType.SAS
    elif isinstance(auth_value, str) and auth_value.lower() in {a.value for a in AuthType}:
        auth_type = AuthType(auth_value.lower())
    else:
        raise InvalidRequest('\'authType\' must be "sas" or "aad".', field="authType")
    return ConnectionRequest(
        namespace=namespace,
        sandbox=sandbox,
        event_hub=event_hub,
        auth_type=auth_type,
        name=_optional_text(body, "name", MAX_NAME_LENGTH),
        description=_optional_text(body, "description", MAX_DESCRIPTION_LENGTH),
    )


@dataclass(frozen=True)
class SasCredential:
    """A parsed Event Hubs SAS connection string."""

    namespace: str
    key_name: str
    key: Secret
    entity_path: str | None


_SERVICEBUS_SUFFIXES: Final = (
    ".servicebus.windows.net",
    ".servicebus.chinacloudapi.cn",
    ".servicebus.usgovcloudapi.net",
    ".servicebus.cloudapi.de",
)


def parse_connection_string(value: str, *, secret_name: str, expected_namespace: str) -> SasCredential:
    """Parse `Endpoint=sb://<ns>...;SharedAccessKeyName=..;SharedAccessKey=..[;EntityPath=..]`.

    Raises SecretProblem (422) naming the secret, never quoting its value.
    """

    def invalid(reason: str) -> SecretProblem:
        return SecretProblem(
            f"Key Vault secret '{secret_name}' is not a usable Event Hubs connection string: {reason}",
            secret_name=secret_name,
        )

    pairs: dict[str, str] = {}
    for part in value.strip().split(";"):
        if not part.strip():
            continue
        name, sep, item = part.partition("=")  # split on the first '=' only: keys end in '='
        if not sep:
            raise invalid("a part has no '='.")
        pairs[name.strip().lower()] = item.strip()
    if "sharedaccesssignature" in pairs and "sharedaccesskey" not in pairs:
        raise invalid("it holds only a SharedAccessSignature; Adobe needs the SharedAccessKey.")
    endpoint = pairs.get("endpoint")
    if not endpoint:
        raise invalid("Endpoint is missing.")
    match = re.fullmatch(r"(?:sb|amqps|https)://([^/;:]+)(?::\d+)?/?", endpoint, flags=re.IGNORECASE)
    host = match.group(1).lower() if match else ""
    suffix = next((s for s in _SERVICEBUS_SUFFIXES if host.endswith(s)), None)
    if suffix is None:
        raise invalid("Endpoint is not sb://<namespace>.servicebus.windows.net/.")
    namespace = host[: -len(suffix)]
    if namespace != expected_namespace:
        raise invalid(f"its Endpoint is for namespace '{namespace}', not '{expected_namespace}'.")
    key_name = pairs.get("sharedaccesskeyname", "")
    if not SAS_KEY_NAME_PATTERN.fullmatch(key_name):
        raise invalid("SharedAccessKeyName is missing or not a valid rule name.")
    key = pairs.get("sharedaccesskey", "")
    if not key:
        raise invalid("SharedAccessKey is missing.")
    entity_path = pairs.get("entitypath") or None
    if entity_path is not None:
        if not EVENT_HUB_PATTERN.fullmatch(entity_path):
            raise invalid("EntityPath is not a valid event hub name.")
        entity_path = entity_path.lower()
    return SasCredential(namespace=namespace, key_name=key_name, key=Secret(key), entity_path=entity_path)


@dataclass(frozen=True)
class AadCredential:
    """An Entra ID (AAD) service principal for a namespace."""

    tenant_id: str
    client_id: str
    client_secret: Secret


def parse_aad_secret(value: str, *, secret_name: str) -> AadCredential:
    """Parse the JSON `{"tenantId", "clientId", "clientSecret"}` held in the AAD secret."""
    try:
        data = json.loads(value)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise SecretProblem(
            f"Key Vault secret '{secret_name}' must hold a JSON object with tenantId, clientId, clientSecret.",
            secret_name=secret_name,
        )
    missing = [k for k in ("tenantId", "clientId", "clientSecret") if not isinstance(data.get(k), str) or not data[k]]
    if missing:
        raise SecretProblem(f"Key Vault secret '{secret_name}' lacks {', '.join(missing)}.", secret_name=secret_name)
    return AadCredential(data["tenantId"], data["clientId"], Secret(data["clientSecret"]))
