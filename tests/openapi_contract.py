"""Check a function's HTTP response against openapi.yaml (the published API contract).

Importable by any test::

    from tests.openapi_contract import assert_response_matches

    resp = call_create_connection_http(...)
    assert_response_matches("POST", "/api/connections", resp.status_code,
                            json.loads(resp.get_body()), resp.headers)

It checks that the status is documented for that operation, that the body validates against the
response schema (OpenAPI 3.0 semantics: `nullable`, formats such as `date-time`), that every
required response header (e.g. `Retry-After` on 409 and 503) is present and valid, and, when a
`Content-Type` header is given, that it is one the spec documents. The spec is loaded and its
`$ref`s resolved once per process; validators are cached per response.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"

# The contract's error codes ("Codes, at least"), for the spec and docs tests.
CONTRACT_ERROR_CODES = {
    "InvalidJson",
    "InvalidRequest",
    "PayloadTooLarge",
    "ConnectionNotFound",
    "ConnectionBeingCreated",
    "SecretNotFound",
    "SecretInvalid",
    "ConfigurationError",
    "AdobeRequestRejected",
    "AdobeAuthenticationFailed",
    "DependencyUnavailable",
}


_HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@functools.cache
def load_spec() -> dict[str, Any]:
    """The parsed openapi.yaml (cached; do not mutate)."""
    with SPEC_PATH.open(encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)
    if not isinstance(spec, dict):
        raise AssertionError(f"{SPEC_PATH} is not a YAML mapping")
    return spec


def _lookup_ref(spec: Mapping[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        raise AssertionError(f"only local $refs are supported, got {ref!r}")
    node: Any = spec
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[part]
    return node


def resolve(node: Any, spec: Mapping[str, Any] | None = None, _stack: tuple[str, ...] = ()) -> Any:
    """A copy of `node` with every local `$ref` replaced by its target (the spec has no cycles)."""
    spec = load_spec() if spec is None else spec
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref in _stack:
                raise AssertionError(f"recursive $ref {ref!r} is not supported")
            return resolve(_lookup_ref(spec, ref), spec, (*_stack, ref))
        return {key: resolve(value, spec, _stack) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item, spec, _stack) for item in node]
    return node


@functools.cache
def _operations() -> tuple[tuple[str, re.Pattern[str], str], ...]:
    """(method, compiled path pattern, path template) for every operation, literal paths first."""
    found: list[tuple[str, re.Pattern[str], str]] = []
    for template, item in load_spec()["paths"].items():
        pattern = re.compile(
            "^"
            + "".join(
                "[^/]+" if part.startswith("{") else re.escape(part)
                for part in re.split(r"(\{[^}/]+\})", template)
                if part
            )
            + "/?$"
        )
        for method in item:
            if method in _HTTP_METHODS:
                found.append((method, pattern, template))
    # A literal path wins over a templated one that also matches.
    found.sort(key=lambda entry: entry[2].count("{"))
    return tuple(found)


def find_operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The path template and the (resolved) operation object for a concrete request."""
    concrete = urlsplit(path).path or path
    wanted = method.lower()
    templates_for_path: list[str] = []
    for op_method, pattern, template in _operations():
        if pattern.match(concrete):
            templates_for_path.append(template)
            if op_method == wanted:
                return template, _resolved_operation(op_method, template)
    if templates_for_path:
        raise AssertionError(f"{method.upper()} is not documented for {concrete} (path {templates_for_path[0]})")
    raise AssertionError(f"no path of openapi.yaml matches {concrete!r}")


@functools.cache
def _resolved_operation(method: str, template: str) -> dict[str, Any]:
    operation = resolve(load_spec()["paths"][template][method])
    assert isinstance(operation, dict)
    return operation


def documented_statuses(method: str, path: str) -> set[int]:
    """The HTTP statuses the spec documents for the operation serving `method path`."""
    _, operation = find_operation(method, path)
    return {int(code) for code in operation["responses"] if str(code).isdigit()}


@functools.cache
def _validator(schema_key: str, method: str, template: str, status: str) -> OAS30Validator:
    operation = _resolved_operation(method, template)
    schema = operation["responses"][status]["content"][schema_key]["schema"]
    return OAS30Validator(schema, format_checker=oas30_format_checker)


def _schema_errors(validator: OAS30Validator, instance: Any) -> list[str]:
    messages = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(part) for part in error.absolute_path) or "<body>"
        messages.append(f"{where}: {error.message}")
        # anyOf/allOf failures: show the nested reasons too.
        for sub in error.context or ():
            sub_where = "/".join(str(part) for part in sub.absolute_path) or "<body>"
            messages.append(f"  - {sub_where}: {sub.message}")
    return messages


def _check_header(name: str, spec: Mapping[str, Any], value: str | None, context: str) -> None:
    if value is None:
        if spec.get("required"):
            raise AssertionError(f"{context}: required response header {name!r} is missing")
        return
    schema = spec.get("schema", {})
    instance: Any = value
    if schema.get("type") == "integer":
        if not re.fullmatch(r"\s*\d+\s*", value):
            raise AssertionError(f"{context}: header {name!r} must be an integer, got {value!r}")
        instance = int(value)
    errors = _schema_errors(OAS30Validator(schema, format_checker=oas30_format_checker), instance)
    if errors:
        raise AssertionError(f"{context}: header {name!r}={value!r} is invalid: " + "; ".join(errors))


def assert_response_matches(
    method: str,
    path: str,
    status: int,
    body: Any,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Raise AssertionError unless the response is one openapi.yaml documents.

    `path` is the concrete request path, e.g. `/api/connections/contoso-telemetry` (a query string
    is ignored); `body` is the decoded JSON body (None for a response without content); `headers`
    are the response headers (any case). A `Content-Type` header is checked when present.
    """
    template, operation = find_operation(method, path)
    op_method = method.lower()
    context = f"{method.upper()} {template} -> {status}"
    responses = operation["responses"]
    if str(status) not in responses:
        documented = ", ".join(sorted(str(code) for code in responses))
        raise AssertionError(f"{context}: status {status} is not documented (documented: {documented})")
    response = responses[str(status)]

    lowered = {key.lower(): value for key, value in (headers or {}).items()}
    for name, header_spec in response.get("headers", {}).items():
        _check_header(name, header_spec, lowered.get(name.lower()), context)

    content = response.get("content")
    if not content:
        if body not in (None, b"", ""):
            raise AssertionError(f"{context}: the spec documents no body, got {body!r}")
        return

    content_type = lowered.get("content-type")
    if content_type is not None:
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type not in content:
            raise AssertionError(f"{context}: Content-Type {content_type!r} is not one of {sorted(content)}")
        schema_key = media_type
    else:
        schema_key = next(iter(content))

    errors = _schema_errors(_validator(schema_key, op_method, template, str(status)), body)
    if errors:
        raise AssertionError(f"{context}: body does not match openapi.yaml:\n" + "\n".join(errors))


@functools.cache
def _request_validator(method: str, template: str) -> OAS30Validator:
    operation = _resolved_operation(method, template)
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    return OAS30Validator(schema, format_checker=oas30_format_checker)


def assert_request_matches(method: str, path: str, body: Any) -> None:
    """Raise AssertionError unless `body` is a valid JSON request body for the operation
    (for instance a queue message, which has the same schema as POST /api/connections)."""
    template, operation = find_operation(method, path)
    if "requestBody" not in operation:
        raise AssertionError(f"{method.upper()} {template} takes no request body")
    errors = _schema_errors(_request_validator(method.lower(), template), body)
    if errors:
        raise AssertionError(
            f"{method.upper()} {template}: request body does not match openapi.yaml:\n" + "\n".join(errors)
        )
