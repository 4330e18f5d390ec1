"""One pooled session to IMS and the Platform gateway: retries, token refresh, TLS, paging."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urljoin, urlsplit

from .. import telemetry
from ..errors import AdobeAuthenticationFailed, ConfigurationError, DependencyUnavailable, InvalidRequest
from ..eventhubs import ADOBE_ID_PATTERN
from ..retry import CallResult, Deadline, Failure, Retrier, parse_retry_after
from ..sensitive import Secret, register_secret
from .errors import error_info, is_token_refusal, json_body, rejected
from .ims import AdobeCredentials, TokenCache
from .throttle import Throttle

if TYPE_CHECKING:
    import requests

MAX_PAGES: Final = 50


def checked_id(value: object, *, source: str) -> str:
    """An Adobe id safe to put in a URL path (letters, digits, hyphens), or ConfigurationError."""
    if isinstance(value, str) and ADOBE_ID_PATTERN.fullmatch(value):
        return value
    if source == "request":
        raise InvalidRequest("The id must be letters, digits and hyphens.", field="datasetId")
    if source == "storage":
        raise ConfigurationError(
            "A record in the CONNECTIONS_TABLE table holds an id that is not an Adobe id (letters, digits and "
            "hyphens only): the row may have been edited by hand; fix or delete it.",
            setting="CONNECTIONS_TABLE",
        )
    raise DependencyUnavailable("Adobe answered with an id that is not an Adobe id.", dependency="Adobe Flow Service")


class Transport:
    """Sends IMS and Platform requests with one `requests.Session`; the Platform headers are added here."""

    def __init__(
        self,
        session: requests.Session,
        *,
        ims_url: str,
        platform_url: str,
        scopes: str,
        credentials: Callable[[Deadline], AdobeCredentials],
        retrier: Retrier,
        timeout: tuple[float, float],
        monotonic: Callable[[], float],
        on_refused: Callable[[], None],
    ) -> None:
        self._session = session
        self._ims_url = ims_url
        self.platform_url = platform_url
        self._platform_host = urlsplit(platform_url).netloc
        self._scopes = scopes
        self._credentials = credentials
        self.retrier = retrier
        self._timeout = timeout
        self._tokens = TokenCache(monotonic)
        self._on_refused = on_refused
        self._throttle = Throttle(
            retrier.monotonic, retrier.sleep, retrier.jitter, max_wait=retrier.policy.max_retry_after
        )
        self.calls = 0  # Platform round trips
        self.token_requests = 0  # IMS round trips

    # -- one attempt -----------------------------------------------------------------------------

    def send(
        self, method: str, url: str, deadline: Deadline, setting: str, **kwargs: Any
    ) -> tuple[CallResult, requests.Response | None]:
        """One attempt; never started once the invocation's budget is spent."""

        if deadline.expired():
            return CallResult(failure=Failure.NOT_SENT), None
        parts = urlsplit(url)
        with telemetry.span(
            f"Adobe {method} {_route(parts.path)}",
            {"http.request.method": method, "server.address": parts.hostname, "url.path": parts.path},
        ) as span:
            result, response = self._attempt(method, url, setting, **kwargs)
            if response is not None:
                request_id = response.headers.get("x-request-id")
                span.set("http.response.status_code", response.status_code)
                span.set("adobe.request_id", request_id)
                telemetry.note_adobe_request(request_id, decisive=method != "GET" or response.status_code >= 400)
            else:
                span.set("error.type", result.failure.name if result.failure else None)
        return result, response

    def _attempt(
        self, method: str, url: str, setting: str, **kwargs: Any
    ) -> tuple[CallResult, requests.Response | None]:
        import requests

        try:
            response = self._session.request(method, url, timeout=self._timeout, allow_redirects=False, **kwargs)
        except requests.exceptions.SSLError:
            raise ConfigurationError(
                f"The TLS certificate of {urlsplit(url).netloc} could not be verified: check {setting} "
                "(and CONNECTOR_CA_BUNDLE or REQUESTS_CA_BUNDLE for a private CA).",
                setting=setting,
            ) from None
        except (requests.exceptions.ConnectTimeout, requests.exceptions.InvalidURL):
            return CallResult(failure=Failure.NOT_SENT), None
        except requests.exceptions.ConnectionError as err:
            return CallResult(failure=_connection_failure(err)), None
        except requests.exceptions.RequestException:
            return CallResult(failure=Failure.UNCERTAIN), None
        return CallResult(status=response.status_code, retry_after=response.headers.get("Retry-After")), response

    # -- IMS -------------------------------------------------------------------------------------

    def _fetch_token(self, creds: AdobeCredentials, deadline: Deadline) -> tuple[Secret, float]:
        def once() -> tuple[CallResult, requests.Response | None]:
            self.token_requests += 1
            form = {
                "grant_type": "client_credentials",
                "client_id": creds.client_id,
                "client_secret": creds.client_secret.reveal(),
                "scope": self._scopes,
            }
            return self.send("POST", self._ims_url + "/ims/token/v3", deadline, "ADOBE_IMS_URL", data=form)

        response = self.retrier.call(once, dependency="Adobe IMS", deadline=deadline)
        assert response is not None
        if response.status_code >= 400:
            self._on_refused()  # a corrected client secret must be read again, not reused from the cache
            info = error_info(response)
            raise AdobeAuthenticationFailed(
                f"Adobe IMS refused the OAuth client ({info.code or 'no code'}): check the "
                "adobe-client-id and adobe-client-secret secrets.",
                adobe=info,
            )
        body = json_body(response)
        token, lifetime = body.get("access_token"), body.get("expires_in", 3600)
        if not isinstance(token, str) or not token or not isinstance(lifetime, int | float):
            raise DependencyUnavailable("Adobe IMS answered without an access token.", dependency="Adobe IMS")
        return Secret(token), float(lifetime)

    # -- Platform --------------------------------------------------------------------------------

    def platform_once(
        self, method: str, url: str, sandbox: str, deadline: Deadline, **kwargs: Any
    ) -> tuple[CallResult, requests.Response | None]:
        """One Platform attempt; a refused token (401, or 403 403010) is refreshed once and repeated at once."""
        creds = self._credentials(deadline)
        extra_headers = kwargs.pop("headers", {})
        kind = f"{method} {_route(urlsplit(url).path)}"
        owed = self._throttle.wait(kind, deadline)
        if owed > 0:  # Adobe asked this worker to wait longer than the invocation has left: nothing is sent
            return CallResult(status=429, retry_after=str(math.ceil(owed))), None
        try:
            return self._platform_sends(method, url, sandbox, deadline, creds, kind, extra_headers, **kwargs)
        finally:
            self._throttle.release(kind)

    def _platform_sends(
        self,
        method: str,
        url: str,
        sandbox: str,
        deadline: Deadline,
        creds: AdobeCredentials,
        kind: str,
        extra_headers: dict[str, str],
        **kwargs: Any,
    ) -> tuple[CallResult, requests.Response | None]:
        """The sends of one attempt (two when the token is refused), each answer told to the throttle."""
        for refreshed in (False, True):
            token = self._tokens.get(creds, lambda: self._fetch_token(creds, deadline))
            register_secret(token.reveal())  # in use: the scrubber keeps it among the recently used
            headers = {
                "Authorization": f"Bearer {token.reveal()}",
                "x-api-key": creds.client_id,
                "x-gw-ims-org-id": creds.org_id,
                "x-sandbox-name": sandbox,
                "Accept": "application/json",
                **extra_headers,
            }
            self.calls += 1
            sent_at = self.retrier.monotonic()
            result, response = self.send(method, url, deadline, "ADOBE_PLATFORM_URL", headers=headers, **kwargs)
            if response is not None and not refreshed and is_token_refusal(response):
                self._tokens.invalidate(token)
                continue
            if response is not None and response.status_code == 429:
                retry_after = parse_retry_after(result.retry_after, self.retrier.wall_clock())
                self._throttle.refused(kind, retry_after, sent_at)
            elif response is not None:
                self._throttle.accepted(kind)
            return result, response
        raise AssertionError("unreachable")

    def platform(
        self, method: str, url: str, sandbox: str, deadline: Deadline, *, ok: Iterable[int], **kwargs: Any
    ) -> requests.Response:
        """An idempotent Platform call, retried by the one policy; a status outside `ok` is AdobeRejected."""
        response = self.retrier.call(
            lambda: self.platform_once(method, url, sandbox, deadline, **dict(kwargs)),
            dependency="Adobe Flow Service",
            deadline=deadline,
        )
        assert response is not None
        if response.status_code not in ok:
            raise rejected(response, f"{method} {urlsplit(url).path.rsplit('/data/foundation', 1)[-1]}")
        return response

    def pages(
        self, url: str, sandbox: str, deadline: Deadline, params: list[tuple[str, str]], max_pages: int = MAX_PAGES
    ) -> Iterator[dict[str, Any]]:
        """Every item of a list, following `_links.next.href` (at most MAX_PAGES pages, same host only)."""
        next_url: str | None = url
        query: list[tuple[str, str]] | None = params
        for _ in range(max_pages):
            assert next_url is not None
            response = self.platform("GET", next_url, sandbox, deadline, ok=(200,), params=query)
            body = json_body(response)
            yield from (item for item in body.get("items") or [] if isinstance(item, dict))
            href = ((body.get("_links") or {}).get("next") or {}).get("href")
            if not isinstance(href, str) or not href:
                return
            next_url, query = self._follow(url, href), None
        raise DependencyUnavailable(
            f"Adobe Flow Service listed more than {max_pages} pages; narrow the filter.",
            dependency="Adobe Flow Service",
        )

    def _follow(self, list_url: str, href: str) -> str:
        """A next link as absolute URL: absolute, host-relative, or relative to the Flow Service root."""
        if href.startswith("/") and not href.startswith("/data/"):
            resolved = list_url.rsplit("/", 1)[0] + href
        else:
            resolved = urljoin(self.platform_url + "/", href)
        if urlsplit(resolved).netloc != self._platform_host:
            raise DependencyUnavailable(
                "Adobe's next-page link points at another host.", dependency="Adobe Flow Service"
            )
        return resolved


def _route(path: str) -> str:
    """A span name's path: ids (segments with a digit, 16 characters or more) as {id}."""
    return "/".join("{id}" if len(part) >= 16 and any(c.isdigit() for c in part) else part for part in path.split("/"))


def _connection_failure(err: Exception) -> Failure:
    """Connection refused or DNS failure: never sent. Anything else (reset, dropped): uncertain."""
    text = repr(err.args[0] if err.args else err)
    if "NewConnectionError" in text or "NameResolutionError" in text or "ConnectTimeout" in text:
        return Failure.NOT_SENT
    return Failure.UNCERTAIN
