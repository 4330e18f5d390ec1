"""The app as Azure's Python 3.13+ worker indexes it: the real loader of `azure-functions-runtime`.

On 3.13 and newer Azure runs the worker from the `azure-functions-runtime` package. Its loader
imports `function_app.py`, finds the one `FunctionApp`, and sends the host each function's raw
bindings; its registry then checks every function's signature against those bindings. This test
runs both and compares the bindings with what the contract names (trigger types, directions,
queue names and connections, routes, auth levels, the timer schedule).
"""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace
from typing import Any

import pytest

from devstack.azurite import find_repo_root

if sys.version_info < (3, 13):
    pytest.skip("the azure-functions-runtime worker is what Azure runs on Python 3.13+", allow_module_level=True)

from azure_functions_runtime import loader  # noqa: E402  (3.13+: a missing package fails the test)
from azure_functions_runtime.bindings.meta import load_binding_registry  # noqa: E402
from azure_functions_runtime.functions import Registry  # noqa: E402


def _http(method: str, route: str) -> list[dict[str, Any]]:
    return [
        {
            "direction": "IN",
            "type": "httpTrigger",
            "name": "req",
            "methods": [method],
            "authLevel": "FUNCTION",
            "route": route,
        },
        {"direction": "OUT", "type": "http", "name": "$return"},
    ]


EXPECTED: dict[str, list[dict[str, Any]]] = {
    "create_connection_http": _http("POST", "connections"),
    "get_connection_http": _http("GET", "connections/{namespace}"),
    "create_dataflow_http": _http("POST", "dataflows"),
    "get_dataflow_http": _http("GET", "dataflows/{namespace}/{eventHubName}"),
    "create_connection_queue": [
        {
            "direction": "IN",
            "type": "queueTrigger",
            "name": "msg",
            "queueName": "eventhubs-connection-requests",
            "connection": "AzureWebJobsStorage",
        }
    ],
    "on_namespace_event": [{"direction": "IN", "type": "eventGridTrigger", "name": "event"}],
    "on_secret_event": [{"direction": "IN", "type": "eventGridTrigger", "name": "event"}],
    "reconcile_timer": [
        {
            "direction": "IN",
            "type": "timerTrigger",
            "name": "timer",
            "schedule": "%RECONCILE_SCHEDULE%",
            "runOnStartup": False,
            "useMonitor": True,
        }
    ],
}

# The worker gets its protobuf module from the host connection; only these enum values are read
# while registering a function (BindingInfo.Direction and BindingInfo.DataType, as numbered in
# the Functions host's FunctionRpc.proto).
PROTOS = SimpleNamespace(BindingInfo=SimpleNamespace(**{"in": 0}, out=1, inout=2, undefined=0))


@pytest.fixture(scope="module")
def indexed() -> list[Any]:
    path = find_repo_root() / "function_app.py"
    sys.path.insert(0, str(path.parent))
    load_binding_registry()  # what the worker does when the host initialises it
    functions: list[Any] = loader.index_function_app(str(path))
    return functions


def test_the_worker_finds_every_function_of_the_contract(indexed: list[Any]) -> None:
    assert sorted(f.get_function_name() for f in indexed) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_raw_bindings_are_what_the_host_expects(indexed: list[Any], name: str) -> None:
    function = next(f for f in indexed if f.get_function_name() == name)
    raw = [json.loads(binding) for binding in loader.get_fx_raw_bindings(function, _registered(function))[0]]
    assert raw == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_worker_registry_accepts_each_signature(indexed: list[Any], name: str) -> None:
    function = next(f for f in indexed if f.get_function_name() == name)
    info = _registered(function)
    assert info.name == name
    assert not info.deferred_bindings_enabled
    trigger = next(b for b in function.get_bindings() if b.type.endswith("Trigger"))
    assert trigger.name in info.input_types
    assert info.return_type is not None if name.endswith("_http") else info.return_type is None


def _registered(function: Any) -> Any:
    return Registry().add_indexed_function(function=function, protos=PROTOS)
