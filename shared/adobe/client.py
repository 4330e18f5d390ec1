"""The Flow Service client: create, list by name, get, patch, delete; auth-spec discovery per sandbox."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final, Protocol

from ..authspecs import choose_auth_spec
from ..errors import AdobeAuthenticationFailed, AdobeRejected, ConnectorError, DependencyUnavailable
from ..eventhubs import ADOBE_ID_PATTERN
from ..logs import log
from ..retry import RETRYABLE_STATUSES, CallResult, Deadline, Decision, Failure, Retrier
from ..sensitive import register_secret
from .errors import json_body, rejected, request_id
from .ims import AdobeCredentials
from .transport import Transport, checked_id

if TYPE_CHECKING:
    import requests

EVENT_HUBS_SPEC_ID: Final = "bf9f5905-92b7-48bf-bf20-455bc6b60a4e"
EVENT_HUBS_SPEC_VERSION: Final = "1.0"
FLOW_SERVICE_PATH: Final = "/data/foundation/flowservice"
CATALOG_PATH: Final = "/data/foundation/catalog"
#: How long a connection spec read is reused, and how soon a failed read is tried again.
SPEC_TTL_SECONDS: Final = 3600.0
SPEC_RETRY_SECONDS: Final = 60.0
#: Sandboxes whose spec read one worker keeps (expired reads are dropped on every read).
MAX_CACHED_SPECS: Final = 64
SECRET_PARAMS: Final = ("sasKey", "clientSecretValue")


@dataclass(frozen=True)
class AdobeConnection:
    """An Adobe object as Flow Service reports it after a create, a lookup or a patch."""

    id: str
    etag: str | None
    request_id: str | None
    created: bool = False
    created_at: float = 0.0
    #: Some attempt's outcome was unknown: Adobe may hold a second one (a late commit) until a verify.
    uncertain: bool = False
    #: What a listing showed of the object (secrets masked): its name and content decide its identity.
    content: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str | None:
        name = self.content.get("name")
        return name if isinstance(name, str) else None


@dataclass(frozen=True)
class Dataset:
    """A Platform dataset as Catalog reports it: its schema feeds the target connection."""

    id: str
    name: str
    schema_id: str | None
    schema_version: str | None


class ConnectionMissing(Exception):
    """The object is not in Flow Service (deleted by hand): drift to repair."""


class AdobeApi(Protocol):
    """What the core needs from Adobe."""

    def create(
        self,
        sandbox: str,
        collection: str,
        body: dict[str, Any],
        deadline: Deadline,
        *,
        look_up_first: bool,
        lookup: Callable[[], AdobeConnection | None],
    ) -> AdobeConnection:
        """POST one object, calling `lookup` before any repeat after an uncertain outcome."""
        ...

    def list_objects(
        self, sandbox: str, collection: str, filters: Sequence[tuple[str, str]], deadline: Deadline
    ) -> list[AdobeConnection]:
        """Every object of the collection passing these `property` filters (all pages), oldest first, each with
        its listed content; filters only narrow the listing, the caller checks what each object holds."""
        ...

    def delete(self, sandbox: str, collection: str, object_id: str, deadline: Deadline) -> bool:
        """Delete one object; False when it was already gone."""
        ...

    def list_connections(self, sandbox: str, deadline: Deadline) -> list[dict[str, Any]]:
        """Every Event Hubs base connection of the sandbox (all pages)."""
        ...

    def auth_spec_name(self, sandbox: str, documented: str, params: Iterable[str], deadline: Deadline) -> str:
        """The auth spec name to send for these params."""
        ...

    def forget_auth_specs(self, sandbox: str) -> None:
        """Read the sandbox's connection spec again next time (Adobe said an auth spec is unknown)."""
        ...

    def get_connection(self, sandbox: str, connection_id: str, deadline: Deadline) -> AdobeConnection | None:
        """The connection by id, or None."""
        ...

    def explore(self, sandbox: str, connection_id: str, deadline: Deadline) -> tuple[str, ...]:
        """The event hubs the connection can read (explore root); AdobeRejected when Adobe cannot list them."""
        ...

    def read_dataset(self, sandbox: str, dataset_id: str, deadline: Deadline) -> Dataset | None:
        """The dataset (Catalog), or None when it does not exist."""
        ...

    def update_auth_params(
        self, sandbox: str, connection_id: str, etag: str | None, params: dict[str, Any], deadline: Deadline
    ) -> AdobeConnection:
        """Replace the connection's auth params (If-Match)."""
        ...


def connection_body(name: str, description: str, spec_name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The JSON body of `POST /connections` for the Event Hubs source (its secret params are scrubbed)."""
    for param in SECRET_PARAMS:
        if isinstance(params.get(param), str):
            register_secret(params[param])
    return {
        "name": name,
        "description": description,
        "auth": {"specName": spec_name, "params": params},
        "connectionSpec": {"id": EVENT_HUBS_SPEC_ID, "version": EVENT_HUBS_SPEC_VERSION},
    }


class AdobeClient:
    """Flow Service over one pooled `requests.Session` per worker."""

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
        connect_timeout: float | None = None,
        on_refused: Callable[[], None] = lambda: None,
    ) -> None:
        self._http = Transport(
            session,
            ims_url=ims_url,
            platform_url=platform_url,
            scopes=scopes,
            credentials=credentials,
            retrier=retrier,
            timeout=(connect_timeout if connect_timeout is not None else min(3.05, timeout), timeout),
            monotonic=monotonic,
            on_refused=on_refused,
        )
        self._flow_url = platform_url + FLOW_SERVICE_PATH
        self._catalog_url = platform_url + CATALOG_PATH
        self._monotonic = monotonic
        self._specs: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._reading: dict[str, threading.Event] = {}  # sandboxes whose spec is being read, set when done
        self._spec_lock = threading.Lock()

    @property
    def calls(self) -> int:
        return self._http.calls

    @property
    def transport(self) -> Transport:
        """The one session, retry policy and throttle: other Adobe readers (shared/adobe/runs.py) share it."""
        return self._http

    @property
    def token_requests(self) -> int:
        return self._http.token_requests

    def _url(self, collection: str, object_id: str | None = None) -> str:
        return f"{self._flow_url}/{collection}" + (f"/{checked_id(object_id, source='storage')}" if object_id else "")

    # -- create and find ---------------------------------------------------------------------------

    def create(
        self,
        sandbox: str,
        collection: str,
        body: dict[str, Any],
        deadline: Deadline,
        *,
        look_up_first: bool,
        lookup: Callable[[], AdobeConnection | None],
    ) -> AdobeConnection:
        """POST, never repeated blindly after an outcome that may have reached Adobe: `lookup` runs first.

        Any 2xx with an id is a success. The result's `uncertain` says whether any attempt's outcome
        was unknown; an error raised after one carries `outcome_unknown = True`.
        """
        state = {"lookup": look_up_first, "uncertain": look_up_first}

        def once() -> tuple[CallResult, AdobeConnection | None]:
            if state["lookup"]:
                found = lookup()
                if found is not None:
                    return CallResult(status=200), replace(found, uncertain=True)
            result, response = self._http.platform_once(
                "POST",
                self._url(collection),
                sandbox,
                deadline,
                json=body,
                headers={"Content-Type": "application/json"},
            )
            state["uncertain"] = state["uncertain"] or result.outcome_unknown
            if response is None or not 200 <= response.status_code < 300:
                if response is not None and result.status not in RETRYABLE_STATUSES:
                    raise rejected(response, f"POST /{collection}")
                return result, None
            data = json_body(response)
            if not isinstance(data.get("id"), str) or not ADOBE_ID_PATTERN.fullmatch(data["id"]):
                state["uncertain"] = True  # answered, but without a usable id: look it up
                return CallResult(failure=Failure.UNCERTAIN), None
            etag = data.get("etag")
            made = AdobeConnection(
                data["id"], etag if isinstance(etag, str) else None, request_id(response), created=True
            )
            return result, replace(made, uncertain=state["uncertain"])

        def before_retry(decision: Decision) -> None:
            state["lookup"] = state["lookup"] or decision.lookup_first

        try:
            made = self._http.retrier.call(
                once, dependency="Adobe Flow Service", deadline=deadline, idempotent=False, before_retry=before_retry
            )
        except ConnectorError as err:
            err.outcome_unknown = state["uncertain"]
            raise
        assert made is not None
        return made

    def list_connections(self, sandbox: str, deadline: Deadline) -> list[dict[str, Any]]:
        """Every Event Hubs base connection of the sandbox (all pages), as Flow Service lists them (secrets masked)."""
        params = [("property", f"connectionSpec.id=={EVENT_HUBS_SPEC_ID}")]
        found = []
        for item in self._http.pages(self._url("connections"), sandbox, deadline, params, max_pages=1000):
            if isinstance(item.get("id"), str) and ADOBE_ID_PATTERN.fullmatch(item["id"]):
                found.append(item)
        return found

    def list_objects(
        self, sandbox: str, collection: str, filters: Sequence[tuple[str, str]], deadline: Deadline
    ) -> list[AdobeConnection]:
        params = [("property", f"{key}=={value}") for key, value in filters]
        found = []
        for item in self._http.pages(self._url(collection), sandbox, deadline, params):
            if not isinstance(item.get("id"), str) or not ADOBE_ID_PATTERN.fullmatch(item["id"]):
                log.warning("Adobe listed a %s with a malformed id; ignored", collection)
                continue
            created_at = item.get("createdAt")
            found.append(
                AdobeConnection(
                    id=item["id"],
                    etag=item["etag"] if isinstance(item.get("etag"), str) else None,
                    request_id=None,
                    created_at=float(created_at) if isinstance(created_at, int | float) else 0.0,
                    content=item,
                )
            )
        return sorted(found, key=lambda c: c.created_at)  # stable: Adobe's order breaks ties

    # -- read, update, delete ----------------------------------------------------------------------

    def get_connection(self, sandbox: str, connection_id: str, deadline: Deadline) -> AdobeConnection | None:
        """The connection with this id (its current etag), or None when Flow Service has none."""
        response = self._http.platform("GET", self._url("connections", connection_id), sandbox, deadline, ok=(200, 404))
        items = json_body(response).get("items") or []
        if response.status_code == 404 or not items or not isinstance(items[0], dict):
            return None
        etag = items[0].get("etag")
        return AdobeConnection(connection_id, etag if isinstance(etag, str) else None, request_id(response))

    def explore(self, sandbox: str, connection_id: str, deadline: Deadline) -> tuple[str, ...]:
        url = self._url("connections", connection_id) + "/explore"
        response = self._http.platform("GET", url, sandbox, deadline, ok=(200,), params=[("objectType", "root")])
        try:
            items = response.json()
        except ValueError:
            items = []
        if isinstance(items, dict):
            items = items.get("items") or []
        names = [i.get("name") for i in items if isinstance(i, dict)] if isinstance(items, list) else []
        return tuple(sorted({n.lower() for n in names if isinstance(n, str) and n}))

    def read_dataset(self, sandbox: str, dataset_id: str, deadline: Deadline) -> Dataset | None:
        checked = checked_id(dataset_id, source="request")
        url = f"{self._catalog_url}/dataSets/{checked}"
        response = self._http.platform("GET", url, sandbox, deadline, ok=(200, 404))
        if response.status_code == 404:
            return None
        body = json_body(response)
        data = body.get(dataset_id) or (next(iter(body.values()), None) if len(body) == 1 else None)
        if not isinstance(data, dict):
            return None
        schema: dict[str, Any] = data["schemaRef"] if isinstance(data.get("schemaRef"), dict) else {}
        schema_id, version = schema.get("id"), schema.get("contentType")
        return Dataset(
            dataset_id,
            str(data.get("name") or dataset_id),
            schema_id if isinstance(schema_id, str) and schema_id else None,
            version if isinstance(version, str) and version else None,
        )

    def update_auth_params(
        self, sandbox: str, connection_id: str, etag: str | None, params: dict[str, Any], deadline: Deadline
    ) -> AdobeConnection:
        """PATCH /auth/params with If-Match; on a stale (or unknown) etag re-read it and retry once.

        Raises ConnectionMissing when the connection no longer exists in Adobe.
        """
        body = [{"op": "replace", "path": "/auth/params", "value": params}]
        for attempt in (1, 2):
            if etag is None:
                current = self.get_connection(sandbox, connection_id, deadline)
                if current is None:
                    raise ConnectionMissing(connection_id)
                etag = current.etag or ""
            response = self._http.platform(
                "PATCH",
                self._url("connections", connection_id),
                sandbox,
                deadline,
                ok=(200, 404, 412),
                json=body,
                headers={"Content-Type": "application/json", "If-Match": etag},
            )
            if response.status_code == 200:
                new_etag = json_body(response).get("etag")
                return AdobeConnection(
                    connection_id, new_etag if isinstance(new_etag, str) else None, request_id(response)
                )
            if response.status_code == 404:
                raise ConnectionMissing(connection_id)
            if attempt == 1:
                etag = None  # 412: someone changed it; read the current etag
        raise rejected(response, f"PATCH /connections/{connection_id}")

    def delete(self, sandbox: str, collection: str, object_id: str, deadline: Deadline) -> bool:
        """DELETE; False when already gone. Raises AdobeRejected (e.g. 1418-400: used by dataflows)."""
        response = self._http.platform(
            "DELETE", self._url(collection, object_id), sandbox, deadline, ok=(200, 202, 204, 404)
        )
        return response.status_code != 404

    # -- auth specs --------------------------------------------------------------------------------

    def auth_spec_name(self, sandbox: str, documented: str, params: Iterable[str], deadline: Deadline) -> str:
        """The auth spec name Flow Service uses today in this sandbox for these params (best effort).

        The spec is read once an hour per sandbox with a third of the remaining budget (a read already under way,
        another create's, is joined for at most that long); a failed read falls back to the documented names for at
        most a minute, in that sandbox only.
        """
        return choose_auth_spec(self._spec_document(sandbox, deadline), params, documented)

    def _spec_document(self, sandbox: str, deadline: Deadline) -> dict[str, Any] | None:
        """The sandbox's cached connection spec; read now (or joined while another thread reads it) when stale."""
        share = deadline.share(1 / 3)
        while True:
            with self._spec_lock:
                cached = self._fresh_spec(sandbox)
                if cached is not None:
                    return cached[1]
                reading = self._reading.get(sandbox)
                if reading is None:
                    reading = self._reading[sandbox] = threading.Event()
                    break
            # Another thread reads it: wait for its answer (within this call's share), then look again. A read that
            # ended without an answer (IMS refused) leaves nothing cached: this call then reads it itself.
            # (A budget of 0 means one attempt per call: the other read's own attempt bounds the wait.)
            if not reading.wait(timeout=share.remaining() or (0.0 if share.expired() else None)):
                log.warning("the connection spec of sandbox %s is still being read; using documented names", sandbox)
                return None
        try:
            document = self._read_spec(sandbox, share)
        except BaseException:
            self._finish_read(sandbox, reading, None)
            raise
        self._finish_read(sandbox, reading, (document,))
        return document

    def _finish_read(self, sandbox: str, reading: threading.Event, answer: tuple[dict[str, Any] | None] | None) -> None:
        """Cache a read's answer (a document, or None for a failed read: documented names for a minute); `answer`
        None means the read ended without one (nothing cached). Then wake whoever waits for it."""
        with self._spec_lock:
            if self._reading.get(sandbox) is reading:
                del self._reading[sandbox]
                if answer is not None:
                    ttl = SPEC_TTL_SECONDS if answer[0] is not None else SPEC_RETRY_SECONDS
                    self._specs[sandbox] = (self._monotonic() + ttl, answer[0])
                    self._prune_specs()
        reading.set()

    def _fresh_spec(self, sandbox: str) -> tuple[float, dict[str, Any] | None] | None:
        """The sandbox's cached read while it lasts (under the lock)."""
        cached = self._specs.get(sandbox)
        return cached if cached is not None and self._monotonic() < cached[0] else None

    def _prune_specs(self) -> None:
        """Drop expired spec reads, then those expiring first beyond MAX_CACHED_SPECS (under the lock)."""
        now = self._monotonic()
        for sandbox in [name for name, (until, _) in self._specs.items() if now >= until]:
            del self._specs[sandbox]
        while len(self._specs) > MAX_CACHED_SPECS:
            del self._specs[min(self._specs, key=lambda name: self._specs[name][0])]

    def forget_auth_specs(self, sandbox: str) -> None:
        with self._spec_lock:
            self._specs.pop(sandbox, None)
            self._reading.pop(sandbox, None)  # a read under way may bring the old names: it is not cached

    def _read_spec(self, sandbox: str, deadline: Deadline) -> dict[str, Any] | None:
        try:
            response = self._http.platform(
                "GET", f"{self._flow_url}/connectionSpecs/{EVENT_HUBS_SPEC_ID}", sandbox, deadline, ok=(200,)
            )
        except AdobeAuthenticationFailed:
            raise
        except (AdobeRejected, DependencyUnavailable) as err:
            log.warning(
                "could not read the Event Hubs connection spec in sandbox %s (%s); using documented names",
                sandbox,
                err.code,
            )
            return None
        items = json_body(response).get("items") or []
        return items[0] if items and isinstance(items[0], dict) else {}


def is_unknown_auth_spec(err: ConnectorError) -> bool:
    """Adobe's `1415-400`: the auth spec name sent is not one it knows (renamed on Adobe's side)."""
    adobe = getattr(err, "adobe", None)
    return adobe is not None and bool(adobe.code) and str(adobe.code).startswith("1415")
