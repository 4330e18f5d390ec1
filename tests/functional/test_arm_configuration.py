"""Resource Manager failures only an operator can fix, through the real clients the app builds: Resource Graph
(`azure-mgmt-resourcegraph`) and Azure Monitor (azure-core's pipeline). A certificate nobody trusts, or an
identity refused, is a 500 ConfigurationError naming AZURE_RESOURCE_MANAGER_URL at once, never a retried 503."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from azure.mgmt.resourcegraph import ResourceGraphClient

from devstack.resourcegraph import DEFAULT_SUBSCRIPTION, ResourceGraphStandIn
from shared.errors import ConfigurationError
from shared.hubmetrics import MonitorHubTraffic, monitor_client
from shared.inventory import ResourceGraphInventory
from shared.retry import Retrier, RetryPolicy

pytestmark = pytest.mark.timeout(60)
SCOPE = "https://management.azure.com/.default"
NAMESPACE_ID = f"/subscriptions/{DEFAULT_SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.EventHub/namespaces/ns1"


class Token:
    """A credential that always has a token (the stand-in's TLS fails before it is sent)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("token", int(time.time()) + 3600)


class Refused:
    """A credential Entra ID refuses (the identity is not allowed)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        raise ClientAuthenticationError("ManagedIdentityCredential authentication unavailable")


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ResourceGraphStandIn]:
    with ResourceGraphStandIn(None, cert_dir=tmp_path_factory.mktemp("arm-ca")) as server:
        yield server


def retrier() -> Retrier:
    slept: list[float] = []
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.01)
    return Retrier(
        policy, monotonic=time.monotonic, wall_clock=lambda: datetime.now(UTC), sleep=slept.append, jitter=random.random
    )


def inventory(graph: ResourceGraphStandIn, credential: Any, ca_bundle: Path | None) -> ResourceGraphInventory:
    kwargs: dict[str, Any] = {"retry_total": 0, "logging_enable": False}
    if ca_bundle is not None:
        kwargs["connection_verify"] = str(ca_bundle)
    client = ResourceGraphClient(credential, base_url=graph.base_url, credential_scopes=[SCOPE], **kwargs)
    return ResourceGraphInventory(lambda: client, retrier())


def traffic(graph: ResourceGraphStandIn, credential: Any, ca_bundle: Path | None) -> MonitorHubTraffic:
    client = monitor_client(graph.base_url, credential, SCOPE, str(ca_bundle) if ca_bundle else None, (2.0, 5.0))
    return MonitorHubTraffic(lambda: client, graph.base_url, retrier())


def read_metrics(hubs: MonitorHubTraffic) -> None:
    end = datetime.now(UTC)
    hubs.incoming_messages(NAMESPACE_ID, end - timedelta(hours=3), end, retrier().deadline(10))


def test_a_resource_graph_certificate_nobody_trusts_names_the_setting(graph: ResourceGraphStandIn) -> None:
    listing = inventory(graph, Token(), ca_bundle=None)
    with pytest.raises(ConfigurationError, match="TLS certificate of Azure Resource Manager") as raised:
        listing.list([DEFAULT_SUBSCRIPTION], retrier().deadline(10))
    assert raised.value.setting == "AZURE_RESOURCE_MANAGER_URL"


def test_a_refused_identity_for_resource_graph_names_the_setting(graph: ResourceGraphStandIn) -> None:
    listing = inventory(graph, Refused(), ca_bundle=graph.ca_bundle_path)
    with pytest.raises(ConfigurationError, match="refused the app's identity; check") as raised:
        listing.list([DEFAULT_SUBSCRIPTION], retrier().deadline(10))
    assert raised.value.setting == "AZURE_RESOURCE_MANAGER_URL"


def test_a_monitor_certificate_nobody_trusts_names_the_setting(graph: ResourceGraphStandIn) -> None:
    with pytest.raises(ConfigurationError, match="TLS certificate of Azure Resource Manager") as raised:
        read_metrics(traffic(graph, Token(), ca_bundle=None))
    assert raised.value.setting == "AZURE_RESOURCE_MANAGER_URL"


def test_a_refused_identity_for_metrics_names_the_setting(graph: ResourceGraphStandIn) -> None:
    hubs = traffic(graph, Refused(), ca_bundle=graph.ca_bundle_path)
    with pytest.raises(ConfigurationError, match="refused the app's identity for metrics") as raised:
        read_metrics(hubs)
    assert raised.value.setting == "AZURE_RESOURCE_MANAGER_URL" and hubs.calls == 1
