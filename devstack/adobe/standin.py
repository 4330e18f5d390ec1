"""``AdobeStandIn``: the IMS and Platform servers, their shared state and the control API.

The Platform server checks every request at the gateway (:mod:`devstack.adobe.gateway`), then
dispatches it through the routing table that each resource module contributes to: under Flow
Service (:data:`FLOW_SERVICE_PATH`) :mod:`~devstack.adobe.connections`, :mod:`~devstack.adobe.specs`,
:mod:`~devstack.adobe.explore`, :mod:`~devstack.adobe.sources`, :mod:`~devstack.adobe.targets`,
:mod:`~devstack.adobe.flows`, :mod:`~devstack.adobe.flowactions`, :mod:`~devstack.adobe.runs`; under
Catalog (:data:`CATALOG_PATH`) :mod:`~devstack.adobe.catalog`; under Observability Insights
:mod:`~devstack.adobe.observability`.
A path under no mounted root is the gateway's 404 ``404000``. A new resource is a new module whose
``routes()`` is mounted in :meth:`AdobeStandIn.__init__`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from devstack.adobe.catalog import CATALOG_PATH, Datasets
from devstack.adobe.connections import Connections
from devstack.adobe.explore import Explore
from devstack.adobe.flowactions import FlowActions
from devstack.adobe.flows import Flows
from devstack.adobe.gateway import ErrorStyle, check_headers, gateway_error
from devstack.adobe.ims import TokenIssuer, handle_token_request
from devstack.adobe.observability import OBSERVABILITY_PATH, Observability
from devstack.adobe.ratelimit import RateLimit
from devstack.adobe.routing import Call, Router
from devstack.adobe.runs import Runs
from devstack.adobe.servers import FLOW_SERVICE_PATH, AdobeServer, ServerPair
from devstack.adobe.sources import SourceConnections
from devstack.adobe.specs import SAS_SPEC, AuthSpecs, AuthSpecTable
from devstack.adobe.state import Store
from devstack.adobe.targets import TargetConnections
from devstack.faults import RecordedRequest
from devstack.httpbase import Response

__all__ = ["CATALOG_PATH", "FLOW_SERVICE_PATH", "AdobeStandIn", "NextLinkStyle"]

NextLinkStyle = Literal["absolute", "path", "relative"]


class AdobeStandIn(ServerPair):
    """Adobe IMS and Platform (Flow Service, Catalog) stand-ins sharing state, for one org and client.

    ``token_lifetime`` is the ``expires_in`` of issued tokens (seconds); ``create_delay`` makes
    every ``POST /connections`` slow (seconds, after validation); ``sandboxes`` are the sandbox
    names that exist; ``auth_specs`` maps auth spec name to (required, optional) params (default
    :data:`~devstack.adobe.specs.DEFAULT_AUTH_SPECS`). ``next_link_style`` is the form of
    ``_links.next.href``: an absolute URL, a path from the host, or a path relative to the service
    root (``/connections?...``).

    Worst-case knobs (``reset()`` restores the defaults): ``error_style`` (``"problem"``,
    ``"report"`` or ``"message"``, see :mod:`devstack.adobe.gateway`); ``echo_request_in_errors``
    (4xx service errors quote the request body, secrets included); ``page_size`` (items per page
    without ``limit``); ``create_status`` (201, or e.g. 200/202, for a successful create). They
    apply to every Flow Service route (connections, explore, source and target connections,
    flows) and Catalog alike; ``create_delay`` only to ``POST /connections``.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        org_id: str,
        *,
        token_lifetime: int = 86399,
        create_delay: float = 0.0,
        sandboxes: Iterable[str] = ("prod",),
        auth_specs: Mapping[str, tuple[Sequence[str], Sequence[str]]] | None = None,
        next_link_style: NextLinkStyle = "absolute",
        host: str = "127.0.0.1",
        ims_port: int = 0,
        platform_port: int = 0,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.org_id = org_id
        self.create_delay = create_delay
        self.next_link_style: NextLinkStyle = next_link_style
        self.error_style: ErrorStyle = "problem"
        self.echo_request_in_errors = False
        self.page_size = 100
        self.create_status = 201
        self.latency = 0.0  # seconds added to every Platform answer (IMS: ``ims.latency``)
        self.create_rate: RateLimit | None = None  # see limit_creates()
        self.store = Store()
        self.specs = AuthSpecs(auth_specs)
        self.tokens = TokenIssuer(token_lifetime)
        self._sandboxes: set[str] = set(sandboxes)
        self._initial_sandboxes = set(self._sandboxes)
        self._initial_create_delay = create_delay
        self._datasets = Datasets(self)
        self._explore = Explore(self)
        self._sources = SourceConnections(self)
        self._targets = TargetConnections(self, self._datasets)
        self._flows = Flows(self)
        self._connections = Connections(self, in_use=self._flows.uses_base_connection)
        self.runs = Runs(self)
        self.flow_actions = FlowActions(self)
        self.observability = Observability()
        self.router = Router()
        self.router.mount(
            FLOW_SERVICE_PATH,
            [
                *self._connections.routes(),
                *self.specs.routes(),
                *self._explore.routes(),
                *self._sources.routes(),
                *self._targets.routes(),
                *self._flows.routes(),
                *self.flow_actions.routes(),
                *self.runs.routes(),
            ],
        )
        self.router.mount(CATALOG_PATH, self._datasets.routes())
        self.router.mount(OBSERVABILITY_PATH, self.observability.routes())
        self.ims = AdobeServer("adobe-ims", self._handle_ims, host=host, port=ims_port)
        self.platform = AdobeServer("adobe-platform", self._handle_platform, host=host, port=platform_port)

    # -- addresses ----------------------------------------------------------------------------

    def next_href(self, root: str, relative: str) -> str:
        """``_links.next.href`` for ``relative`` under a service root, in ``next_link_style``."""
        if self.next_link_style == "relative":
            return relative
        if self.next_link_style == "path":
            return root + relative
        return self.platform_url + root + relative

    def sleep(self, seconds: float) -> bool:
        """Sleep unless the Platform server stops first (then False)."""
        return self.platform.sleep(seconds)

    def reset(self) -> None:
        """Back to the constructor's state except issued tokens, ``token_lifetime`` and
        ``next_link_style``: no objects (connections, datasets, source and target connections,
        flows), event hubs, explore refusals, faults or recordings; default error style, echo, page
        size and create status."""
        with self.store.lock:
            self.store.clear()
            self._sandboxes = set(self._initial_sandboxes)
        self._explore.reset()
        self.observability.reset()
        self.specs.reset()
        self.create_delay = self._initial_create_delay
        self._default_knobs()
        self.clear_faults()
        self.reset_recording()

    def _default_knobs(self) -> None:
        self.error_style = "problem"
        self.echo_request_in_errors = False
        self.page_size = 100
        self.create_status = 201
        self.latency = 0.0
        self.ims.latency = 0.0
        self.create_rate = None

    def limit_creates(self, per_second: float, burst: float | None = None) -> RateLimit:
        """Answer creates (POST of any Flow Service object) beyond `per_second` with 429 and Retry-After."""
        self.create_rate = RateLimit(per_second, burst)
        return self.create_rate

    # -- tokens --------------------------------------------------------------------------------

    @property
    def token_lifetime(self) -> int:
        """``expires_in`` of tokens issued from now on (seconds)."""
        return self.tokens.lifetime

    @token_lifetime.setter
    def token_lifetime(self, value: int) -> None:
        self.tokens.lifetime = value

    def issue_token(self) -> str:
        """Issue a token directly (as a successful IMS call would)."""
        return self.tokens.issue()

    def is_valid_token(self, token: str) -> bool:
        """Whether a token was issued here and is neither expired nor revoked."""
        return self.tokens.is_valid(token)

    def expire_all_tokens(self) -> None:
        """Invalidate every token issued so far: Platform answers 401 ``401013`` to them."""
        self.tokens.expire_all()

    @property
    def issued_tokens(self) -> list[str]:
        """Every access token issued so far."""
        return self.tokens.issued

    # -- sandboxes and auth specs --------------------------------------------------------------

    def add_sandbox(self, name: str) -> None:
        """Make a sandbox exist."""
        with self.store.lock:
            self._sandboxes.add(name)

    def remove_sandbox(self, name: str) -> None:
        """Make a sandbox unknown (404 ``2100-404``)."""
        with self.store.lock:
            self._sandboxes.discard(name)

    @property
    def sandboxes(self) -> set[str]:
        """The sandbox names that exist."""
        with self.store.lock:
            return set(self._sandboxes)

    @property
    def auth_specs(self) -> AuthSpecTable:
        """Auth spec name -> (required params, optional params)."""
        return self.specs.snapshot()

    def rename_auth_spec(self, old: str, new: str) -> None:
        """Serve an auth spec under another name (e.g. the SAS spec as ``Basic Authentication for Event Hubs``)."""
        self.specs.rename(old, new)

    def set_auth_specs(self, auth_specs: Mapping[str, tuple[Sequence[str], Sequence[str]]]) -> None:
        """Replace the auth spec table."""
        self.specs.replace(auth_specs)

    def spec_document(self) -> dict[str, Any]:
        """The Azure Event Hubs connection spec as ``GET /connectionSpecs/{id}`` returns it."""
        return self.specs.document()

    # -- connections ---------------------------------------------------------------------------

    def connections(self, sandbox: str = "prod") -> list[dict[str, Any]]:
        """The connections of a sandbox, oldest first, unmasked (auth params included)."""
        return self._connections.documents(sandbox)

    def connection(self, connection_id: str) -> dict[str, Any] | None:
        """One connection (any sandbox), unmasked, or None."""
        return self._connections.document(connection_id)

    def seed_connection(
        self,
        name: str,
        params: Mapping[str, str],
        *,
        spec_name: str = SAS_SPEC,
        sandbox: str = "prod",
        description: str | None = None,
    ) -> dict[str, Any]:
        """Create a connection directly (no validation), as if made earlier; returns it."""
        record = self._connections.store(sandbox, name, params, spec_name=spec_name, description=description)
        return record.snapshot()

    def mark_in_use(self, connection_id: str, in_use: bool = True) -> None:
        """Mark a connection as used by dataflows (its DELETE then fails with ``1418-400``)."""
        self._connections.mark_in_use(connection_id, in_use)

    def delete_all(self) -> None:
        """Delete every connection in every sandbox."""
        self.store.clear("connections")

    # -- event hubs, datasets and dataflows ----------------------------------------------------

    @property
    def catalog_url(self) -> str:
        """``{platform_url}/data/foundation/catalog``."""
        return self.platform_url + CATALOG_PATH

    def set_event_hubs(self, namespace: str, hubs: list[str]) -> None:
        """The event hubs explore lists for connections whose ``auth.params.namespace`` is
        ``namespace`` (a scoped connection, with ``eventHubName``, lists only its own hub)."""
        self._explore.set_event_hubs(namespace, hubs)

    def refuse_explore(self, namespace: str, status: int = 400) -> None:
        """Make explore of that namespace's connections fail (``1401-<status>``), as with a SAS
        rule without Manage rights."""
        self._explore.refuse(namespace, status)

    def add_dataset(
        self, name: str, *, sandbox: str = "prod", schema_id: str | None = None, dataset_id: str | None = None
    ) -> str:
        """Make a Catalog dataset exist; returns its id. ``schema_id`` None generates an XDM schema
        id, ``""`` makes a dataset without schema (target connection creates then refuse it)."""
        return self._datasets.add(name, sandbox=sandbox, schema_id=schema_id, dataset_id=dataset_id)

    def datasets(self, sandbox: str | None = "prod") -> list[dict[str, Any]]:
        """The datasets of a sandbox (every sandbox when None), oldest first, each with its ``id``."""
        return self._datasets.documents(sandbox)

    def source_connections(self, sandbox: str = "prod") -> list[dict[str, Any]]:
        """The source connections of a sandbox, oldest first."""
        return self._sources.documents(sandbox)

    def target_connections(self, sandbox: str = "prod") -> list[dict[str, Any]]:
        """The target connections of a sandbox, oldest first."""
        return self._targets.documents(sandbox)

    def flows(self, sandbox: str = "prod") -> list[dict[str, Any]]:
        """The flows of a sandbox, oldest first."""
        return self._flows.documents(sandbox)

    def seed_flow(
        self,
        name: str,
        *,
        sandbox: str = "prod",
        source_connection_id: str | None = None,
        target_connection_id: str | None = None,
    ) -> dict[str, Any]:
        """Create a flow directly (no validation, no source or target needed), as if made earlier; returns it
        (``enabled``). For a benchmark's thousand flows, whose health is read, not how they were made."""
        body: dict[str, Any] = {
            "name": name,
            "sourceConnectionIds": [source_connection_id or str(uuid.uuid4())],
            "targetConnectionIds": [target_connection_id or str(uuid.uuid4())],
        }
        return self._flows.store(sandbox, body).snapshot()

    # -- dataflow health -----------------------------------------------------------------------

    def add_run(self, flow_id: str, **fields: Any) -> dict[str, Any]:
        """Record a run of a flow (see :meth:`devstack.adobe.runs.Runs.add`); returns it."""
        return self.runs.add(flow_id, **fields)

    def set_flow_state(self, flow_id: str, state: str) -> None:
        """``enabled`` or ``disabled`` (as Adobe's auto-disable of a flow that keeps failing)."""
        self.flow_actions.set_state(flow_id, state)

    def add_dataset_records(self, dataset_id: str, count: int, at: datetime | None = None) -> None:
        """Records that reached a dataset, as Observability Insights counts them."""
        self.observability.add_records(dataset_id, count, at)

    # -- request handling ----------------------------------------------------------------------

    def _handle_ims(self, request: RecordedRequest) -> Response:
        return handle_token_request(
            request, client_id=self.client_id, client_secret=self.client_secret, issuer=self.tokens
        )

    def _handle_platform(self, request: RecordedRequest) -> Response:
        if self.router.root_for(request.path) is None:
            return gateway_error(404, "404000", "Resource not found")
        style = self.error_style
        denied = check_headers(
            request,
            token_is_valid=self.tokens.is_valid,
            api_key=self.client_id,
            org_id=self.org_id,
            sandboxes=self.sandboxes,
            style=style,
        )
        if denied is not None:
            return denied
        if self.latency > 0 and not self.sleep(self.latency):
            return gateway_error(503, "503000", "Service is shutting down")
        limit = self.create_rate
        if limit is not None and request.method == "POST":
            wait = limit.take()
            if wait > 0:
                return Response.json(
                    429,
                    {"error_code": "429050", "message": "Too many requests"},
                    {"Retry-After": RateLimit.retry_after(wait)},
                )
        call = Call(request, request.headers["x-sandbox-name"], style=style, echo=self.echo_request_in_errors)
        return self.router.dispatch(call)
