"""Platform list semantics shared by every list route: ``property`` filters, ``count``, paging.

``property=key==v1,v2`` keeps items whose ``key`` (a dotted path into the document, e.g.
``connectionSpec.id``) is one of the values; ``property=key!=v`` drops them; several ``property``
parameters must all hold. ``count=true`` answers ``{"count": n}``. ``limit`` (1..1000; the
stand-in's ``page_size`` when absent) bounds a page; when more items remain the answer has
``_links.next.href`` with an opaque ``continuationToken`` (the sequence number of the last item)
and the same filters and limit.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlencode

from devstack.adobe.routing import Call
from devstack.adobe.state import Record
from devstack.httpbase import Response

__all__ = ["Filter", "decode_token", "encode_token", "list_response", "lookup", "parse_filters"]

MAX_LIMIT = 1000

Filter = tuple[str, bool, set[str]]
"""(dotted key, negated, accepted values)."""


def lookup(data: dict[str, Any], key: str) -> Any:
    """The value at a dotted path (``connectionSpec.id``), or None."""
    value: Any = data
    for part in key.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def parse_filters(expressions: Iterable[str], filterable: Sequence[str]) -> list[Filter] | str:
    """The filters of ``property`` parameters, or an error message for an unsupported one."""
    filters: list[Filter] = []
    for expression in expressions:
        negate = "!=" in expression and "==" not in expression
        key, sep, value = expression.partition("!=" if negate else "==")
        key = key.strip()
        if not sep or key not in filterable:
            return f"Unsupported property filter {expression!r}; use key==value with key in {', '.join(filterable)}"
        filters.append((key, negate, set(value.split(","))))
    return filters


def matches(data: dict[str, Any], filters: Iterable[Filter]) -> bool:
    """Whether a document passes every filter."""
    for key, negate, values in filters:
        actual = lookup(data, key)
        hit = actual is not None and str(actual) in values
        if hit == negate:
            return False
    return True


def encode_token(seq: int) -> str:
    """The continuation token after the item with this sequence number."""
    return base64.urlsafe_b64encode(str(seq).encode()).decode().rstrip("=")


def decode_token(token: str) -> int:
    """The sequence number in a continuation token (ValueError when it is not one)."""
    try:
        return int(base64.urlsafe_b64decode(token.encode() + b"==").decode())
    except UnicodeDecodeError as exc:
        raise ValueError("invalid continuation token") from exc


def list_response(
    call: Call,
    records: Sequence[Record],
    *,
    filterable: Sequence[str],
    page_size: int,
    path: str,
    next_href: Callable[[str], str],
    render: Callable[[Record], dict[str, Any]],
) -> Response:
    """The answer to a list request over ``records`` (oldest first).

    ``path`` is the list route relative to the service root (``/connections``); ``next_href``
    turns ``path?query`` into the ``_links.next.href`` value; ``render`` gives an item's JSON.
    """
    expressions = call.request.query.get("property", [])
    filters = parse_filters(expressions, filterable)
    if isinstance(filters, str):
        return call.problem(400, "1400-400", filters)
    try:
        limit = int(call.query_value("limit", str(page_size)))
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError
    except ValueError:
        return call.problem(400, "1400-400", f"limit must be an integer from 1 to {MAX_LIMIT}")
    after = 0
    token = call.query_value("continuationToken")
    if token:
        try:
            after = decode_token(token)
        except ValueError:
            return call.problem(400, "1400-400", "Invalid continuationToken")
    candidates = [r for r in records if matches(r.data, filters)]
    if call.query_value("count").lower() == "true":
        return Response.json(200, {"count": len(candidates)})
    remaining = [r for r in candidates if r.seq > after]
    page = remaining[:limit]
    links: dict[str, Any] = {}
    if len(remaining) > limit:
        params: list[tuple[str, str]] = [("property", p) for p in expressions]
        params += [("limit", str(limit)), ("continuationToken", encode_token(page[-1].seq))]
        links["next"] = {"href": next_href(f"{path}?{urlencode(params)}")}
    return Response.json(200, {"items": [render(r) for r in page], "_links": links, "_page": {"count": len(page)}})
