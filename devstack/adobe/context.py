"""What a Platform resource module may read from the stand-in (implemented by ``AdobeStandIn``).

Values are read per request, so a test that changes ``create_status`` or ``page_size`` on the
stand-in changes the next answer.
"""

from __future__ import annotations

from typing import Protocol

from devstack.adobe.specs import AuthSpecs
from devstack.adobe.state import Store

__all__ = ["PlatformContext"]


class PlatformContext(Protocol):
    """The shared state and knobs of the Platform stand-in."""

    @property
    def client_id(self) -> str:
        """The API key / IMS client id (``createdClient`` of new objects)."""

    @property
    def org_id(self) -> str:
        """The IMS org (``imsOrgId``)."""

    @property
    def store(self) -> Store:
        """Every Platform object."""

    @property
    def specs(self) -> AuthSpecs:
        """The auth specs of the Event Hubs connection spec."""

    @property
    def page_size(self) -> int:
        """Items per page when a list request has no ``limit``."""

    @property
    def create_status(self) -> int:
        """Status of a successful create."""

    @property
    def create_delay(self) -> float:
        """Seconds a create takes (after validation)."""

    def sleep(self, seconds: float) -> bool:
        """Sleep unless the Platform server stops first (then False)."""

    def next_href(self, root: str, relative: str) -> str:
        """``_links.next.href`` for ``relative`` (``/connections?...``) under a service root."""
