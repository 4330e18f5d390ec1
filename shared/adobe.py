"""Adobe IMS token cache and the Flow Service client (create, find by name, get, patch, delete)."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from .authspecs import choose_auth_spec
from .errors import AdobeAuthenticationFailed, AdobeErrorInfo, AdobeRejected, DependencyUnavailable
from .retry import CallResult, Deadline, Decision, Failure, Retrier
from .sensitive import REDACTED, Secret

if TYPE_CHECKING:
    import requests

EVENT_HUBS_SPEC_ID: Final = "bf9f5905-92b7-48bf-bf20-455bc6b60a4e"
EVENT_HUBS_SPEC_VERSION: Final = "1.0"
FLOW_SERVICE_PATH: Final = "/data/foundation/flowservice"
_ADOBE_CODE: Final = re.compile(r"\d{3,6}-\d{3}")

log = logging.getLogger("eventhubs_connector")


@dataclass(frozen=True)
class AdobeCredentials:
    """The OAuth server-to-server credential and the org it belongs to."""

    client_id: str
    client_secret: Secret
    org_id: str


@dataclass(frozen=True)
class AdobeConnection:
    """A connection as Flow Service reports it after a create, a lookup or a patch."""

    id: str
    etag: str | None
    request_id: str | None
    created: bool = False


class ConnectionMissing(Exception):
    """The connection is not in Flow Service (deleted by hand): drift to repair."""


class AdobeApi(Protocol):
    """What the service needs from Adobe."""

    calls: int

    def create_connection(
        self, sandbox: str, body: dict[str, Any], *, name: str, lookup_first: bool, deadline: Deadline
    ) -> AdobeConnection:
        """Create the connection; after an uncertain outcome, adopt the one with `name` instead."""
        ...

    def find_by_name(self, sandbox: str, name: str, deadline: Deadline) -> AdobeConnection | None:
        """The oldest Event Hubs connection with exactly this name, or None."""
        ...

    def auth_spec_name(self, sandbox: str, documented: str, params: Iterable[str], deadline: Deadline) -> str:
        """The auth spec name to send for these params."""
        ...

    def get_connection(self, sandbox: str, connection_id: str, deadline: Deadline) -> AdobeConnection | None:
        """The connection by id, or None."""
        ...

    def update_auth_params(
        self, sandbox: str, connection_id: str, etag: str, params: dict[str, Any], deadline: Deadline
    ) -> AdobeConnection:
        """Replace the connection's auth params (If-Match)."""
        ...

    def delete_connection(self, sandbox: str, connection_id: str, deadline: Deadline) -> bool:
        """Delete the connection."""
        ...


def connection_body(name: str, description: str, spec_name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The JSON body of `POST /connections` for the Event Hubs source."""
    return {
        "name": name,
        "description": description,
        "auth": {"specName": spec_name, "params": params},
        "connectionSpec": {"id": EVENT_HUBS_SPEC_ID, "version": EVENT_HUBS_SPEC_VERSION},
    }


class _TokenCache:
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


class AdobeClient:
    """Talks to IMS and Flow Service with one pooled `requests.Session` per worker."""

    def __init__(
        self,
        session: requests.Session,
        *,
        ims_url: str,
        platform_url: str,
        scopes: str,
        credentials: Callable[[Deadline], AdobeCredentials],
        retrier: Retrier,
        timeout: float,
        monotonic: Callable[[], float],
        on_refused: Callable[[], None] = lambda: None,
    ) -> None:
        self._session = session
        self._on_refused = on_refused
        self._ims_url = ims_url
        self._flow_url = platform_url + FLOW_SERVICE_PATH
        self._scopes = scopes
        self._credentials = credentials
        self._retrier = retrier
        self._timeout = (min(3.05, timeout), timeout)
        self._tokens = _TokenCache(monotonic)
        self._spec_document: dict[str, Any] | None = None
        self._spec_lock = threading.Lock()
        self.calls = 0  # Flow Service round trips
        self.token_requests = 0  # IMS round trips

    # -- IMS -------------------------------------------------------------------------------------

    def _fetch_token(self, creds: AdobeCredentials, deadline: Deadline) -> tuple[Secret, float]:
        def once() -> tuple[CallResult, requests.Response | None]:
            self.token_requests += 1
            return self._send(
                "POST",
                self._ims_url + "/ims/token/v3",
                data={
                    "grant_type": "client_credentials",
                    "client_id": creds.client_id,
                    "client_secret": creds.client_secret.reveal(),
                    "scope": self._scopes,
                },
            )

        response = self._retrier.call(once, dependency="Adobe IMS", deadline=deadline)
        assert response is not None
        info = _error_info(response)
        if response.status_code >= 400:
            self._on_refused()  # a corrected client secret must be read again, not reused from the cache
            raise AdobeAuthenticationFailed(
                f"Adobe IMS refused the OAuth client ({info.code or 'no code'}): check the "
                "adobe-client-id and adobe-client-secret secrets.",
                adobe=info,
            )
        try:
            body = response.json()
            token, lifetime = str(body["access_token"]), float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise DependencyUnavailable("Adobe IMS answered without an access token.", dependency="Adobe IMS") from None
        return Secret(token), lifetime

    def _token(self, creds: AdobeCredentials, deadline: Deadline) -> Secret:
        return self._tokens.get(creds, lambda: self._fetch_token(creds, deadline))

    # -- transport -------------------------------------------------------------------------------

    def _send(self, method: str, url: str, **kwargs: Any) -> tuple[CallResult, requests.Response | None]:
        import requests

        try:
            response = self._session.request(method, url, timeout=self._timeout, allow_redirects=False, **kwargs)
        except (requests.exceptions.ConnectTimeout, requests.exceptions.InvalidURL):
            return CallResult(failure=Failure.NOT_SENT), None
        except requests.exceptions.ConnectionError as err:
            return CallResult(failure=_connection_failure(err)), None
        except requests.exceptions.RequestException:
            return CallResult(failure=Failure.UNCERTAIN), None
        return CallResult(status=response.status_code, retry_after=response.headers.get("Retry-After")), response

    def _flow_once(
        self, method: str, path: str, sandbox: str, deadline: Deadline, **kwargs: Any
    ) -> tuple[CallResult, requests.Response | None]:
        """One Flow Service attempt; a 401 refreshes the token once and repeats at once."""
        creds = self._credentials(deadline)
        extra_headers = kwargs.pop("headers", {})
        for refreshed in (False, True):
            token = self._token(creds, deadline)
            headers = {
                "Authorization": f"Bearer {token.reveal()}",
                "x-api-key": creds.client_id,
                "x-gw-ims-org-id": creds.org_id,
                "x-sandbox-name": sandbox,
                "Accept": "application/json",
                **extra_headers,
            }
            self.calls += 1
            result, response = self._send(method, self._flow_url + path, headers=headers, **kwargs)
            if result.status == 401 and not refreshed:
                self._tokens.invalidate(token)
                continue
            return result, response
        raise AssertionError("unreachable")

    def _flow(
        self, method: str, path: str, sandbox: str, deadline: Deadline, *, ok: Iterable[int], **kwargs: Any
    ) -> requests.Response:
        response = self._retrier.call(
            lambda: self._flow_once(method, path, sandbox, deadline, **dict(kwargs)),
            dependency="Adobe Flow Service",
            deadline=deadline,
        )
        assert response is not None
        if response.status_code not in ok:
            raise _rejected(response, f"{method} {path.split('?')[0]}")
        return response

    # -- Flow Service ----------------------------------------------------------------------------

    def create_connection(
        self, sandbox: str, body: dict[str, Any], *, name: str, lookup_first: bool, deadline: Deadline
    ) -> AdobeConnection:
        state = {"lookup": lookup_first, "uncertain": False}

        def once() -> tuple[CallResult, AdobeConnection | None]:
            if state["lookup"]:
                found = self.find_by_name(sandbox, name, deadline)
                if found is not None:
                    return CallResult(status=200), found
            result, response = self._flow_once(
                "POST", "/connections", sandbox, deadline, json=body, headers={"Content-Type": "application/json"}
            )
            state["uncertain"] = state["uncertain"] or result.outcome_unknown
            if response is None or response.status_code != 201:
                if (
                    response is not None
                    and result.status not in (408, 429)
                    and result.status is not None
                    and result.status < 500
                ):
                    raise _rejected(response, "POST /connections", secrets=_secret_values(body))
                return result, None
            data = _json(response)
            return result, AdobeConnection(
                id=str(data.get("id")), etag=_opt_str(data.get("etag")), request_id=_request_id(response), created=True
            )

        def before_retry(decision: Decision) -> None:
            state["lookup"] = decision.lookup_first

        try:
            connection = self._retrier.call(
                once, dependency="Adobe Flow Service", deadline=deadline, idempotent=False, before_retry=before_retry
            )
        except DependencyUnavailable as err:
            err.outcome_unknown = state["uncertain"]
            raise
        assert connection is not None
        return connection

    def auth_spec_name(self, sandbox: str, documented: str, params: Iterable[str], deadline: Deadline) -> str:
        """The auth spec name Flow Service uses today for these params (spec read once per worker).

        Best effort: the read gets a third of the remaining budget; when Adobe refuses it the
        documented names are used for the rest of the worker's life, when it is unavailable
        they are used for this call and the read is tried again next time.
        """
        with self._spec_lock:
            if self._spec_document is None:
                try:
                    path = f"/connectionSpecs/{EVENT_HUBS_SPEC_ID}"
                    response = self._flow("GET", path, sandbox, deadline.share(1 / 3), ok=(200,))
                    items = _json(response).get("items") or []
                    self._spec_document = items[0] if items and isinstance(items[0], dict) else {}
                except AdobeAuthenticationFailed:
                    raise
                except (AdobeRejected, DependencyUnavailable) as err:
                    log.warning("could not read the Event Hubs connection spec (%s); using documented names", err.code)
                    if isinstance(err, AdobeRejected):
                        self._spec_document = {}
                    return documented
        return choose_auth_spec(self._spec_document, params, documented)

    def get_connection(self, sandbox: str, connection_id: str, deadline: Deadline) -> AdobeConnection | None:
        """The connection with this id (its current etag), or None when Flow Service has none."""
        response = self._flow("GET", f"/connections/{connection_id}", sandbox, deadline, ok=(200, 404))
        if response.status_code == 404:
            return None
        items = _json(response).get("items") or []
        if not items or not isinstance(items[0], dict):
            return None
        return AdobeConnection(id=connection_id, etag=_opt_str(items[0].get("etag")), request_id=_request_id(response))

    def update_auth_params(
        self, sandbox: str, connection_id: str, etag: str, params: dict[str, Any], deadline: Deadline
    ) -> AdobeConnection:
        """PATCH the connection's /auth/params with If-Match; on a stale etag re-read it and retry once.

        Raises ConnectionMissing when the connection no longer exists in Adobe.
        """
        body = [{"op": "replace", "path": "/auth/params", "value": params}]
        secrets = _secret_values({"auth": {"params": params}})
        for attempt in (1, 2):
            response = self._flow(
                "PATCH",
                f"/connections/{connection_id}",
                sandbox,
                deadline,
                ok=(200, 404, 412),
                json=body,
                headers={"Content-Type": "application/json", "If-Match": etag},
            )
            if response.status_code == 200:
                data = _json(response)
                return AdobeConnection(
                    id=connection_id, etag=_opt_str(data.get("etag")), request_id=_request_id(response)
                )
            if response.status_code == 404:
                raise ConnectionMissing(connection_id)
            if attempt == 2:
                break
            current = self.get_connection(sandbox, connection_id, deadline)  # 412: someone changed it
            if current is None:
                raise ConnectionMissing(connection_id)
            etag = current.etag or etag
        raise _rejected(response, f"PATCH /connections/{connection_id}", secrets=secrets)

    def delete_connection(self, sandbox: str, connection_id: str, deadline: Deadline) -> bool:
        """DELETE the connection; False when it was already gone. Raises AdobeRejected (e.g. 1418-400 in use)."""
        response = self._flow("DELETE", f"/connections/{connection_id}", sandbox, deadline, ok=(200, 202, 204, 404))
        return response.status_code != 404

    def find_by_name(self, sandbox: str, name: str, deadline: Deadline) -> AdobeConnection | None:
        response = self._flow(
            "GET",
            "/connections",
            sandbox,
            deadline,
            ok=(200,),
            params=[("property", f"connectionSpec.id=={EVENT_HUBS_SPEC_ID}"), ("property", f"name=={name}")],
        )
        items = [i for i in _json(response).get("items") or [] if isinstance(i, dict) and i.get("name") == name]
        if not items:
            return None
        oldest = min(items, key=lambda i: (i.get("createdAt") or 0, str(i.get("id"))))
        return AdobeConnection(
            id=str(oldest.get("id")), etag=_opt_str(oldest.get("etag")), request_id=_request_id(response)
        )


def _connection_failure(err: Exception) -> Failure:
    """Connection refused or DNS failure: never sent. Anything else (reset, dropped): uncertain."""
    text = repr(err.args[0] if err.args else err)
    if "NewConnectionError" in text or "NameResolutionError" in text or "ConnectTimeout" in text:
        return Failure.NOT_SENT
    return Failure.UNCERTAIN


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _request_id(response: requests.Response) -> str | None:
    return response.headers.get("x-request-id") or response.headers.get("X-Request-Id")


def _secret_values(body: dict[str, Any]) -> list[str]:
    params = (body.get("auth") or {}).get("params") or {}
    return [str(v) for k, v in params.items() if k in ("sasKey", "clientSecretValue") and v]


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def _error_info(response: requests.Response) -> AdobeErrorInfo:
    body = _json(response)
    code = body.get("error_code") or body.get("code") or body.get("error")
    if code is None and isinstance(body.get("type"), str):
        match = _ADOBE_CODE.search(body["type"])
        code = match.group(0) if match else body["type"].rsplit("/", 1)[-1]
    return AdobeErrorInfo(status=response.status_code, code=_opt_str(code), request_id=_request_id(response))


def _error_message(response: requests.Response) -> str:
    body = _json(response)
    report = body.get("report")
    candidates = {**{f"report.{k}": v for k, v in (report.items() if isinstance(report, dict) else ())}, **body}
    for key in ("message", "detail", "report.detailedMessage", "report.message", "title", "error_description"):
        value = candidates.get(key)
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())[:300]
    return f"HTTP {response.status_code}"


def _rejected(response: requests.Response, what: str, secrets: Iterable[str] = ()) -> AdobeRejected:
    info = _error_info(response)
    message = _scrub(_error_message(response), secrets)
    cls = AdobeAuthenticationFailed if response.status_code == 401 else AdobeRejected
    return cls(f"Adobe Flow Service refused {what} ({info.code or response.status_code}): {message}", adobe=info)
