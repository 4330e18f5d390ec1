"""The secret source: Key Vault reads with a per-worker TTL cache, versions tracked."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol
from urllib.parse import urlsplit

from . import telemetry
from .errors import ConfigurationError, DependencyUnavailable, SecretNotFound, is_tls_failure
from .retry import CallResult, Deadline, Failure, Retrier
from .sensitive import Secret

if TYPE_CHECKING:
    from azure.keyvault.secrets import SecretClient


MAX_CACHED_SECRETS: Final = 256


@dataclass(frozen=True)
class SecretValue:
    """One version of a Key Vault secret."""

    name: str
    value: Secret
    version: str | None


class SecretSource(Protocol):
    """Where secrets come from (Key Vault in production)."""

    def get(self, name: str, deadline: Deadline) -> SecretValue:
        """The current value of a secret; raises SecretNotFound, ConfigurationError or DependencyUnavailable."""
        ...

    def invalidate(self, name: str) -> None:
        """Forget a cached value (after a rotation event)."""
        ...


class KeyVaultSecrets:
    """Reads secrets with the real SecretClient, retried by the one policy, cached for `ttl` seconds."""

    def __init__(
        self,
        client: SecretClient,
        *,
        vault_url: str,
        ttl: float,
        retrier: Retrier,
        monotonic: Callable[[], float],
    ) -> None:
        self._client = client
        self._vault_url = vault_url
        self._host = urlsplit(vault_url).hostname or vault_url
        self._ttl = ttl
        self._retrier = retrier
        self._monotonic = monotonic
        # Bounded (LRU): a backfill reads thousands of namespace secrets once; the least recently used go first.
        self._cache: OrderedDict[str, tuple[float, SecretValue]] = OrderedDict()
        self._lock = threading.Lock()
        self.reads = 0  # Key Vault round trips made, for the benchmark's call budget

    def invalidate(self, name: str) -> None:
        with self._lock:
            self._cache.pop(name.lower(), None)

    def get(self, name: str, deadline: Deadline) -> SecretValue:
        cache_key = name.lower()
        now = self._monotonic()
        with self._lock:
            hit = self._cache.get(cache_key)
            if hit is not None and now - hit[0] < self._ttl:
                self._cache.move_to_end(cache_key)  # least recently used first out: the Adobe credential stays
                return hit[1]
        failures: list[str] = []
        try:
            value = self._retrier.call(
                lambda: self._read_once(name, failures), dependency="Key Vault", deadline=deadline
            )
        except DependencyUnavailable as err:
            if failures and failures[-1] == "identity":
                raise DependencyUnavailable(
                    "The app's identity could not get a token for Key Vault (the managed identity endpoint did not "
                    "issue one); if this persists, check that AZURE_CLIENT_ID names an identity assigned to the app.",
                    dependency="managed identity",
                    retry_after=err.retry_after or 30,
                ) from None
            raise
        with self._lock:
            self._cache[cache_key] = (now, value)
            self._cache.move_to_end(cache_key)
            while len(self._cache) > MAX_CACHED_SECRETS:
                self._cache.popitem(last=False)
        return value

    def _read_once(self, name: str, failures: list[str]) -> tuple[CallResult, SecretValue]:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
            ServiceResponseError,
        )

        self.reads += 1
        placeholder = SecretValue(name, Secret("", scrubbed=False), None)
        try:
            with telemetry.span("Key Vault get_secret", {"server.address": self._host, "keyvault.secret_name": name}):
                secret = self._client.get_secret(name)
        except ResourceNotFoundError:
            raise SecretNotFound(
                f"Key Vault secret '{name}' was not found in {self._vault_url}.", secret_name=name
            ) from None
        except ClientAuthenticationError as err:
            if err.status_code in (401, 403):
                raise self._access_denied(name) from None
            if _identity_refused(err):
                raise ConfigurationError(
                    "The managed identity endpoint refused the app's identity (HTTP 400): AZURE_CLIENT_ID must be the "
                    "client id of a user-assigned identity assigned to this app, or unset for the system-assigned one.",
                    setting="AZURE_CLIENT_ID",
                ) from None
            # The credential failed before the vault was asked (the identity endpoint gave no token;
            # azure-identity does not say why): retried, then 503 naming the identity.
            failures.append("identity")
            return CallResult(failure=Failure.NOT_SENT), placeholder
        except HttpResponseError as err:
            if err.status_code in (401, 403):
                raise self._access_denied(name) from None
            retry_after = err.response.headers.get("Retry-After") if err.response is not None else None  # type: ignore[attr-defined]
            return CallResult(status=err.status_code or 500, retry_after=retry_after), placeholder
        except ServiceRequestError as err:
            if is_tls_failure(err):
                raise ConfigurationError(
                    f"The TLS certificate of Key Vault {self._vault_url} could not be verified: check KEY_VAULT_URL "
                    "(and CONNECTOR_CA_BUNDLE or REQUESTS_CA_BUNDLE for a private CA).",
                    setting="KEY_VAULT_URL",
                ) from None
            return CallResult(failure=Failure.NOT_SENT), placeholder
        except ServiceResponseError:
            return CallResult(failure=Failure.UNCERTAIN), placeholder
        if secret.value is None:
            raise SecretNotFound(f"Key Vault secret '{name}' has no value.", secret_name=name)
        return CallResult(status=200), SecretValue(
            name, Secret(secret.value, scrubbed=False), secret.properties.version
        )

    def _access_denied(self, name: str) -> ConfigurationError:
        return ConfigurationError(
            f"Key Vault {self._vault_url} refused the app's identity reading secret '{name}': grant it the "
            "'Key Vault Secrets User' role on the vault (or a 'get' secret access policy).",
            setting="KEY_VAULT_URL",
        )


def _identity_refused(err: Exception) -> bool:
    """The managed identity endpoint answered 400 for the identity asked for (not assigned to the app)."""
    text = str(err)
    return " 400" in text and ("Managed Identity found" in text or "Identity not found" in text)
