"""What to check when a dependency is unavailable: the endpoint, the setting that names it, and, for an
endpoint on this machine, whether the local stack runs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from shared.errors import ConfigurationError
from shared.settings import Settings, is_loopback

LOCAL_STACK = "is `python -m devstack serve` running?"


def _endpoints(settings: Settings) -> dict[str, tuple[str, str | None]]:
    """dependency (as DependencyUnavailable names it) -> (setting, URL)."""
    storage = settings.storage
    table = storage.table_endpoint
    if storage.connection_string is not None:
        fields = dict(part.split("=", 1) for part in storage.connection_string.reveal().split(";") if "=" in part)
        table = fields.get("TableEndpoint") or (f"https://{fields.get('AccountName')}.table.core.windows.net")
    return {
        "Adobe Flow Service": ("ADOBE_PLATFORM_URL", settings.platform_url),
        "Adobe IMS": ("ADOBE_IMS_URL", settings.ims_url),
        "Key Vault": ("KEY_VAULT_URL", settings.key_vault_url),
        "Azure Resource Graph": ("AZURE_RESOURCE_MANAGER_URL", settings.resource_manager_url),
        "Table storage": ("AzureWebJobsStorage", table),
        "managed identity": ("IDENTITY_ENDPOINT", os.environ.get("IDENTITY_ENDPOINT")),
    }


def dependency_hint(dependency: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """`hint: <dependency> at <URL> (<SETTING>)[; is devstack serve running?]`, or None when unknown."""
    if not dependency:
        return None
    try:
        settings = Settings.from_env(os.environ if env is None else env)
    except ConfigurationError:
        return None
    setting, url = _endpoints(settings).get(dependency, (None, None))
    if setting is None:
        return None
    where = f"{dependency} at {url} ({setting})" if url else f"{dependency} ({setting})"
    local = url is not None and is_loopback(urlsplit(url).hostname or "")
    return f"hint: check {where}" + (f"; {LOCAL_STACK}" if local else "")
