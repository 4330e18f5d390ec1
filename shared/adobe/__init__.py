"""Adobe: IMS tokens and the Flow Service API."""

from .client import (
    EVENT_HUBS_SPEC_ID,
    AdobeApi,
    AdobeClient,
    AdobeConnection,
    ConnectionMissing,
    Dataset,
    connection_body,
    is_unknown_auth_spec,
)
from .ims import AdobeCredentials

__all__ = [
    "EVENT_HUBS_SPEC_ID",
    "AdobeApi",
    "AdobeClient",
    "AdobeConnection",
    "AdobeCredentials",
    "ConnectionMissing",
    "Dataset",
    "connection_body",
    "is_unknown_auth_spec",
]
