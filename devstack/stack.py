"""The whole local stack: Azurite, managed identity, Key Vault, Resource Graph and Adobe stand-ins, wired together."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from devstack.adobe import AdobeStandIn
from devstack.azurite import Azurite, find_repo_root
from devstack.identity import IdentityStandIn
from devstack.ioevents import IOEventsKeyHost
from devstack.keyvault import KeyVaultStandIn
from devstack.lifecycle import StartStop
from devstack.localsettings import local_settings
from devstack.monitor import MonitorMetrics
from devstack.resourcegraph import DEFAULT_SUBSCRIPTION, ResourceGraphStandIn

__all__ = [
    "AAD_SECRET_TEMPLATE",
    "ADOBE_CLIENT_ID_SECRET",
    "ADOBE_CLIENT_SECRET_SECRET",
    "ADOBE_ORG_ID_SECRET",
    "DEFAULT_EVENT_HUBS",
    "SAS_SECRET_TEMPLATE",
    "LocalStack",
    "SeededNamespace",
]

ADOBE_CLIENT_ID_SECRET = "adobe-client-id"
ADOBE_CLIENT_SECRET_SECRET = "adobe-client-secret"
ADOBE_ORG_ID_SECRET = "adobe-org-id"
SAS_SECRET_TEMPLATE = "eventhubs-sas-{namespace}"
AAD_SECRET_TEMPLATE = "eventhubs-aad-{namespace}"
DEFAULT_SCOPES = "openid,AdobeID,read_organizations,additional_info.projectedProductContext,session"
#: The event hubs Adobe lists in a namespace seeded without naming any.
DEFAULT_EVENT_HUBS = ("clicks", "views")


def random_sas_key() -> str:
    """A random Event Hubs SAS key: base64 of 32 bytes (44 characters, ending in ``=``)."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def eventhubs_connection_string(namespace: str, key_name: str, key: str, entity_path: str | None = None) -> str:
    """An Event Hubs connection string as the Azure portal shows it."""
    value = f"Endpoint=sb://{namespace}.servicebus.windows.net/;SharedAccessKeyName={key_name};SharedAccessKey={key}"
    return value + (f";EntityPath={entity_path}" if entity_path else "")


@dataclass(frozen=True)
class SeededNamespace:
    """What :meth:`LocalStack.seed_namespace` made known: the Key Vault secret (None without one),
    the Resource Graph resource id and the event hubs Adobe's explore lists."""

    namespace: str
    secret_name: str | None
    entity_path: str | None
    resource_id: str
    subscription_id: str
    event_hubs: tuple[str, ...]
    #: The vault had the secret already: this stored a new version (a key rotation).
    rotated: bool = False


class LocalStack(StartStop):
    """Azurite + :class:`IdentityStandIn` + :class:`KeyVaultStandIn` + :class:`ResourceGraphStandIn`
    + :class:`AdobeStandIn` in one.

    ``root`` is the repository root (holding ``node_modules``; found when None). The vault is
    seeded with the Adobe credentials under the contract's default secret names. Resource Graph
    (``resource_graph``, ``AZURE_RESOURCE_MANAGER_URL``) accepts the identity's tokens for
    ``https://management.azure.com`` and its certificate comes from the vault's CA, so the one
    ``REQUESTS_CA_BUNDLE`` trusts both; its inventory starts empty. ``env()`` gives
    the app settings that point the function app at the stack, ``local_settings()`` the same as a
    ``local.settings.json``. :meth:`seed_namespace` makes a namespace known everywhere the app looks
    (vault, Resource Graph, Adobe's explore). With ``events_queue`` the queue is created in Azurite
    and named in ``env()``. ``start_azurite=False`` skips Azurite (``AzureWebJobsStorage`` is then
    absent from ``env()``).
    """

    def __init__(
        self,
        root: Path | None = None,
        *,
        sandboxes: Iterable[str] = ("prod",),
        default_sandbox: str = "prod",
        adobe_client_id: str | None = None,
        adobe_client_secret: str | None = None,
        adobe_org_id: str = "0123456789ABCDEF01234567@AdobeOrg",
        adobe_token_lifetime: int = 86399,
        connections_table: str = "EventHubsConnections",
        events_queue: str | None = None,
        start_azurite: bool = True,
    ) -> None:
        self.root = Path(root) if root is not None else find_repo_root()
        self.default_sandbox = default_sandbox
        self.connections_table = connections_table
        self.events_queue = events_queue
        self.adobe_client_id = adobe_client_id or secrets.token_hex(16)
        self.adobe_client_secret = adobe_client_secret or "p8e-" + secrets.token_urlsafe(24)
        self.adobe_org_id = adobe_org_id
        self.azurite: Azurite | None = Azurite(self.root) if start_azurite else None
        self.identity = IdentityStandIn()
        self.keyvault = KeyVaultStandIn(self.identity.is_valid_token, cert_dir=self.root / ".devstack")
        # KeyVaultStandIn has no public accessor for its CA; sharing it keeps one CA bundle for the app.
        self.resource_graph = ResourceGraphStandIn(
            self.identity.is_valid_token,
            ca=self.keyvault._ca,
            cert_dir=self.root / ".devstack",
            principal_id=self.identity.object_id,
        )
        # Azure Monitor metrics are another Resource Manager API: same host, same bearer check.
        self.metrics = MonitorMetrics()
        self.resource_graph.mount(self.metrics.answer)
        self.ioevents = IOEventsKeyHost()
        sandbox_names = set(sandboxes) | {default_sandbox}
        self.adobe = AdobeStandIn(
            self.adobe_client_id,
            self.adobe_client_secret,
            self.adobe_org_id,
            sandboxes=sandbox_names,
            token_lifetime=adobe_token_lifetime,
        )
        self._handed_out: set[str] = {self.adobe_client_secret}
        self._started: list[Any] = []

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Self:
        """Start every component (Azurite first); on failure stop what was started and re-raise."""
        if self._started:
            return self
        components: list[Any] = [
            c for c in (self.azurite, self.identity, self.keyvault, self.resource_graph, self.ioevents, self.adobe) if c
        ]
        try:
            for component in components:
                component.start()
                self._started.append(component)
            self.seed_adobe_credentials()
            self._create_events_queue()
        except BaseException:
            self.stop()
            raise
        return self

    def _create_events_queue(self) -> None:
        """Create ``events_queue`` in Azurite, as the deployment does (the app only sends to it)."""
        if self.events_queue is None or self.azurite is None:
            return
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.queue import QueueClient

        queue = QueueClient.from_connection_string(self.azurite.connection_string, self.events_queue)
        with queue, contextlib.suppress(ResourceExistsError):
            queue.create_queue()

    def stop(self) -> None:
        """Stop everything started, in reverse order, even if one stop fails (the first error is raised)."""
        first: BaseException | None = None
        while self._started:
            component = self._started.pop()
            try:
                component.stop()
            except BaseException as exc:
                first = first or exc
        if first is not None:
            raise first

    def reset(self) -> None:
        """Between tests: clear faults and recordings everywhere, reset the Adobe stand-in
        (connections, sandboxes, auth specs, create delay, error style...), unassign user-assigned
        identities, undo Key Vault denials and latency, reset Resource Graph (empty inventory, no denials, page
        size 1000), re-seed the Adobe credential secrets, and resume a paused Azurite (or start a
        stopped one again on its ports)."""
        if self.azurite is not None and self.azurite in self._started:
            if self.azurite.paused:
                self.azurite.resume()
            elif not self.azurite.running:
                self.azurite.stop()
                self.azurite.start_again()
                self._create_events_queue()
        self.identity.reset()
        self.keyvault.faults.clear()
        self.keyvault.reset_recording()
        self.keyvault.latency = 0.0
        self.keyvault.allow()
        self.resource_graph.reset()
        self.metrics.reset()
        self.ioevents.faults.clear()
        self.ioevents.reset_recording()
        self.adobe.reset()
        self.seed_adobe_credentials()

    # -- settings ------------------------------------------------------------------------------

    @property
    def storage_connection_string(self) -> str:
        """``AzureWebJobsStorage`` for the stack's Azurite."""
        if self.azurite is None:
            raise RuntimeError("this LocalStack runs without Azurite")
        return self.azurite.connection_string

    def env(self) -> dict[str, str]:
        """The app settings (environment) that point the function app at this stack."""
        env = {
            "KEY_VAULT_URL": self.keyvault.url,
            "IDENTITY_ENDPOINT": self.identity.endpoint,
            "IDENTITY_HEADER": self.identity.header_value,
            "REQUESTS_CA_BUNDLE": str(self.keyvault.ca_bundle_path),
            "AZURE_RESOURCE_MANAGER_URL": self.resource_graph.base_url,
            "ADOBE_IO_EVENTS_KEY_URL": self.ioevents.url,
            "ADOBE_IMS_URL": self.adobe.ims_url,
            "ADOBE_PLATFORM_URL": self.adobe.platform_url,
            "ADOBE_SANDBOX_NAME": self.default_sandbox,
            "ADOBE_SCOPES": DEFAULT_SCOPES,
            "ADOBE_CLIENT_ID_SECRET": ADOBE_CLIENT_ID_SECRET,
            "ADOBE_CLIENT_SECRET_SECRET": ADOBE_CLIENT_SECRET_SECRET,
            "ADOBE_ORG_ID_SECRET": ADOBE_ORG_ID_SECRET,
            "EVENTHUBS_SECRET_TEMPLATE": SAS_SECRET_TEMPLATE,
            "EVENTHUBS_AAD_SECRET_TEMPLATE": AAD_SECRET_TEMPLATE,
            "CONNECTIONS_TABLE": self.connections_table,
            "SECRET_CACHE_SECONDS": "300",
            "DELETE_CONNECTION_ON_NAMESPACE_DELETE": "false",
        }
        if self.azurite is not None:
            env["AzureWebJobsStorage"] = self.azurite.connection_string
        if self.events_queue:
            env["CONNECTION_EVENTS_QUEUE"] = self.events_queue
        return env

    def local_settings(self, ca_bundle: Path | None = None) -> dict[str, Any]:
        """A ``local.settings.json`` document for ``func start`` against this stack (see
        :func:`devstack.localsettings.local_settings`); ``ca_bundle`` replaces the vault's CA file."""
        return local_settings(self.env(), ca_bundle=ca_bundle)

    def apply_env(self, setenv: Any = None) -> dict[str, str]:
        """Set every ``env()`` variable through ``setenv(name, value)`` (e.g. ``monkeypatch.setenv``;
        default ``os.environ``) and return them."""
        env = self.env()
        for key, value in env.items():
            if setenv is None:
                os.environ[key] = value
            else:
                setenv(key, value)
        return env

    def assign_identity(self, client_id: str) -> None:
        """Assign a user-assigned managed identity to the app (``AZURE_CLIENT_ID=client_id`` then
        gets tokens); :meth:`reset` unassigns it."""
        self.identity.assign_identity(client_id)

    # -- secrets -------------------------------------------------------------------------------

    def seed_adobe_credentials(self) -> None:
        """(Re)store the Adobe client id, client secret and org id in the vault."""
        for name, value in (
            (ADOBE_CLIENT_ID_SECRET, self.adobe_client_id),
            (ADOBE_CLIENT_SECRET_SECRET, self.adobe_client_secret),
            (ADOBE_ORG_ID_SECRET, self.adobe_org_id),
        ):
            if self.keyvault.get_value(name) != value:
                self.keyvault.set_secret(name, value)

    def add_eventhubs_namespace(
        self,
        namespace: str,
        key_name: str = "RootManageSharedAccessKey",
        entity_path: str | None = None,
        *,
        key: str | None = None,
    ) -> tuple[str, str, str]:
        """Store a SAS connection string as ``eventhubs-sas-{namespace}``; returns (secret name,
        connection string, key). A new version is stored if the secret exists (a rotation)."""
        key = key or random_sas_key()
        connection_string = eventhubs_connection_string(namespace, key_name, key, entity_path)
        secret_name = SAS_SECRET_TEMPLATE.format(namespace=namespace)
        self.keyvault.set_secret(secret_name, connection_string)
        self._handed_out.update({key, connection_string})
        return secret_name, connection_string, key

    def seed_namespace(
        self,
        namespace: str,
        *,
        event_hubs: Sequence[str] | None = None,
        scoped: str | None = None,
        secret: bool = True,
        subscription_id: str = DEFAULT_SUBSCRIPTION,
    ) -> SeededNamespace:
        """Make an Event Hubs namespace exist as the app sees one: its SAS connection string in the
        vault (unless ``secret`` is False; with ``EntityPath=scoped`` for a connection string scoped
        to one event hub), the namespace listed by Resource Graph in ``subscription_id``, and its
        event hubs listed by Adobe's explore: ``event_hubs`` plus ``scoped``; when None, ``scoped``
        alone or else :data:`DEFAULT_EVENT_HUBS`."""
        if event_hubs is None:
            event_hubs = (scoped,) if scoped else DEFAULT_EVENT_HUBS
        hubs = tuple(event_hubs) + ((scoped,) if scoped and scoped not in event_hubs else ())
        existed = secret and self.keyvault.get_value(SAS_SECRET_TEMPLATE.format(namespace=namespace)) is not None
        secret_name = self.add_eventhubs_namespace(namespace, entity_path=scoped)[0] if secret else None
        listed = self.resource_graph.add_namespace(namespace, subscription_id=subscription_id)
        self.adobe.set_event_hubs(namespace, list(hubs))
        return SeededNamespace(
            namespace, secret_name, scoped, listed["id"], listed["subscriptionId"], hubs, rotated=existed
        )

    def add_aad_secret(
        self,
        namespace: str,
        tenant_id: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> tuple[str, dict[str, str]]:
        """Store ``{"tenantId","clientId","clientSecret"}`` as ``eventhubs-aad-{namespace}`` (random
        values for what is not given); returns (secret name, the dict)."""
        value = {
            "tenantId": tenant_id or str(uuid.uuid4()),
            "clientId": client_id or str(uuid.uuid4()),
            "clientSecret": client_secret or secrets.token_urlsafe(30),
        }
        secret_name = AAD_SECRET_TEMPLATE.format(namespace=namespace)
        text = json.dumps(value)
        self.keyvault.set_secret(secret_name, text)
        self._handed_out.update({value["clientSecret"], text})
        return secret_name, value

    def known_secret_values(self) -> set[str]:
        """Every secret value the stack has handed out (SAS keys, connection strings, client
        secrets, AAD secrets, IMS and managed-identity access tokens), for leak checks."""
        values = set(self._handed_out)
        values.update(self.adobe.issued_tokens)
        values.update(self.identity.issued_tokens)
        public = {self.adobe_client_id, self.adobe_org_id}
        values.update(v for v in self.keyvault.all_values() if v not in public)
        return {v for v in values if v}
