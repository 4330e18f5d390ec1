"""Azure Resource Manager failures only an operator can fix, for each of the app's ARM clients (Resource Graph,
Azure Monitor): the identity refused, or the endpoint's TLS certificate not verified."""

from __future__ import annotations

from .errors import ConfigurationError, is_tls_failure


def configuration_problem(err: BaseException, purpose: str = "") -> ConfigurationError | None:
    """The ConfigurationError (naming AZURE_RESOURCE_MANAGER_URL) for an authentication or TLS failure of a call
    to Resource Manager; None for any other failure (the caller retries it). `purpose` says what was read."""
    from azure.core.exceptions import ClientAuthenticationError

    if isinstance(err, ClientAuthenticationError):
        return ConfigurationError(
            f"Azure Resource Manager refused the app's identity{purpose}; check AZURE_RESOURCE_MANAGER_URL and the "
            "identity.",
            setting="AZURE_RESOURCE_MANAGER_URL",
        )
    if is_tls_failure(err):
        return ConfigurationError(
            "The TLS certificate of Azure Resource Manager could not be verified: check AZURE_RESOURCE_MANAGER_URL "
            "(and REQUESTS_CA_BUNDLE).",
            setting="AZURE_RESOURCE_MANAGER_URL",
        )
    return None
