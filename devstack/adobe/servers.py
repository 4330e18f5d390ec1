"""The two Adobe HTTP servers (IMS and Platform) and what the stand-in exposes of them:
lifecycle, addresses, fault plans and recorded requests (:class:`ServerPair`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Self

from devstack.adobe.ims import TOKEN_PATH
from devstack.faults import FaultPlan, RecordedRequest
from devstack.httpbase import Response, StandInServer
from devstack.lifecycle import StartStop

__all__ = ["FLOW_SERVICE_PATH", "AdobeServer", "ServerPair"]

FLOW_SERVICE_PATH = "/data/foundation/flowservice"


class AdobeServer(StandInServer):
    """One of the two servers; hands every request to a handler of the shared stand-in.

    Every answer has an ``x-request-id`` and a ``Content-Type`` (``application/json`` by default).
    """

    def __init__(self, name: str, handler: Callable[[RecordedRequest], Response], *, host: str, port: int) -> None:
        super().__init__(host=host, port=port, request_ids=True)
        self.name = name
        self._handler = handler

    def handle_request(self, request: RecordedRequest) -> Response:
        return self._handler(request)

    def finalize_response(self, request: RecordedRequest, response: Response) -> Response:
        response = super().finalize_response(request, response)
        if response.header("content-type") is None:
            response.headers["Content-Type"] = "application/json"
        return response


class ServerPair(StartStop):
    """Mixin of :class:`~devstack.adobe.standin.AdobeStandIn`: its ``ims`` and ``platform`` servers."""

    ims: AdobeServer
    platform: AdobeServer

    # -- lifecycle and addresses ---------------------------------------------------------------

    def start(self) -> Self:
        """Start both servers."""
        self.ims.start()
        try:
            self.platform.start()
        except BaseException:
            self.ims.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop both servers (idempotent)."""
        try:
            self.platform.stop()
        finally:
            self.ims.stop()

    @property
    def ims_url(self) -> str:
        """IMS base URL (``ADOBE_IMS_URL``), no trailing slash."""
        return self.ims.base_url

    @property
    def platform_url(self) -> str:
        """Platform gateway base URL (``ADOBE_PLATFORM_URL``), no trailing slash."""
        return self.platform.base_url

    @property
    def flow_service_url(self) -> str:
        """``{platform_url}/data/foundation/flowservice``."""
        return self.platform_url + FLOW_SERVICE_PATH

    # -- faults and recording ------------------------------------------------------------------

    @property
    def faults(self) -> FaultPlan:
        """Fault plan of the Platform server."""
        return self.platform.faults

    @property
    def ims_faults(self) -> FaultPlan:
        """Fault plan of the IMS server."""
        return self.ims.faults

    @property
    def platform_requests(self) -> list[RecordedRequest]:
        """Requests the Platform server received."""
        return self.platform.requests

    @property
    def ims_requests(self) -> list[RecordedRequest]:
        """Requests the IMS server received."""
        return self.ims.requests

    def calls(self, method: str | None = None, path_regex: str | None = None) -> list[RecordedRequest]:
        """Platform requests filtered by method and a regex searched in the path and query."""
        return self.platform.calls(method, path_regex)

    def ims_calls(self, method: str | None = None, path_regex: str | None = None) -> list[RecordedRequest]:
        """IMS requests filtered by method and a regex searched in the path and query."""
        return self.ims.calls(method, path_regex)

    @property
    def token_requests(self) -> list[RecordedRequest]:
        """Every ``POST /ims/token/v3`` received (successful or not)."""
        return self.ims.calls("POST", "^" + TOKEN_PATH)

    @property
    def token_request_count(self) -> int:
        """``len(token_requests)``."""
        return len(self.token_requests)

    def reset_recording(self) -> None:
        """Forget the requests recorded by both servers."""
        self.ims.reset_recording()
        self.platform.reset_recording()

    def clear_faults(self) -> None:
        """Remove every fault from both servers."""
        self.ims.faults.clear()
        self.platform.faults.clear()
