"""Turns Key Vault secrets into Adobe credentials and a namespace's Event Hubs auth params."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from .adobe import AdobeCredentials
from .errors import ConfigurationError, SecretNotFound, SecretProblem
from .eventhubs import parse_aad_secret, parse_connection_string
from .models import AuthType, ConnectionRequest
from .retry import Deadline
from .secrets import SecretSource
from .sensitive import MIN_SECRET_LENGTH, Secret, refuse_pickling, too_short
from .settings import Settings

SAS_SPEC: Final = "Azure EventHub authentication credentials"
AAD_SPEC: Final = "Event Hub Azure Active Directory Auth"
SCOPED_AAD_SPEC: Final = "Event Hub Scoped Azure Active Directory Auth"


@dataclass(frozen=True)
class NamespaceAuth:
    """What Adobe needs to reach one namespace, and which secret version it came from."""

    spec_name: str
    params: dict[str, Any] = field(repr=False)  # holds the key: never printed
    secret_name: str = ""
    secret_version: str | None = None
    event_hub: str | None = None

    def __reduce__(self) -> tuple[object, ...]:
        refuse_pickling(self)


def load_adobe_credentials(secrets: SecretSource, settings: Settings, deadline: Deadline) -> AdobeCredentials:
    """The Adobe OAuth credential from Key Vault; a missing secret is a configuration error."""
    values = []
    for setting, name in (
        ("ADOBE_CLIENT_ID_SECRET", settings.client_id_secret),
        ("ADOBE_CLIENT_SECRET_SECRET", settings.client_secret_secret),
        ("ADOBE_ORG_ID_SECRET", settings.org_id_secret),
    ):
        try:
            values.append(secrets.get(name, deadline))
        except SecretNotFound:
            raise ConfigurationError(
                f"The Adobe credential secret '{name}' (named by {setting}) is missing in Key Vault "
                f"{settings.key_vault_url}.",
                setting=setting,
            ) from None
    client_id, client_secret, org_id = values
    for setting, secret in (("ADOBE_CLIENT_ID_SECRET", client_id), ("ADOBE_ORG_ID_SECRET", org_id)):
        if not secret.value.reveal().strip():
            raise ConfigurationError(
                f"The Adobe credential secret '{secret.name}' (named by {setting}) is empty.", setting=setting
            )
    if too_short(client_secret.value.reveal()):  # never registered with the scrubber: it would mangle other text
        raise ConfigurationError(
            f"The Adobe credential secret '{client_secret.name}' (named by ADOBE_CLIENT_SECRET_SECRET) is shorter "
            f"than {MIN_SECRET_LENGTH} characters: store the client secret the Developer Console shows.",
            setting="ADOBE_CLIENT_SECRET_SECRET",
        )
    return AdobeCredentials(
        client_id.value.reveal().strip(), Secret(client_secret.value.reveal()), org_id.value.reveal().strip()
    )


def forget_adobe_credentials(secrets: SecretSource, settings: Settings) -> None:
    """Drop the cached Adobe credential (after IMS refused it), so the next call reads Key Vault again."""
    for name in (settings.client_id_secret, settings.client_secret_secret, settings.org_id_secret):
        secrets.invalidate(name)


def namespace_auth(
    secrets: SecretSource, settings: Settings, request: ConnectionRequest, deadline: Deadline
) -> NamespaceAuth:
    """Read and check the namespace's secret for the request's auth type."""
    if request.auth_type is AuthType.AAD:
        name = settings.aad_secret_name(request.namespace)
        secret = secrets.get(name, deadline)
        aad = parse_aad_secret(secret.value.reveal(), secret_name=name)
        params: dict[str, Any] = {
            "tenantId": aad.tenant_id,
            "clientId": aad.client_id,
            "clientSecretValue": aad.client_secret.reveal(),
            "namespace": request.namespace,
        }
        spec = AAD_SPEC
        if request.event_hub:
            params["eventHubName"] = request.event_hub
            spec = SCOPED_AAD_SPEC
        return NamespaceAuth(spec, params, name, secret.version, request.event_hub)

    name = settings.sas_secret_name(request.namespace)
    secret = secrets.get(name, deadline)
    sas = parse_connection_string(secret.value.reveal(), secret_name=name, expected_namespace=request.namespace)
    event_hub = request.event_hub
    if sas.entity_path is not None:
        if event_hub is not None and event_hub != sas.entity_path:
            raise SecretProblem(
                f"Key Vault secret '{name}' is scoped to event hub '{sas.entity_path}' (EntityPath), "
                f"not '{event_hub}'.",
                secret_name=name,
            )
        event_hub = sas.entity_path
    params = {"sasKeyName": sas.key_name, "sasKey": sas.key.reveal(), "namespace": request.namespace}
    if event_hub:
        params["eventHubName"] = event_hub
    return NamespaceAuth(SAS_SPEC, params, name, secret.version, event_hub)
