"""Builds the real clients once per worker, lazily, from the settings."""

from __future__ import annotations

import gc
import logging
import os
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import telemetry
from .adobe import AdobeClient
from .clock import Clock
from .credentials import forget_adobe_credentials, load_adobe_credentials
from .dataflow_records import DataflowRecord, dataflow_store
from .dataflows import DataflowService
from .inventory import ResourceGraphInventory
from .models import ConnectionRecord
from .notifications import CountedEvents, EventPublisher, NoEvents, QueueEventPublisher
from .reconcile import Reconciler
from .records import TableRecordStore, connection_store, storage_errors
from .requestqueue import REQUESTS_QUEUE, RequestQueue
from .retry import Deadline, Retrier, RetryPolicy
from .rotation import SecretEvents
from .secrets import KeyVaultSecrets
from .service import ConnectionService
from .settings import Settings

if TYPE_CHECKING:  # built on first use: a worker that never checks health does not import them
    from .health import HealthChecker
    from .ioevents import IOEventsVerifier

# The SDKs' HTTP logging policy prints request and response headers at INFO: keep it quiet.
for _name in ("azure.core.pipeline.policies.http_logging_policy", "azure.identity", "urllib3"):
    logging.getLogger(_name).setLevel(logging.WARNING)


@dataclass
class Runtime:
    """The settings and the service built on the real clients."""

    settings: Settings
    service: ConnectionService
    dataflows: DataflowService
    secrets: KeyVaultSecrets
    adobe: AdobeClient
    records: TableRecordStore[ConnectionRecord]
    events: EventPublisher
    verifies: RequestQueue
    secret_events: SecretEvents
    credential: Any = None
    clock: Clock | None = None
    retrier: Retrier | None = None
    _reconciler: Reconciler | None = None
    _health: HealthChecker | None = None
    _io_events: IOEventsVerifier | None = None

    def reconciler(self) -> Reconciler:
        """The reconcile pass, built on first use (the Resource Graph client is imported only here)."""
        with _lock:
            if self._reconciler is None:
                assert self.clock is not None and self.retrier is not None
                self._reconciler = Reconciler(
                    self.settings,
                    inventory=ResourceGraphInventory(_resource_graph(self.settings, self.credential), self.retrier),
                    connections=self.service,
                    dataflows=self.dataflows,
                    records=self.records,
                    adobe=self.adobe,
                    requests=self.verifies,
                    clock=self.clock,
                )
            return self._reconciler

    def health(self) -> HealthChecker:
        """The health checks of dataflows, built on first use (the metrics client is made only here)."""
        with _lock:
            if self._health is None:
                self._health = _health_checker(self)
            return self._health

    def io_events(self) -> IOEventsVerifier:
        """The verifier of Adobe I/O Events deliveries (public keys from ADOBE_IO_EVENTS_KEY_URL only)."""
        with _lock:
            if self._io_events is None:
                self._io_events = _io_events_verifier(self.settings)
            return self._io_events


def _health_checker(runtime: Runtime) -> HealthChecker:
    from .adobe.runs import FlowMonitor
    from .health import HealthChecker
    from .hubmetrics import MonitorHubTraffic, monitor_client

    settings = runtime.settings
    assert runtime.clock is not None and runtime.retrier is not None
    client: list[Any] = []

    def make() -> Any:
        if not client:
            timeouts = (settings.connect_timeout_seconds, settings.http_timeout_seconds)
            scope = settings.resource_manager_scope
            client.append(
                monitor_client(settings.resource_manager_url, runtime.credential, scope, settings.ca_bundle, timeouts)
            )
        return client[0]

    adobe = runtime.adobe

    def connection_verifies(record: DataflowRecord, deadline: Deadline) -> bool:
        """The dataflow's base connection is still in Adobe (a repair never enables a flow without one)."""
        if not record.connection_id:
            return False
        return adobe.get_connection(record.key.sandbox, record.connection_id, deadline) is not None

    return HealthChecker(
        settings,
        dataflows=runtime.dataflows.records,
        connections=runtime.records,
        adobe=FlowMonitor(adobe.transport),
        hubs=MonitorHubTraffic(make, settings.resource_manager_url, runtime.retrier),
        events=runtime.events,
        clock=runtime.clock,
        connection_verifies=connection_verifies,
    )


def _io_events_verifier(settings: Settings) -> IOEventsVerifier:
    import requests

    from .ioevents import IOEventsVerifier

    session = requests.Session()
    session.trust_env = False
    if settings.ca_bundle:
        session.verify = settings.ca_bundle
    timeout = (settings.connect_timeout_seconds, settings.http_timeout_seconds)
    return IOEventsVerifier(
        settings.health.io_events_key_url,
        fetch=lambda url: _fetch_key(session, url, timeout),
        monotonic=time.monotonic,
    )


def _fetch_key(session: Any, url: str, timeout: tuple[float, float]) -> bytes | None:
    import requests

    try:
        response = session.get(url, timeout=timeout, allow_redirects=False)
    except requests.exceptions.RequestException:
        return None
    return bytes(response.content) if response.status_code == 200 else None


def build_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    """Construct the credential, SecretClient, requests.Session and TableClient, and the service on them."""
    import requests
    from azure.data.tables import TableServiceClient
    from azure.keyvault.secrets import SecretClient

    telemetry.configure(settings)  # off (nothing imported) without APPLICATIONINSIGHTS_CONNECTION_STRING
    credential = _credential(settings)
    # use_env_settings=False: no proxy/.netrc lookups in os.environ on every call (the Adobe session
    # has trust_env=False for the same reason); TLS trust comes from REQUESTS_CA_BUNDLE explicitly.
    common: dict[str, Any] = {"retry_total": 0, "logging_enable": False, "use_env_settings": False}
    if settings.ca_bundle:
        common["connection_verify"] = settings.ca_bundle
    clock = clock or Clock(now=lambda: datetime.now(UTC), monotonic=time.monotonic, sleep=time.sleep)
    retrier = Retrier(
        RetryPolicy(), monotonic=time.monotonic, wall_clock=clock.now, sleep=time.sleep, jitter=random.random
    )
    secret_client = SecretClient(
        settings.key_vault_url,
        credential,
        verify_challenge_resource=not settings.key_vault_is_emulator,
        connection_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.http_timeout_seconds,
        **common,
    )
    secrets = KeyVaultSecrets(
        secret_client,
        vault_url=settings.key_vault_url,
        ttl=settings.secret_cache_seconds,
        retrier=retrier,
        monotonic=time.monotonic,
    )

    storage_kwargs: dict[str, Any] = {
        "retry_total": 2,
        "retry_backoff_factor": 0.2,
        "retry_backoff_max": 2,
        "connection_timeout": settings.connect_timeout_seconds,
        "read_timeout": settings.http_timeout_seconds,
        "logging_enable": False,
        "use_env_settings": False,
    }
    if settings.storage.connection_string is not None:
        tables = TableServiceClient.from_connection_string(
            settings.storage.connection_string.reveal(), **storage_kwargs
        )
    else:
        assert settings.storage.table_endpoint is not None
        tables = TableServiceClient(
            settings.storage.table_endpoint, credential=_storage_credential(settings, credential), **storage_kwargs
        )
    records = connection_store(tables.get_table_client(settings.connections_table))
    records.ensure_table()

    published: EventPublisher = NoEvents()
    if settings.events_queue:
        published = QueueEventPublisher(_queue(settings, settings.events_queue, credential, storage_kwargs))
    events = CountedEvents(published)
    verifies = RequestQueue(lambda: _queue(settings, REQUESTS_QUEUE, credential, storage_kwargs, create=False))

    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.trust_env = False  # no proxies or .netrc from the environment; TLS trust is explicit
    if settings.ca_bundle:
        session.verify = settings.ca_bundle
    adobe = AdobeClient(
        session,
        ims_url=settings.ims_url,
        platform_url=settings.platform_url,
        scopes=settings.scopes,
        credentials=lambda deadline: load_adobe_credentials(secrets, settings, deadline),
        retrier=retrier,
        timeout=settings.http_timeout_seconds,
        connect_timeout=settings.connect_timeout_seconds,
        monotonic=time.monotonic,
        on_refused=lambda: forget_adobe_credentials(secrets, settings),
    )
    service = ConnectionService(
        settings, secrets=secrets, adobe=adobe, records=records, events=events, verifies=verifies, clock=clock
    )
    dataflows = DataflowService(
        settings,
        connections=service,
        adobe=adobe,
        records=dataflow_store(tables.get_table_client(settings.dataflows_table)),
        events=events,
        verifies=verifies,
        clock=clock,
    )
    secret_events = SecretEvents(service, dataflows)
    return Runtime(
        settings,
        service,
        dataflows,
        secrets,
        adobe,
        records,
        events,
        verifies,
        secret_events,
        credential,
        clock,
        retrier,
    )


def _resource_graph(settings: Settings, credential: Any) -> Any:
    """A factory of the Resource Graph client (built on first call)."""
    client: list[Any] = []

    def make() -> Any:
        if not client:
            from azure.mgmt.resourcegraph import ResourceGraphClient

            kwargs: dict[str, Any] = {"retry_total": 0, "logging_enable": False}
            if settings.ca_bundle:
                kwargs["connection_verify"] = settings.ca_bundle
            client.append(
                ResourceGraphClient(
                    credential,
                    base_url=settings.resource_manager_url,
                    credential_scopes=[settings.resource_manager_scope],
                    **kwargs,
                )
            )
        return client[0]

    return make


def _credential(settings: Settings) -> Any:
    if settings.use_managed_identity:
        from azure.identity import ManagedIdentityCredential

        return (
            ManagedIdentityCredential(client_id=settings.azure_client_id)
            if settings.azure_client_id
            else ManagedIdentityCredential()
        )
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(exclude_managed_identity_credential=True)


def _storage_credential(settings: Settings, default: Any) -> Any:
    if settings.storage.client_id and settings.use_managed_identity:
        from azure.identity import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=settings.storage.client_id)
    return default


def _queue(settings: Settings, name: str, credential: Any, kwargs: dict[str, Any], *, create: bool = True) -> Any:
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.queue import QueueClient

    if settings.storage.connection_string is not None:
        queue = QueueClient.from_connection_string(settings.storage.connection_string.reveal(), name, **kwargs)
    else:
        assert settings.storage.queue_endpoint is not None
        queue = QueueClient(
            settings.storage.queue_endpoint, name, credential=_storage_credential(settings, credential), **kwargs
        )
    if create:
        try:
            with storage_errors():
                queue.create_queue()
        except ResourceExistsError:
            pass
    return queue


_lock = threading.Lock()
_runtime: Runtime | None = None


def get_runtime(environ: Mapping[str, str] | None = None, *, clock: Clock | None = None) -> Runtime:
    """The worker's runtime, built on first use (with `clock`, when given: the system's otherwise). Raises
    ConfigurationError for a bad setting."""
    global _runtime
    if _runtime is not None:
        return _runtime
    with _lock:
        if _runtime is None:
            settings = Settings.from_env(os.environ if environ is None else environ)
            # The clients built here live as long as the worker: build them without collector
            # passes (a fifth of a cold start) and move them out of the collector's way.
            gc.disable()
            try:
                _runtime = build_runtime(settings, clock)
            finally:
                gc.freeze()
                gc.enable()
        return _runtime


def reset_runtime() -> None:
    """Forget the worker's runtime (tests, and after a settings change)."""
    global _runtime
    with _lock:
        _runtime = None
