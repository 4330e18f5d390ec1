"""HTTPS stand-in for Azure Resource Graph's query API, as the real ``ResourceGraphClient`` speaks it.

``azure-mgmt-resourcegraph`` (8.x, api-version ``2021-03-01``) sends
``POST {base_url}/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01`` with
``Authorization: Bearer <token for https://management.azure.com/.default>`` and a ``QueryRequest``
body::

    {"subscriptions": ["<id>", ...], "query": "<KQL>",
     "options": {"$skipToken": "...", "$top": 1000, "$skip": 0, "resultFormat": "objectArray"}}

and reads a ``QueryResponse``: ``totalRecords``, ``count``, ``resultTruncated`` (the string
``"true"``/``"false"``), ``$skipToken`` (only when more rows remain), ``data`` and ``facets``.
Errors are ARM's ``{"error": {"code", "message"}}`` shape. ``azure-core`` refuses to send a bearer
token over plain http, hence HTTPS: the certificate is issued by a ``trustme`` CA, normally the Key
Vault stand-in's (``ca=``), so one ``REQUESTS_CA_BUNDLE`` trusts both.

The query language is a small, strict subset of KQL (what an app listing resources sends)::

    [resources |] where <column> (=~|==|!~|!=) '<value>' [and ...]
        | project <column>, ...  | order by <column> [asc|desc]  | take <n>

Anything else answers 400 ``InvalidQuery``. Rows come sorted by ``id`` (case-insensitively, then
exactly) unless the query orders them.

Choices (documented, not all verified against the live service):

- A query naming a subscription that :meth:`ResourceGraphStandIn.deny_subscription` denied answers
  403 ``AuthorizationFailed`` for the whole query (no partial result), as ARM answers when the caller
  lacks ``Microsoft.ResourceGraph/resources/read`` over one of the scopes. A query without
  ``subscriptions`` (tenant scope) silently covers every known, non-denied subscription.
- Paging: a page holds ``min(page_size, $top)`` rows; ``$skipToken`` is base64url JSON of the next
  offset and a hash of the query text (whitespace-normalised) and the (case-folded, sorted)
  subscriptions, so a token from another query answers 400 ``InvalidSkipToken``. ``$skip`` applies without a token.
  As in ARG, a query that does not keep the ``id`` column cannot be paged: the first page comes with
  ``resultTruncated: "true"`` and no ``$skipToken``.
- Thin answers on request (what issue 19 saw reconcile trust): :meth:`ResourceGraphStandIn.truncate_next`
  makes the next queries answer ``resultTruncated: "true"`` with no ``$skipToken`` and rows missing;
  :meth:`ResourceGraphStandIn.answer_short` makes them answer fewer rows than ``totalRecords`` with no
  ``$skipToken`` and ``resultTruncated: "false"`` (a page that does not add up).
- ``facets`` and ``managementGroups`` are refused with 400 (not implemented here).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import re
import shutil
import ssl
import tempfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme

from devstack.faults import RecordedRequest
from devstack.httpbase import Response, StandInServer

__all__ = [
    "API_VERSIONS",
    "ARM_RESOURCE",
    "DEFAULT_RESOURCE_GROUP",
    "DEFAULT_SUBSCRIPTION",
    "EVENTHUB_NAMESPACE_TYPE",
    "MAX_PAGE_SIZE",
    "RESOURCES_PATH",
    "ResourceGraphStandIn",
]

ARM_RESOURCE = "https://management.azure.com"
RESOURCES_PATH = "/providers/Microsoft.ResourceGraph/resources"
EVENTHUB_NAMESPACE_TYPE = "microsoft.eventhub/namespaces"
DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
DEFAULT_RESOURCE_GROUP = "rg-telemetry"
DEFAULT_LOCATION = "westeurope"
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
MAX_PAGE_SIZE = 1000
#: The api-versions of Microsoft.ResourceGraph/resources (the 8.x client sends 2021-03-01).
API_VERSIONS = frozenset(
    {
        "2018-09-01-preview",
        "2019-04-01",
        "2020-04-01-preview",
        "2020-09-01-preview",
        "2021-03-01",
        "2021-06-01-preview",
        "2022-10-01",
        "2024-04-01",
    }
)
_AUTHORIZATION_URI = f"https://login.windows.net/{TENANT_ID}"
_COLUMNS = (
    "id",
    "name",
    "type",
    "tenantId",
    "kind",
    "location",
    "resourceGroup",
    "subscriptionId",
    "sku",
    "properties",
    "tags",
)
_INVALID_QUERY = (
    "Query is invalid. Please refer to the documentation for the Azure Resource Graph service "
    "and fix the error before retrying."
)


class _QueryError(Exception):
    """A query the stand-in cannot interpret (answered 400 ``InvalidQuery``)."""


def _error(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    details: list[dict[str, Any]] | None = None,
) -> Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return Response.json(status, {"error": error}, headers)


def _challenge(description: str) -> dict[str, str]:
    return {
        "WWW-Authenticate": (
            f'Bearer authorization_uri="{_AUTHORIZATION_URI}", error="invalid_token", error_description="{description}"'
        )
    }


# -- the KQL subset ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Condition:
    column: str
    op: str
    value: str

    def test(self, row: dict[str, Any]) -> bool:
        actual = row.get(self.column)
        text = actual if isinstance(actual, str) else ("" if actual is None else json.dumps(actual))
        if self.op == "=~":
            return text.lower() == self.value.lower()
        if self.op == "!~":
            return text.lower() != self.value.lower()
        if self.op == "==":
            return text == self.value
        return text != self.value


_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_STRING = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""
_CONDITION_RE = re.compile(rf"\s*({_IDENT})\s*(=~|==|!~|!=)\s*({_STRING})\s*")
_AND_RE = re.compile(r"and\b", re.IGNORECASE)
_PROJECT_RE = re.compile(rf"\s*({_IDENT})\s*(?:,|$)")
_ORDER_RE = re.compile(rf"(?:order|sort)\s+by\s+({_IDENT})(?:\s+(asc|desc))?\s*$", re.IGNORECASE)
_TAKE_RE = re.compile(r"(?:take|limit)\s+(\d+)\s*$", re.IGNORECASE)


def _split_pipes(query: str) -> list[str]:
    """Split on ``|`` outside string literals."""
    stages: list[str] = []
    current: list[str] = []
    quote: str | None = None
    escaped = False
    for char in query:
        if quote is not None:
            current.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "'\"":
            quote = char
            current.append(char)
        elif char == "|":
            stages.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if quote is not None:
        raise _QueryError("unterminated string literal")
    stages.append("".join(current).strip())
    return stages


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def _parse_where(text: str, columns: list[str]) -> list[_Condition]:
    conditions: list[_Condition] = []
    position = 0
    while True:
        match = _CONDITION_RE.match(text, position)
        if match is None:
            raise _QueryError(f"cannot interpret the where clause {text!r}")
        column = _column(match.group(1), columns)
        conditions.append(_Condition(column, match.group(2), _unquote(match.group(3))))
        position = match.end()
        if position == len(text):
            return conditions
        joined = _AND_RE.match(text, position)
        if joined is None:
            raise _QueryError(f"cannot interpret the where clause {text!r}")
        position = joined.end()


def _column(name: str, columns: list[str]) -> str:
    # KQL column names are case-sensitive; ARG resolves nothing else.
    if name not in columns:
        raise _QueryError(f"Failed to resolve scalar expression named '{name}'")
    return name


def _run_query(query: str, rows: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Apply the query to the resources table; returns (columns, rows)."""
    stages = _split_pipes(query)
    if not stages or not stages[0]:
        raise _QueryError("the query is empty")
    first = stages[0]
    if re.fullmatch(r"resources", first, re.IGNORECASE):
        stages = stages[1:]
    elif re.fullmatch(_IDENT, first) and not re.match(r"(where|project|order|sort|take|limit)\b", first, re.I):
        raise _QueryError(f"Table '{first}' is not supported by the Resource Graph stand-in (only 'resources').")
    columns = list(_COLUMNS)
    result = list(rows)
    for stage in stages:
        keyword = stage.split(None, 1)[0].lower() if stage else ""
        rest = stage[len(keyword) :].strip()
        if keyword == "where" and rest:
            conditions = _parse_where(rest, columns)
            result = [row for row in result if all(condition.test(row) for condition in conditions)]
        elif keyword == "project" and rest:
            picked: list[str] = []
            position = 0
            while position < len(rest):
                match = _PROJECT_RE.match(rest, position)
                if match is None or match.end() == position:
                    raise _QueryError(f"cannot interpret the project list {rest!r}")
                name = _column(match.group(1), columns)
                if name not in picked:
                    picked.append(name)
                position = match.end()
            if not picked or rest.rstrip().endswith(","):
                raise _QueryError(f"cannot interpret the project list {rest!r}")
            columns = picked
            result = [{name: row.get(name) for name in columns} for row in result]
        elif keyword in ("order", "sort") and (match := _ORDER_RE.match(stage)):
            name = _column(match.group(1), columns)
            descending = (match.group(2) or "desc").lower() == "desc"  # KQL sorts descending by default
            result.sort(key=lambda row: json.dumps(row.get(name), sort_keys=True).lower(), reverse=descending)
        elif keyword in ("take", "limit") and (match := _TAKE_RE.match(stage)):
            result = result[: int(match.group(1))]
        else:
            raise _QueryError(f"cannot interpret {stage!r}")
    return columns, result


def _column_type(values: list[Any]) -> str:
    for value in values:
        if value is None:
            continue
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, int):
            return "integer"
        if isinstance(value, float):
            return "number"
        if isinstance(value, str):
            return "string"
        return "object"
    return "string"


# -- the stand-in --------------------------------------------------------------------------------


class ResourceGraphStandIn(StandInServer):
    """``POST /providers/Microsoft.ResourceGraph/resources`` over HTTPS, with an inventory of
    Event Hubs namespaces, per-subscription denials, ``$skipToken`` paging and faults.

    ``token_validator(token, "https://management.azure.com")`` decides whether a bearer token is
    accepted (e.g. ``IdentityStandIn.is_valid_token``); None accepts any non-empty token.
    ``ca``: the ``trustme.CA`` that issues the server certificate (share the Key Vault stand-in's so
    one CA bundle trusts both); a new one when None. ``cert_dir``: where to create the directory
    holding the CA PEM (:attr:`ca_bundle_path`). ``principal_id`` is the object id quoted in 403
    answers. ``page_size`` (attribute) is the most rows per page (ARG's maximum, 1000, by default).
    """

    name = "resourcegraph"
    scheme = "https"

    def __init__(
        self,
        token_validator: Callable[[str, str], bool] | None,
        *,
        ca: Any = None,
        cert_dir: Path | None = None,
        principal_id: str = "00000000-0000-0000-0000-00000000000b",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._ca = ca if ca is not None else trustme.CA(organization_name="devstack local Resource Graph CA")
        server_cert = self._ca.issue_cert("127.0.0.1", "localhost", "::1")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_cert.configure_cert(context)
        super().__init__(host=host, port=port, ssl_context=context)
        self.token_validator = token_validator
        self.principal_id = principal_id
        if cert_dir is not None:
            cert_dir.mkdir(parents=True, exist_ok=True)
        self._cert_dir = Path(tempfile.mkdtemp(prefix="devstack-arg-", dir=cert_dir))
        self._ca_path = self._cert_dir / "resourcegraph-ca.pem"
        self._write_ca()
        self._data_lock = threading.Lock()
        self._resources: dict[tuple[str, str], dict[str, Any]] = {}
        self._denied: set[str] = set()
        self._end_early = 0
        # One entry per next answered query: ("truncated" | "short", rows left out), or None for a whole answer.
        self._thin: list[tuple[str, int] | None] = []
        self.page_size = MAX_PAGE_SIZE
        self._mounted: list[Callable[[RecordedRequest], Response | None]] = []

    def mount(self, answer: Callable[[RecordedRequest], Response | None]) -> None:
        """Serve another Resource Manager API on this host (e.g. Azure Monitor metrics): ``answer``
        gets every authenticated request first and returns None for a path that is not its own."""
        self._mounted.append(answer)

    # -- lifecycle -----------------------------------------------------------------------------

    def _write_ca(self) -> None:
        self._cert_dir.mkdir(parents=True, exist_ok=True)
        self._ca.cert_pem.write_to_path(str(self._ca_path))

    def start(self) -> ResourceGraphStandIn:
        """Start serving HTTPS (re-writes the CA file if stop() removed it)."""
        if not self._ca_path.exists():
            self._write_ca()
        super().start()
        return self

    def stop(self) -> None:
        """Stop serving and remove the CA file's directory."""
        super().stop()
        shutil.rmtree(self._cert_dir, ignore_errors=True)

    def reset(self) -> None:
        """Empty inventory, no denials, ``page_size`` 1000, no pending early end or thin answer, no faults, no
        recordings."""
        with self._data_lock:
            self._resources.clear()
            self._denied.clear()
            self._end_early = 0
            self._thin.clear()
            self.page_size = MAX_PAGE_SIZE
        self.faults.clear()
        self.reset_recording()

    # -- addresses -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The Resource Manager base URL, ``https://127.0.0.1:PORT`` (no trailing slash)."""
        return self.base_url

    @property
    def ca_bundle_path(self) -> Path:
        """PEM file of the CA that signed the server certificate."""
        return self._ca_path

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate, PEM-encoded."""
        pem: bytes = self._ca.cert_pem.bytes()
        return pem

    # -- inventory -----------------------------------------------------------------------------

    def add_namespace(
        self,
        name: str,
        *,
        subscription_id: str = DEFAULT_SUBSCRIPTION,
        resource_group: str = DEFAULT_RESOURCE_GROUP,
        location: str = DEFAULT_LOCATION,
    ) -> dict[str, Any]:
        """Add (or replace) an Event Hubs namespace and return the resource as ARG lists it
        (``id``, ``name``, ``type``, ``tenantId``, ``kind``, ``location``, ``resourceGroup``,
        ``subscriptionId``, ``sku``, ``properties``, ``tags``). The name is not validated (so a
        test can list an unusable one); it must be non-empty and hold no ``/``."""
        if not name or "/" in name:
            raise ValueError(f"invalid namespace name {name!r}")
        subscription = subscription_id.lower()
        resource = {
            "id": f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
            f"/providers/Microsoft.EventHub/namespaces/{name}",
            "name": name,
            "type": EVENTHUB_NAMESPACE_TYPE,
            "tenantId": TENANT_ID,
            "kind": "",
            "location": location.lower(),
            "resourceGroup": resource_group.lower(),
            "subscriptionId": subscription,
            "sku": {"name": "Standard", "tier": "Standard", "capacity": 1},
            "properties": {
                "provisioningState": "Succeeded",
                "status": "Active",
                "serviceBusEndpoint": f"https://{name}.servicebus.windows.net:443/",
                "kafkaEnabled": True,
                "minimumTlsVersion": "1.2",
            },
            "tags": {},
        }
        with self._data_lock:
            self._resources[(subscription, name.lower())] = resource
        return copy.deepcopy(resource)

    def remove_namespace(self, name: str, subscription_id: str = DEFAULT_SUBSCRIPTION) -> bool:
        """Remove a namespace; False if there was none."""
        with self._data_lock:
            return self._resources.pop((subscription_id.lower(), name.lower()), None) is not None

    def namespaces(self) -> list[dict[str, Any]]:
        """Every namespace (copies), sorted by id."""
        with self._data_lock:
            return [copy.deepcopy(r) for r in self._sorted()]

    def clear(self) -> None:
        """Remove every namespace."""
        with self._data_lock:
            self._resources.clear()

    def _sorted(self) -> list[dict[str, Any]]:
        return sorted(self._resources.values(), key=lambda r: (r["id"].lower(), r["id"]))

    # -- permissions and misbehaviour ----------------------------------------------------------

    def deny_subscription(self, subscription_id: str) -> None:
        """Queries naming this subscription answer 403 ``AuthorizationFailed``."""
        with self._data_lock:
            self._denied.add(subscription_id.lower())

    def allow_subscription(self, subscription_id: str | None = None) -> None:
        """Undo :meth:`deny_subscription` for this subscription (for every one when None)."""
        with self._data_lock:
            if subscription_id is None:
                self._denied.clear()
            else:
                self._denied.discard(subscription_id.lower())

    @property
    def denied_subscriptions(self) -> list[str]:
        """The denied subscription ids (lower-case, sorted)."""
        with self._data_lock:
            return sorted(self._denied)

    def end_early_once(self, times: int = 1) -> None:
        """The next ``times`` answered queries end early: ``$skipToken`` pointing at the same offset,
        ``data`` empty, ``count`` 0 (``totalRecords`` unchanged); paging then continues normally."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._data_lock:
            self._end_early += times

    def truncate_next(self, times: int = 1, *, missing: int = 1, after: int = 0) -> None:
        """After ``after`` whole answers, the next ``times`` answered queries are truncated: every row from the
        asked offset on but the last ``missing`` (fewer when there are fewer), ``resultTruncated: "true"``, no
        ``$skipToken``, ``totalRecords`` unchanged, as ARG answers a result it could not page."""
        self._thin_next("truncated", times, missing, after)

    def answer_short(self, times: int = 1, *, missing: int = 1, after: int = 0) -> None:
        """After ``after`` whole answers, the next ``times`` answered queries come short: every row from the
        asked offset on but the last ``missing``, ``resultTruncated: "false"``, no ``$skipToken``, so the rows
        do not add up to ``totalRecords``."""
        self._thin_next("short", times, missing, after)

    def _thin_next(self, kind: str, times: int, missing: int, after: int) -> None:
        if times < 1:
            raise ValueError("times must be at least 1")
        if missing < 1:
            raise ValueError("missing must be at least 1")
        if after < 0:
            raise ValueError("after must not be negative")
        with self._data_lock:
            self._thin.extend([None] * after + [(kind, missing)] * times)

    @property
    def thin_answers_pending(self) -> int:
        """How many truncated or short answers are still to come."""
        with self._data_lock:
            return sum(1 for entry in self._thin if entry is not None)

    # -- protocol ------------------------------------------------------------------------------

    def finalize_response(self, request: RecordedRequest, response: Response) -> Response:
        """ARM's request ids on every answer (fault answers too)."""
        for header in ("x-ms-request-id", "x-ms-correlation-request-id"):
            if response.header(header) is None:
                response.headers[header] = str(uuid.uuid4())
        return super().finalize_response(request, response)

    def _authenticate(self, request: RecordedRequest) -> Response | None:
        authorization = request.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if not authorization:
            return _error(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
                _challenge("The authentication failed because of missing 'Authorization' header."),
            )
        if scheme.lower() != "bearer" or not token:
            return _error(
                401,
                "InvalidAuthenticationToken",
                "The access token is invalid.",
                _challenge("The access token is missing or invalid."),
            )
        valid = bool(token) if self.token_validator is None else self.token_validator(token, ARM_RESOURCE)
        if not valid:
            return _error(
                401,
                "InvalidAuthenticationToken",
                "The access token is invalid.",
                _challenge("The access token is from the wrong issuer, expired or revoked."),
            )
        return None

    def handle_request(self, request: RecordedRequest) -> Response:
        """Authenticate, then answer ``POST /providers/Microsoft.ResourceGraph/resources``."""
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        for answer in self._mounted:
            mounted = answer(request)
            if mounted is not None:
                return mounted
        if request.path.rstrip("/").lower() != RESOURCES_PATH.lower():
            return _error(404, "NotFound", f"The requested path {request.path} was not found.")
        if request.method != "POST":
            return _error(
                405,
                "HttpMethodNotAllowed",
                f"The HTTP method '{request.method}' is not supported for {RESOURCES_PATH}.",
            )
        versions = [v for key, values in request.query.items() if key.lower() == "api-version" for v in values]
        if not versions or not versions[-1]:
            return _error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if versions[-1] not in API_VERSIONS:
            supported = ", ".join(sorted(API_VERSIONS))
            return _error(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{versions[-1]}' is invalid. The supported versions are '{supported}'.",
            )
        try:
            payload = request.json()
        except (ValueError, UnicodeDecodeError):
            return _error(
                400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."
            )
        if not isinstance(payload, dict):
            return _error(400, "InvalidRequestContent", "The request content must be a JSON object.")
        return self._query(payload)

    def _query(self, payload: dict[str, Any]) -> Response:
        query = payload.get("query")
        if not isinstance(query, str) or not query.strip():
            return _error(400, "BadRequest", "The 'query' property is required and must be a non-empty string.")
        if payload.get("managementGroups"):
            return _error(
                400, "BadRequest", "managementGroups scopes are not supported by the Resource Graph stand-in."
            )
        if payload.get("facets"):
            return _error(400, "BadRequest", "facets are not supported by the Resource Graph stand-in.")
        subscriptions = payload.get("subscriptions")
        if subscriptions is None:
            subscriptions = []
        if not isinstance(subscriptions, list) or not all(isinstance(s, str) and s for s in subscriptions):
            return _error(400, "BadRequest", "'subscriptions' must be a list of subscription ids.")
        options = payload.get("options") or {}
        if not isinstance(options, dict):
            return _error(400, "BadRequest", "'options' must be an object.")
        result_format = options.get("resultFormat", "objectArray")
        if result_format not in ("objectArray", "table"):
            return _error(400, "BadRequest", f"resultFormat '{result_format}' is not supported.")
        top = options.get("$top")
        if top is not None and (not isinstance(top, int) or isinstance(top, bool) or not 1 <= top <= MAX_PAGE_SIZE):
            return _error(400, "BadRequest", f"$top must be an integer between 1 and {MAX_PAGE_SIZE}.")
        skip = options.get("$skip", 0) or 0
        if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
            return _error(400, "BadRequest", "$skip must be a non-negative integer.")

        named = [s.lower() for s in subscriptions]
        with self._data_lock:
            forbidden = next((s for s in named if s in self._denied), None)
            if forbidden is not None:
                return self._forbidden(forbidden)
            scope = set(named) if named else {r["subscriptionId"] for r in self._resources.values()} - self._denied
            rows = [copy.deepcopy(r) for r in self._sorted() if r["subscriptionId"] in scope]
            page_size = max(1, min(self.page_size, MAX_PAGE_SIZE))
        try:
            columns, rows = _run_query(query, rows)
        except _QueryError as exc:
            return _error(
                400,
                "InvalidQuery",
                _INVALID_QUERY,
                details=[
                    {"code": "InvalidQuery", "message": _INVALID_QUERY},
                    {"code": "ParserFailure", "message": str(exc)},
                ],
            )

        digest = self._digest(query, named)
        token = options.get("$skipToken")
        offset = skip
        if token is not None:
            decoded = self._decode_token(token, digest, len(rows))
            if decoded is None:
                return _error(
                    400,
                    "InvalidSkipToken",
                    "The $skipToken is not valid for this query: it is malformed, expired or was issued "
                    "for another query or set of subscriptions.",
                )
            offset = decoded
        limit = min(page_size, top) if top is not None else page_size
        with self._data_lock:
            end_early = self._end_early > 0
            if end_early:
                self._end_early -= 1
            thin = self._thin.pop(0) if self._thin and not end_early else None
        total = len(rows)
        page: list[dict[str, Any]]
        if thin is not None:
            kind, missing = thin
            page = rows[offset : max(offset, total - missing)]
            body: dict[str, Any] = {
                "totalRecords": total,
                "count": len(page),
                "resultTruncated": "true" if kind == "truncated" else "false",
                "data": self._format(page, columns, result_format),
                "facets": [],
            }
            return Response.json(200, body)
        if end_early:
            page = []
            next_offset: int | None = offset
        else:
            page = rows[offset : offset + limit]
            next_offset = offset + len(page) if offset + len(page) < total else None
        body = {"totalRecords": total, "count": len(page), "resultTruncated": "false"}
        if next_offset is not None and not end_early and "id" not in columns:
            body["resultTruncated"] = "true"  # ARG cannot page a result without ids
        elif next_offset is not None:
            body["$skipToken"] = self._encode_token(next_offset, digest)
        body["data"] = self._format(page, columns, result_format)
        body["facets"] = []
        return Response.json(200, body)

    def _forbidden(self, subscription: str) -> Response:
        return _error(
            403,
            "AuthorizationFailed",
            f"The client '{self.principal_id}' with object id '{self.principal_id}' does not have authorization "
            f"to perform action 'Microsoft.ResourceGraph/resources/read' over scope '/subscriptions/{subscription}' "
            "or the scope is invalid. If access was recently granted, please refresh your credentials.",
        )

    @staticmethod
    def _format(page: list[dict[str, Any]], columns: list[str], result_format: str) -> Any:
        if result_format == "objectArray":
            return page
        return {
            "columns": [{"name": c, "type": _column_type([row.get(c) for row in page])} for c in columns],
            "rows": [[row.get(c) for c in columns] for row in page],
        }

    @staticmethod
    def _digest(query: str, subscriptions: list[str]) -> str:
        material = json.dumps([" ".join(query.split()), sorted(set(subscriptions))])
        return hashlib.sha256(material.encode()).hexdigest()[:16]

    @staticmethod
    def _encode_token(offset: int, digest: str) -> str:
        raw = json.dumps({"o": offset, "h": digest}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def _decode_token(token: Any, digest: str, total: int) -> int | None:
        if not isinstance(token, str) or not token:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            value = json.loads(raw)
        except (binascii.Error, ValueError):
            return None
        if not isinstance(value, dict) or value.get("h") != digest:
            return None
        offset = value.get("o")
        if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= total:
            return None
        return offset
