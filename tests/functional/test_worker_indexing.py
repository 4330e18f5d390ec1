"""The app as Azure's Python 3.13+ worker indexes it: the real loader of `azure-functions-runtime`.

On 3.13 and newer Azure runs the worker from the `azure-functions-runtime` package. Its loader
imports `function_app.py`, finds the one `FunctionApp`, and sends the host each function's raw
bindings; its registry then checks every function's signature against those bindings. This test
runs both and compares the bindings with what the contract names (trigger types, directions,
queue names and connections, routes, auth levels, the timer schedule).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from devstack.azurite import find_repo_root

if sys.version_info < (3, 13):
    pytest.skip("the azure-functions-runtime worker is what Azure runs on Python 3.13+", allow_module_level=True)


def _http(method: str | list[str], route: str) -> list[dict[str, Any]]:
    return [
        {
            "direction": "IN",
            "type": "httpTrigger",
            "name": "req",
            "methods": method if isinstance(method, list) else [method],
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
    "health_timer": [
        {
            "direction": "IN",
            "type": "timerTrigger",
            "name": "timer",
            "schedule": "%HEALTH_SCHEDULE%",
            "runOnStartup": False,
            "useMonitor": True,
        }
    ],
    "adobe_events_http": _http(["GET", "POST"], "adobe-events"),
}

# A fresh process, as the worker is: the loader imports function_app.py itself (an app's functions
# are indexed once per process). The worker gets its protobuf module from the host connection;
# only the BindingInfo enum values (FunctionRpc.proto numbering) are read while registering.
WORKER = """
import json, sys
from types import SimpleNamespace
from azure_functions_runtime import loader
from azure_functions_runtime.bindings.meta import load_binding_registry
from azure_functions_runtime.functions import Registry

protos = SimpleNamespace(BindingInfo=SimpleNamespace(**{"in": 0}, out=1, inout=2, undefined=0))
load_binding_registry()
registry = Registry()
out = {}
for function in loader.index_function_app(sys.argv[1]):
    info = registry.add_indexed_function(function=function, protos=protos)
    raw, _ = loader.get_fx_raw_bindings(function, info)
    out[function.get_function_name()] = {
        "bindings": [json.loads(b) for b in raw],
        "name": info.name,
        "requires_context": info.requires_context,
        "input_types": sorted(info.input_types),
        "has_return": info.return_type is not None,
        "deferred": info.deferred_bindings_enabled,
    }
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def indexed() -> dict[str, Any]:
    root = find_repo_root()
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(root / "function_app.py")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_worker_finds_every_function_of_the_contract(indexed: dict[str, Any]) -> None:
    assert sorted(indexed) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_raw_bindings_are_what_the_host_expects(indexed: dict[str, Any], name: str) -> None:
    assert indexed[name]["bindings"] == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_worker_registry_accepts_each_signature(indexed: dict[str, Any], name: str) -> None:
    info = indexed[name]
    assert info["name"] == name and not info["deferred"]
    assert info["requires_context"], "every function takes `context` (its invocation id is on the outcome line)"
    trigger = next(b["name"] for b in EXPECTED[name] if b["type"].endswith("Trigger"))
    assert info["input_types"] == [trigger]
    assert info["has_return"] is name.endswith("_http")
