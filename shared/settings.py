"""The one settings object: read from the environment and validated in one place."""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import urlsplit

from .errors import ConfigurationError
from .eventhubs import ADOBE_ID_PATTERN, CONSUMER_GROUP_PATTERN, NAMESPACE_PATTERN, SANDBOX_PATTERN
from .models import AuthType
from .sensitive import Secret, register_secret

DEFAULT_SCOPES: Final = "openid,AdobeID,read_organizations,additional_info.projectedProductContext,session"
_SECRET_NAME: Final = re.compile(r"[0-9A-Za-z-]{1,127}")
_TABLE_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9]{2,62}")
_QUEUE_NAME: Final = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")
_TRUE: Final = {"true", "1", "yes"}
_FALSE: Final = {"false", "0", "no", ""}


@dataclass(frozen=True)
class DataflowDefaults:
    """The settings a dataflow request falls back to."""

    sandbox: str
    dataset_id: str | None = None
    data_type: str = "xdm"
    consumer_group: str = "$Default"
    reset: str = "earliest"


@dataclass(frozen=True)
class TelemetrySettings:
    """OpenTelemetry export to Application Insights (on when APPLICATIONINSIGHTS_CONNECTION_STRING is set)."""

    connection_string: Secret
    #: PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true: the Python worker configures the Azure Monitor
    #: distro itself, so the app only uses the providers it installed.
    configured_by_worker: bool = False


@dataclass(frozen=True)
class StorageSettings:
    """Where the records table and the events queue live: a connection string or an identity-based account."""

    connection_string: Secret | None
    table_endpoint: str | None = None
    queue_endpoint: str | None = None
    client_id: str | None = None


@dataclass(frozen=True)
class HealthSettings:
    """How dataflow health is judged (HEALTH_*), and where Adobe I/O Events keys are read."""

    window_minutes: float = 180
    lag_minutes: float = 60
    max_failed_ratio: float = 0.005
    reenable: bool = False
    io_events_key_url: str = "https://static.adobeioevents.com"


@dataclass(frozen=True)
class Settings:
    """Every app setting of the contract, validated. Build with `Settings.from_env(os.environ)`."""

    key_vault_url: str
    storage: StorageSettings
    azure_client_id: str | None
    use_managed_identity: bool
    default_sandbox: str
    ims_url: str
    platform_url: str
    scopes: str
    client_id_secret: str
    client_secret_secret: str
    org_id_secret: str
    sas_secret_template: str
    aad_secret_template: str
    connections_table: str
    events_queue: str | None
    secret_cache_seconds: float
    delete_connection_on_namespace_delete: bool
    http_timeout_seconds: float
    retry_budget_seconds: float
    claim_lease_seconds: float
    claim_wait_seconds: float
    verify_after_seconds: float
    verify_delay_seconds: float
    #: Lowercase subscription ids this app manages; empty when AZURE_SUBSCRIPTION_IDS is unset.
    subscription_ids: frozenset[str]
    ca_bundle: str | None
    dataflows_table: str = "EventHubsDataflows"
    dataflow_dataset_id: str | None = None
    dataflow_data_type: str = "xdm"
    dataflow_consumer_group: str = "$Default"
    dataflow_reset: str = "earliest"
    resource_manager_url: str = "https://management.azure.com"
    reconcile_delete: bool = False
    #: Most namespaces one reconcile pass may mark deleted (more gone: none marked, an error logged).
    reconcile_max_delete: int = 10
    reconcile_gone_grace_seconds: float = 900.0
    #: How long after its event a hub Adobe does not list yet is retried rather than refused.
    hub_visible_after_seconds: float = 300.0
    telemetry: TelemetrySettings | None = None
    health: HealthSettings = HealthSettings()

    @property
    def connect_timeout_seconds(self) -> float:
        """The connect timeout of every outbound call (the read timeout is HTTP_TIMEOUT_SECONDS)."""
        return connect_timeout(self.http_timeout_seconds)

    @property
    def resource_manager_scope(self) -> str:
        """The token scope of AZURE_RESOURCE_MANAGER_URL; a loopback endpoint is an emulator of the public cloud's."""
        if is_loopback(urlsplit(self.resource_manager_url).hostname or ""):
            return "https://management.azure.com/.default"
        return self.resource_manager_url + "/.default"

    def manages_subscription(self, subscription_id: str) -> bool:
        """Whether events of this subscription are this app's (all are when AZURE_SUBSCRIPTION_IDS is unset)."""
        return not self.subscription_ids or subscription_id.lower() in self.subscription_ids

    @property
    def key_vault_is_emulator(self) -> bool:
        """A vault on a loopback host is a local emulator: the challenge-resource check is off."""
        return is_loopback(urlsplit(self.key_vault_url).hostname or "")

    @property
    def dataflow_defaults(self) -> DataflowDefaults:
        return DataflowDefaults(
            self.default_sandbox,
            self.dataflow_dataset_id,
            self.dataflow_data_type,
            self.dataflow_consumer_group,
            self.dataflow_reset,
        )

    def sas_secret_name(self, namespace: str) -> str:
        return self.sas_secret_template.format(namespace=namespace)

    def aad_secret_name(self, namespace: str) -> str:
        return self.aad_secret_template.format(namespace=namespace)

    def secret_owner(self, secret_name: str) -> tuple[AuthType, str] | None:
        """The (auth type, namespace) a Key Vault secret name belongs to, or None."""
        name = secret_name.strip().lower()
        for auth_type, template in ((AuthType.SAS, self.sas_secret_template), (AuthType.AAD, self.aad_secret_template)):
            prefix, suffix = (part.lower() for part in template.split("{namespace}", 1))
            if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix) + len(suffix):
                namespace = name[len(prefix) : len(name) - len(suffix)]
                if NAMESPACE_PATTERN.fullmatch(namespace):
                    return auth_type, namespace
        return None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and validate the settings; raise ConfigurationError naming the first bad one."""

        def get(name: str, default: str | None = None) -> str | None:
            value = env.get(name)
            if value is None or not value.strip():
                return default
            return value.strip()

        def required(name: str) -> str:
            value = get(name)
            if value is None:
                raise ConfigurationError(f"The app setting {name} is required but not set.", setting=name)
            return value

        sas_template = _template(
            get("EVENTHUBS_SECRET_TEMPLATE", "eventhubs-sas-{namespace}"), "EVENTHUBS_SECRET_TEMPLATE"
        )
        aad_template = _template(
            get("EVENTHUBS_AAD_SECRET_TEMPLATE", "eventhubs-aad-{namespace}"), "EVENTHUBS_AAD_SECRET_TEMPLATE"
        )
        if (
            _prefix(sas_template) == _prefix(aad_template)
            or _prefix(sas_template).startswith(_prefix(aad_template))
            or _prefix(aad_template).startswith(_prefix(sas_template))
        ):
            raise ConfigurationError(
                "EVENTHUBS_SECRET_TEMPLATE and EVENTHUBS_AAD_SECRET_TEMPLATE must have different prefixes "
                "so a secret name maps back to one namespace and auth type.",
                setting="EVENTHUBS_AAD_SECRET_TEMPLATE",
            )
        events_queue = get("CONNECTION_EVENTS_QUEUE")
        if events_queue is not None and not _QUEUE_NAME.fullmatch(events_queue):
            raise ConfigurationError(
                "CONNECTION_EVENTS_QUEUE must be a storage queue name: 3 to 63 lowercase letters, digits "
                "and single hyphens.",
                setting="CONNECTION_EVENTS_QUEUE",
            )
        table = _table(get, "CONNECTIONS_TABLE", "EventHubsConnections")
        dataflows_table = _table(get, "DATAFLOWS_TABLE", "EventHubsDataflows")
        if dataflows_table.lower() == table.lower():
            raise ConfigurationError("DATAFLOWS_TABLE must differ from CONNECTIONS_TABLE.", setting="DATAFLOWS_TABLE")
        dataset = get("DATAFLOW_DATASET_ID")
        if dataset is not None and not ADOBE_ID_PATTERN.fullmatch(dataset):
            raise ConfigurationError(
                "DATAFLOW_DATASET_ID must be a dataset id (letters, digits and hyphens).", setting="DATAFLOW_DATASET_ID"
            )
        consumer_group = get("DATAFLOW_CONSUMER_GROUP", "$Default") or ""
        if not CONSUMER_GROUP_PATTERN.fullmatch(consumer_group):
            raise ConfigurationError(
                "DATAFLOW_CONSUMER_GROUP must be a consumer group name: 1 to 50 letters, digits, '.', '-', '_' "
                "(or $Default).",
                setting="DATAFLOW_CONSUMER_GROUP",
            )
        sandbox = get("ADOBE_SANDBOX_NAME", "prod") or ""
        if not SANDBOX_PATTERN.fullmatch(sandbox):
            raise ConfigurationError(
                "ADOBE_SANDBOX_NAME must be a sandbox name: lowercase letters, digits and hyphens.",
                setting="ADOBE_SANDBOX_NAME",
            )
        timeout = _number(get, "HTTP_TIMEOUT_SECONDS", 10, minimum=0.1)
        lease = _number(get, "CLAIM_LEASE_SECONDS", 120, minimum=1)
        budget = _number(get, "RETRY_BUDGET_SECONDS", 45, minimum=0)
        one_call = connect_timeout(timeout) + timeout
        if lease <= budget + one_call:
            raise ConfigurationError(
                f"CLAIM_LEASE_SECONDS ({lease:g}) must exceed RETRY_BUDGET_SECONDS ({budget:g}) plus one call's "
                f"connect and read timeout ({one_call:g}, from HTTP_TIMEOUT_SECONDS), so a live claim never expires.",
                setting="CLAIM_LEASE_SECONDS",
            )
        verify_delay = _number(get, "VERIFY_DELAY_SECONDS", 120, minimum=1)
        if verify_delay <= timeout:
            raise ConfigurationError(
                f"VERIFY_DELAY_SECONDS ({verify_delay:g}) must exceed HTTP_TIMEOUT_SECONDS ({timeout:g}), so a "
                "create Adobe commits late is visible to the verify.",
                setting="VERIFY_DELAY_SECONDS",
            )
        return cls(
            key_vault_url=_service_url(required("KEY_VAULT_URL"), "KEY_VAULT_URL"),
            storage=_storage(get),
            azure_client_id=_identity_client_id(get),
            use_managed_identity=get("IDENTITY_ENDPOINT") is not None or get("MSI_ENDPOINT") is not None,
            default_sandbox=sandbox,
            ims_url=_service_url(get("ADOBE_IMS_URL", "https://ims-na1.adobelogin.com") or "", "ADOBE_IMS_URL"),
            platform_url=_service_url(
                get("ADOBE_PLATFORM_URL", "https://platform.adobe.io") or "", "ADOBE_PLATFORM_URL"
            ),
            scopes=get("ADOBE_SCOPES", DEFAULT_SCOPES) or "",
            client_id_secret=_secret_name(get("ADOBE_CLIENT_ID_SECRET", "adobe-client-id"), "ADOBE_CLIENT_ID_SECRET"),
            client_secret_secret=_secret_name(
                get("ADOBE_CLIENT_SECRET_SECRET", "adobe-client-secret"), "ADOBE_CLIENT_SECRET_SECRET"
            ),
            org_id_secret=_secret_name(get("ADOBE_ORG_ID_SECRET", "adobe-org-id"), "ADOBE_ORG_ID_SECRET"),
            sas_secret_template=sas_template,
            aad_secret_template=aad_template,
            connections_table=table,
            dataflows_table=dataflows_table,
            dataflow_dataset_id=dataset,
            dataflow_data_type=_choice(get, "DATAFLOW_DATA_TYPE", ("xdm", "raw")),
            dataflow_consumer_group=consumer_group,
            dataflow_reset=_choice(get, "DATAFLOW_RESET", ("earliest", "latest")),
            resource_manager_url=_service_url(
                get("AZURE_RESOURCE_MANAGER_URL", "https://management.azure.com") or "", "AZURE_RESOURCE_MANAGER_URL"
            ),
            reconcile_delete=_flag(get, "RECONCILE_DELETE"),
            reconcile_max_delete=_count(get, "RECONCILE_MAX_DELETE", 10),
            reconcile_gone_grace_seconds=_number(get, "RECONCILE_GONE_GRACE_SECONDS", 900, minimum=0),
            hub_visible_after_seconds=_number(get, "HUB_VISIBLE_AFTER_SECONDS", 300, minimum=0),
            events_queue=events_queue,
            secret_cache_seconds=_number(get, "SECRET_CACHE_SECONDS", 300, minimum=0),
            delete_connection_on_namespace_delete=_flag(get, "DELETE_CONNECTION_ON_NAMESPACE_DELETE"),
            http_timeout_seconds=timeout,
            retry_budget_seconds=budget,
            claim_lease_seconds=lease,
            claim_wait_seconds=_number(get, "CLAIM_WAIT_SECONDS", 10, minimum=0),
            verify_after_seconds=_number(get, "VERIFY_AFTER_SECONDS", 3600, minimum=0),
            verify_delay_seconds=verify_delay,
            subscription_ids=_subscriptions(get("AZURE_SUBSCRIPTION_IDS")),
            ca_bundle=_ca_bundle(get),
            telemetry=_telemetry(get),
            health=_health(get),
        )


def connect_timeout(read_timeout: float) -> float:
    """The connect timeout that goes with a read timeout: a few seconds at most."""
    return min(3.05, read_timeout)


_GUID: Final = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def _subscriptions(value: str | None) -> frozenset[str]:
    if value is None:
        return frozenset()
    ids = [part.strip() for part in value.split(",") if part.strip()]
    bad = [part for part in ids if not _GUID.fullmatch(part)]
    if bad or not ids:
        raise ConfigurationError(
            "AZURE_SUBSCRIPTION_IDS must be a comma-separated list of subscription ids (GUIDs)"
            + (f"; {json.dumps(bad[0][:40])} is not one." if bad else "."),
            setting="AZURE_SUBSCRIPTION_IDS",
        )
    return frozenset(part.lower() for part in ids)


def _ca_bundle(get: _Getter) -> str | None:
    """CONNECTOR_CA_BUNDLE (the app's own: no machine exports it), else REQUESTS_CA_BUNDLE, else None (certifi)."""
    own = get("CONNECTOR_CA_BUNDLE")
    if own is None:
        return get("REQUESTS_CA_BUNDLE")
    if not os.path.isfile(own):
        raise ConfigurationError(
            f"CONNECTOR_CA_BUNDLE must name a PEM file of trusted CA certificates; {json.dumps(own[:200])} is not a "
            "file.",
            setting="CONNECTOR_CA_BUNDLE",
        )
    return own


def _identity_client_id(get: _Getter) -> str | None:
    """CONNECTOR_IDENTITY_CLIENT_ID (``system``: the system-assigned identity), else AZURE_CLIENT_ID."""
    own = get("CONNECTOR_IDENTITY_CLIENT_ID")
    if own is None:
        return get("AZURE_CLIENT_ID")
    if own.lower() == "system":
        return None
    if not _GUID.fullmatch(own):
        raise ConfigurationError(
            "CONNECTOR_IDENTITY_CLIENT_ID must be a managed identity's client id (a GUID) or system.",
            setting="CONNECTOR_IDENTITY_CLIENT_ID",
        )
    return own


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _service_url(value: str, setting: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(f"{setting} must be an absolute https URL.", setting=setting)
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigurationError(
            f"{setting} must use https (plain http is allowed only on a loopback host).", setting=setting
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(f"{setting} must not have a query or fragment.", setting=setting)
    return value.rstrip("/")


def _template(value: str | None, setting: str) -> str:
    template = value or ""
    try:
        sample = template.format(namespace="contoso-ns")
    except (KeyError, IndexError, ValueError):
        sample = ""
    if template.count("{namespace}") != 1 or not _SECRET_NAME.fullmatch(sample):
        raise ConfigurationError(
            f"{setting} must contain {{namespace}} exactly once and otherwise only letters, digits and hyphens.",
            setting=setting,
        )
    return template


def _prefix(template: str) -> str:
    return template.split("{namespace}", 1)[0]


def _secret_name(value: str | None, setting: str) -> str:
    if value is None or not _SECRET_NAME.fullmatch(value):
        raise ConfigurationError(
            f"{setting} must be a Key Vault secret name: 1 to 127 letters, digits and hyphens.", setting=setting
        )
    return value


class _Getter(Protocol):
    def __call__(self, name: str, default: str | None = None) -> str | None: ...


def _count(get: _Getter, setting: str, default: int) -> int:
    raw = get(setting)
    if raw is None:
        return default
    if not raw.strip().isdigit():
        raise ConfigurationError(f"{setting} must be a whole number >= 0.", setting=setting)
    return int(raw)


def _number(
    get: _Getter, setting: str, default: float, *, minimum: float, maximum: float = float("inf"), unit: str = "seconds"
) -> float:
    raw = get(setting)
    if raw is None:
        return float(default)
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not minimum <= value <= maximum or value == float("inf"):
        bound = f" and <= {maximum:g}" if maximum != float("inf") else ""
        raise ConfigurationError(f"{setting} must be a number of {unit} >= {minimum:g}{bound}.", setting=setting)
    return value


def _health(get: _Getter) -> HealthSettings:
    window = _number(get, "HEALTH_WINDOW_MINUTES", 180, minimum=60, maximum=10080, unit="minutes")
    lag = _number(get, "HEALTH_LAG_MINUTES", 60, minimum=0, maximum=1440, unit="minutes")
    if lag >= window:
        raise ConfigurationError(
            f"HEALTH_LAG_MINUTES ({lag:g}) must be less than HEALTH_WINDOW_MINUTES ({window:g}): the hub's "
            "messages are compared with Adobe's count over the window less the lag.",
            setting="HEALTH_LAG_MINUTES",
        )
    return HealthSettings(
        window_minutes=window,
        lag_minutes=lag,
        max_failed_ratio=_number(get, "HEALTH_MAX_FAILED_RATIO", 0.005, minimum=0, maximum=1, unit="records (a ratio)"),
        reenable=_flag(get, "HEALTH_REENABLE"),
        io_events_key_url=_service_url(
            get("ADOBE_IO_EVENTS_KEY_URL", "https://static.adobeioevents.com") or "", "ADOBE_IO_EVENTS_KEY_URL"
        ),
    )


def _table(get: _Getter, setting: str, default: str) -> str:
    table = get(setting, default) or ""
    if not _TABLE_NAME.fullmatch(table):
        raise ConfigurationError(
            f"{setting} must be a table name: 3 to 63 letters and digits, starting with a letter.", setting=setting
        )
    return table


def _choice(get: _Getter, setting: str, choices: tuple[str, ...]) -> str:
    value = (get(setting, choices[0]) or "").lower()
    if value not in choices:
        raise ConfigurationError(f"{setting} must be one of {', '.join(choices)}.", setting=setting)
    return value


def _flag(get: _Getter, setting: str) -> bool:
    raw = (get(setting) or "").lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigurationError(f"{setting} must be true or false.", setting=setting)


def _telemetry(get: _Getter) -> TelemetrySettings | None:
    """Off without APPLICATIONINSIGHTS_CONNECTION_STRING, and with OpenTelemetry's OTEL_SDK_DISABLED=true."""
    connection = get("APPLICATIONINSIGHTS_CONNECTION_STRING")
    if connection is None or _flag(get, "OTEL_SDK_DISABLED"):
        return None
    fields = dict(part.split("=", 1) for part in connection.split(";") if "=" in part)
    key = fields.get("InstrumentationKey")
    if not key:
        raise ConfigurationError(
            "APPLICATIONINSIGHTS_CONNECTION_STRING must be an Application Insights connection string "
            "(InstrumentationKey=...;IngestionEndpoint=...).",
            setting="APPLICATIONINSIGHTS_CONNECTION_STRING",
        )
    register_secret(key)
    return TelemetrySettings(
        Secret(connection, scrubbed=False), _flag(get, "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY")
    )


def _storage(get: _Getter) -> StorageSettings:
    connection = get("AzureWebJobsStorage")
    client_id = get("AzureWebJobsStorage__clientId")
    if connection is not None:
        if connection.replace(" ", "").lower().startswith("usedevelopmentstorage=true"):
            connection = (
                "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
                "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
                "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
            )
        _check_storage_connection_string(connection)
        return StorageSettings(connection_string=Secret(connection, scrubbed=False))
    account = get("AzureWebJobsStorage__accountName")
    table_uri = get("AzureWebJobsStorage__tableServiceUri")
    queue_uri = get("AzureWebJobsStorage__queueServiceUri")
    if account is None and table_uri is None:
        raise ConfigurationError(
            "The app setting AzureWebJobsStorage is required (a connection string, or "
            "AzureWebJobsStorage__accountName for an identity-based connection).",
            setting="AzureWebJobsStorage",
        )
    table_endpoint = (
        _service_url(table_uri, "AzureWebJobsStorage__tableServiceUri")
        if table_uri
        else f"https://{account}.table.core.windows.net"
    )
    queue_endpoint = (
        _service_url(queue_uri, "AzureWebJobsStorage__queueServiceUri")
        if queue_uri
        else (f"https://{account}.queue.core.windows.net" if account else None)
    )
    return StorageSettings(None, table_endpoint, queue_endpoint, client_id)


def _check_storage_connection_string(connection: str) -> None:
    """A storage connection string: its keys are registered as secrets, its endpoints must be https."""
    pairs = {}
    for part in connection.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            pairs[name.strip().lower()] = value.strip()
    if not pairs:
        raise ConfigurationError(
            "AzureWebJobsStorage must be a storage connection string.", setting="AzureWebJobsStorage"
        )
    for secret_part in ("accountkey", "sharedaccesssignature"):
        if pairs.get(secret_part):
            register_secret(pairs[secret_part])
    endpoints = [pairs[k] for k in ("tableendpoint", "queueendpoint", "blobendpoint") if pairs.get(k)]
    for endpoint in endpoints:
        _service_url(endpoint, "AzureWebJobsStorage")
    if not endpoints and pairs.setdefault("defaultendpointsprotocol", "https").lower() != "https":
        raise ConfigurationError(
            "AzureWebJobsStorage must use https (DefaultEndpointsProtocol=https); plain http is allowed only for "
            "endpoints on a loopback host.",
            setting="AzureWebJobsStorage",
        )
