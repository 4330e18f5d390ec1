"""Stand-ins for Adobe IMS (OAuth server-to-server) and the Flow Service API of Experience Platform.

Two HTTP servers share one state: IMS issues opaque bearer tokens for one client id/secret; the
Platform gateway checks the headers of every call the way Adobe's gateway does (token, API key,
org, sandbox) and serves the Azure Event Hubs part of Flow Service: base connections and the
connection spec, explore, and the source connection, target connection and flow of a streaming
dataflow; Catalog serves datasets. Every response has an ``x-request-id`` header and
``Content-Type: application/json``.

Modules, one job each:

- :mod:`~devstack.adobe.standin`: :class:`AdobeStandIn`, the facade (servers, knobs, control API);
- :mod:`~devstack.adobe.servers`: the two HTTP servers, their lifecycle, faults and recordings;
- :mod:`~devstack.adobe.ims`: the token endpoint and the tokens it issues;
- :mod:`~devstack.adobe.gateway`: the gateway's header checks and the error shapes;
- :mod:`~devstack.adobe.routing`: the (method, path pattern) -> handler table and :class:`Call`;
- :mod:`~devstack.adobe.state`: the thread-safe store of objects per kind and sandbox;
- :mod:`~devstack.adobe.paging`: ``property`` filters, ``count``, ``limit``/``continuationToken``;
- :mod:`~devstack.adobe.context`: what resource modules may read from the stand-in;
- :mod:`~devstack.adobe.specs`: the connection spec, its auth specs and ``/connectionSpecs``;
- :mod:`~devstack.adobe.connections`: ``/connections``;
- :mod:`~devstack.adobe.explore`: ``/connections/{id}/explore`` and the event hubs Adobe sees;
- :mod:`~devstack.adobe.flowobjects`: what source/target connections and flows share;
- :mod:`~devstack.adobe.sources`: ``/sourceConnections``;
- :mod:`~devstack.adobe.targets`: ``/targetConnections``;
- :mod:`~devstack.adobe.flows`: ``/flows`` (and the one-flow-per-consumer-group rule);
- :mod:`~devstack.adobe.catalog`: Catalog ``/dataSets/{id}``.

A new resource is a new module with a ``routes()`` list, mounted in ``AdobeStandIn.__init__``.
"""

from devstack.adobe.catalog import CATALOG_PATH
from devstack.adobe.connections import FILTERABLE
from devstack.adobe.flows import FLOW_SPEC_ID
from devstack.adobe.gateway import ERROR_STYLES, ErrorStyle
from devstack.adobe.ims import TOKEN_PATH
from devstack.adobe.servers import FLOW_SERVICE_PATH
from devstack.adobe.specs import (
    AAD_SPEC,
    DEFAULT_AUTH_SPECS,
    EVENTHUBS_PROVIDER_ID,
    EVENTHUBS_SPEC_ID,
    MASK,
    SAS_SPEC,
    SCOPED_AAD_SPEC,
    SECRET_PARAMS,
)
from devstack.adobe.standin import AdobeStandIn, NextLinkStyle
from devstack.adobe.targets import DATA_LAKE_SPEC_ID

__all__ = [
    "AAD_SPEC",
    "CATALOG_PATH",
    "DATA_LAKE_SPEC_ID",
    "DEFAULT_AUTH_SPECS",
    "ERROR_STYLES",
    "EVENTHUBS_PROVIDER_ID",
    "EVENTHUBS_SPEC_ID",
    "FILTERABLE",
    "FLOW_SERVICE_PATH",
    "FLOW_SPEC_ID",
    "MASK",
    "SAS_SPEC",
    "SCOPED_AAD_SPEC",
    "SECRET_PARAMS",
    "TOKEN_PATH",
    "AdobeStandIn",
    "ErrorStyle",
    "NextLinkStyle",
]
