"""Event Hubs rules: name patterns and their validators, SAS connection-string and AAD secret parsing."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Final

from .errors import InvalidRequest, SecretProblem
from .sensitive import MIN_SECRET_LENGTH, Secret, too_short

NAMESPACE_PATTERN: Final = re.compile(r"[A-Za-z][A-Za-z0-9-]{4,48}[A-Za-z0-9]")
EVENT_HUB_PATTERN: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,254}[A-Za-z0-9])?")
SANDBOX_PATTERN: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,253}[a-z0-9])?")
CONSUMER_GROUP_PATTERN: Final = re.compile(r"\$Default|[A-Za-z0-9](?:[A-Za-z0-9._-]{0,48}[A-Za-z0-9])?")
#: An Adobe object id (connections, datasets, mapping sets): safe in a URL path.
ADOBE_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9-]{1,128}")
SAS_KEY_NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9._-]{1,50}")
CONTROL_CHARS: Final = re.compile(r"[\x00-\x1f\x7f]")


def show_input(value: str, limit: int = 60) -> str:
    """A short, printable rendering of user input for an error message."""
    shown = value if len(value) <= limit else value[:limit] + "..."
    return json.dumps(shown)


def _validated(value: object, field: str, pattern: re.Pattern[str], rule: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"'{field}' must be a string.", field=field)
    if not pattern.fullmatch(value):
        raise InvalidRequest(f"'{field}' {show_input(value)} is not {rule}.", field=field)
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
    if too_short(key):  # never registered with the scrubber: it would mangle every other text
        raise invalid(f"SharedAccessKey is shorter than {MIN_SECRET_LENGTH} characters.")
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
    if too_short(data["clientSecret"]):  # never registered with the scrubber: it would mangle every other text
        raise SecretProblem(
            f"Key Vault secret '{secret_name}' has a clientSecret shorter than {MIN_SECRET_LENGTH} characters.",
            secret_name=secret_name,
        )
    return AadCredential(data["tenantId"], data["clientId"], Secret(data["clientSecret"]))
