"""Adobe IMS: the OAuth server-to-server token, cached per worker."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from ..sensitive import Secret, refuse_pickling


@dataclass(frozen=True)
class AdobeCredentials:
    """The OAuth server-to-server credential and the org it belongs to."""

    client_id: str
    client_secret: Secret
    org_id: str

    def __reduce__(self) -> tuple[object, ...]:
        refuse_pickling(self)


class TokenCache:
    """One IMS token per worker, reused until shortly before it expires (single flight)."""

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._token: Secret | None = None
        self._valid_until = 0.0
        self._owner: tuple[str, Secret] | None = None

    def get(self, creds: AdobeCredentials, fetch: Callable[[], tuple[Secret, float]]) -> Secret:
        with self._lock:
            owner = (creds.client_id, creds.client_secret)
            if self._token is not None and self._owner == owner and self._monotonic() < self._valid_until:
                return self._token
            started = self._monotonic()
            token, lifetime = fetch()
            margin = min(300.0, lifetime * 0.1)
            self._token, self._valid_until, self._owner = token, started + lifetime - margin, owner
            return token

    def invalidate(self, token: Secret) -> None:
        with self._lock:
            if self._token == token:
                self._token = None
