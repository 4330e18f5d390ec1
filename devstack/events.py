"""Builders of Event Grid events (Event Grid schema, as dicts) like the samples in ``tests/events/``.

``namespace_event`` gives the Azure Resource Manager events of an Event Hubs namespace (or of one
event hub in it) as a subscription's system topic delivers them (``ResourceWriteSuccess`` /
``ResourceDeleteSuccess``); ``secret_event`` gives Key Vault's ``SecretNewVersionCreated`` /
``SecretNearExpiry``. Feed them to :func:`devstack.host.event_grid_event`. :func:`as_cloud_event`
gives the same event as a subscription with the CloudEvents 1.0 delivery schema sends it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["as_cloud_event", "format_event_time", "namespace_event", "secret_event"]

DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
TENANT_ID = "00000000-0000-0000-0000-0000000000aa"
CALLER_APP_ID = "00000000-0000-0000-0000-00000000000a"
ARM_API_VERSION = "2024-01-01"


def format_event_time(when: datetime) -> str:
    """``2026-11-26T08:00:00.0000000Z``: UTC, 7 fraction digits, ``Z`` (naive means UTC)."""
    utc = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}0Z"


def namespace_event(
    action: Literal["write", "delete"],
    namespace: str,
    *,
    event_time: datetime,
    subscription_id: str = DEFAULT_SUBSCRIPTION,
    resource_group: str = "rg-telemetry",
    event_hub: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """A ``Microsoft.Resources.Resource{Write,Delete}Success`` event for a namespace, or for the
    event hub ``event_hub`` in it (subject ``.../eventhubs/<hub>``, operation
    ``Microsoft.EventHub/namespaces/eventhubs/write|delete``)."""
    if action not in ("write", "delete"):
        raise ValueError(f"action must be 'write' or 'delete', not {action!r}")
    group = f"/subscriptions/{subscription_id}/resourcegroups/{resource_group}"
    namespace_id = f"{group}/providers/Microsoft.EventHub/namespaces/{namespace}"
    resource = namespace_id if event_hub is None else f"{namespace_id}/eventhubs/{event_hub}"
    operation = "Microsoft.EventHub/namespaces/" + ("" if event_hub is None else "eventhubs/") + action
    return {
        "subject": resource,
        "eventType": "Microsoft.Resources.ResourceWriteSuccess"
        if action == "write"
        else "Microsoft.Resources.ResourceDeleteSuccess",
        "eventTime": format_event_time(event_time),
        "id": event_id or str(uuid.uuid4()),
        "data": {
            "authorization": {
                "scope": namespace_id,
                "action": f"Microsoft.EventHub/namespaces/{action}",
                "evidence": {"role": "Subscription Admin"},
            },
            "claims": {"appid": CALLER_APP_ID},
            "correlationId": str(uuid.uuid4()),
            "httpRequest": {
                "clientRequestId": str(uuid.uuid4()),
                "clientIpAddress": "203.0.113.10",
                "method": "PUT" if action == "write" else "DELETE",
                "url": f"https://management.azure.com{namespace_id}?api-version={ARM_API_VERSION}",
            },
            "resourceProvider": "Microsoft.EventHub",
            "resourceUri": resource,
            "operationName": operation,
            "status": "Succeeded",
            "subscriptionId": subscription_id,
            "tenantId": TENANT_ID,
        },
        "dataVersion": "2",
        "metadataVersion": "1",
        "topic": f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}",
    }


def secret_event(
    secret_name: str,
    *,
    vault_name: str = "contoso-kv",
    version: str | None = None,
    event_time: datetime,
    kind: Literal["new_version", "near_expiry"] = "new_version",
    subscription_id: str = DEFAULT_SUBSCRIPTION,
    resource_group: str = "rg-security",
    event_id: str | None = None,
) -> dict[str, Any]:
    """A Key Vault ``Microsoft.KeyVault.SecretNewVersionCreated`` (or ``SecretNearExpiry``) event
    for ``secret_name`` (version: a random 32-hex id when None)."""
    event_types = {"new_version": "SecretNewVersionCreated", "near_expiry": "SecretNearExpiry"}
    if kind not in event_types:
        raise ValueError(f"kind must be 'new_version' or 'near_expiry', not {kind!r}")
    version = version or uuid.uuid4().hex
    not_before = int(event_time.timestamp())
    return {
        "id": event_id or str(uuid.uuid4()),
        "topic": f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.KeyVault/vaults/{vault_name}",
        "subject": secret_name,
        "eventType": f"Microsoft.KeyVault.{event_types[kind]}",
        "eventTime": format_event_time(event_time),
        "data": {
            "Id": f"https://{vault_name}.vault.azure.net/secrets/{secret_name}/{version}",
            "VaultName": vault_name,
            "ObjectType": "Secret",
            "ObjectName": secret_name,
            "Version": version,
            "NBF": str(not_before),
            "EXP": str(not_before + 365 * 24 * 3600),
        },
        "dataVersion": "1",
        "metadataVersion": "1",
    }


def as_cloud_event(event: dict[str, Any]) -> dict[str, Any]:
    """The Event Grid schema ``event`` in the CloudEvents 1.0 schema, as Event Grid maps it:
    ``topic`` -> ``source`` (for Key Vault the vault's resource id, whose ``subject`` is the secret
    name), ``eventType`` -> ``type``, ``eventTime`` -> ``time``, ``subject``, ``id`` and ``data`` as
    they are; ``dataVersion`` and ``metadataVersion`` have no CloudEvents attribute."""
    cloud: dict[str, Any] = {"specversion": "1.0", "id": event.get("id"), "source": event.get("topic", "")}
    for grid, name in (("subject", "subject"), ("eventType", "type"), ("eventTime", "time")):
        if grid in event:
            cloud[name] = event[grid]
    cloud["datacontenttype"] = "application/json"
    if "data" in event:
        cloud["data"] = event["data"]
    return cloud
