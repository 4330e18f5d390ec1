"""The function path, as a measured child: `create_connection_http` driven the way the host drives it.

    python -m bench.worker cold SPAWN_TS NAMESPACE   # one cold start, then exit
    python -m bench.worker serve                      # JSON-lines command loop (see bench.child)

The function is found the way the host indexes the app (`function_app.app.get_functions()`, as
`devstack.host.indexed_function` does, without importing devstack). The HTTP request object is
built outside the timed region (the host builds it), exactly as the baseline child does; the timed
region is the function call.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from bench.child import cold_main, dataflow_request, http_request, hub_event, serve

FUNCTION = "create_connection_http"


_INDEX: dict[str, Callable[..., Any]] = {}


def indexed_function(name: str = FUNCTION) -> Callable[[Any], Any]:
    """The user function registered under `name` in function_app.app, as the host indexes it (once),
    called as the worker calls it: with a `context` carrying a new invocation id."""
    if not _INDEX:
        import function_app

        for function in function_app.app.get_functions():
            _INDEX[str(function.get_function_name())] = function.get_user_function()
    try:
        user = _INDEX[name]
    except KeyError:
        raise LookupError(f"no function named {name!r} is indexed") from None
    return lambda request: user(request, context=_context(name))


def _context(name: str) -> Any:
    """The worker's invocation context (the fields the app reads: function name, invocation id)."""
    import uuid
    from types import SimpleNamespace

    return SimpleNamespace(function_name=name, invocation_id=str(uuid.uuid4()))


class FunctionDriver:
    """Calls the indexed `create_connection_http`, in this process, on the stack the env points at."""

    def __init__(self) -> None:
        self._function: Callable[[Any], Any] | None = None
        self._dataflow: Callable[[Any], Any] | None = None
        self._hub_event: Callable[[Any], Any] | None = None

    def setup(self, namespace: str) -> int:
        self._function = indexed_function()
        return self.create(self.request(namespace))

    def request(self, namespace: str) -> Any:
        return http_request(namespace)

    def create(self, request: Any) -> int:
        assert self._function is not None
        return int(self._function(request).status_code)

    def repeat(self, request: Any) -> int:
        return self.create(request)

    def dataflow_request(self, namespace: str) -> Any:
        return dataflow_request(namespace)

    def dataflow(self, request: Any) -> int:
        if self._dataflow is None:
            self._dataflow = indexed_function("create_dataflow_http")
        return int(self._dataflow(request).status_code)

    def hub_event_request(self, namespace: str) -> Any:
        return hub_event(namespace)

    def hub_event(self, event: Any) -> int:
        if self._hub_event is None:
            self._hub_event = indexed_function("on_namespace_event")
        self._hub_event(event)  # an Event Grid trigger returns nothing; a failure raises
        return 204

    def counters(self) -> dict[str, int]:
        from shared.runtime import get_runtime

        runtime = get_runtime()
        return {
            "table_ops": int(getattr(runtime.records, "operations", -1))
            + int(getattr(runtime.dataflows.records, "operations", 0)),
            "kv_reads": int(getattr(runtime.secrets, "reads", -1)),
            "flow_calls": int(getattr(runtime.adobe, "calls", -1)),
            "ims_calls": int(getattr(runtime.adobe, "token_requests", -1)),
            "queue_writes": int(getattr(runtime.verifies, "sent", -1)),
            "cached_secrets": len(getattr(runtime.secrets, "_cache", ())),
        }


def first_request(namespace: str) -> tuple[int, float]:
    """Cold start: import the app, index it, build the request, call the function once."""
    function = indexed_function()
    imported = time.time()
    response = function(http_request(namespace))
    return int(response.status_code), imported


def main(argv: list[str]) -> int:
    if argv[:1] == ["cold"]:
        return cold_main(argv[1:], first_request)
    if argv[:1] == ["serve"]:
        return serve(FunctionDriver())
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
