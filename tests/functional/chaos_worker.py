"""A worker process of the chaos test: runs a list of HTTP, queue and Event Grid deliveries on a thread pool.

Usage: python -m tests.functional.chaos_worker <plan.json>
The plan is `{"ops": [...], "threads": n, "log": "<path>"}`; each op is
`{"id", "kind": "http"|"http_dataflow"|"queue"|"event", "body"}` (for an event, `body` is the Event Grid event). Prints one JSON line per op:
`{"id", "kind", "status"}` with the HTTP status and body, or `"ok"` / `"raised"` for queue and event deliveries.
The environment carries the app settings, as the Functions host sets them.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from devstack.host import event_grid_event, http_request, indexed_function, queue_message
from shared.clock import Clock

#: The HTTP kinds of op: the function and its route.
HTTP = {
    "http": ("create_connection_http", "/api/connections"),
    "http_dataflow": ("create_dataflow_http", "/api/dataflows"),
}


def run(op: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"id": op["id"], "kind": op["kind"]}
    try:
        if op["kind"] in HTTP:
            function, route = HTTP[op["kind"]]
            response = indexed_function(function)(http_request("POST", route, body=op["body"]))
            result.update(status=response.status_code, body=json.loads(response.get_body()))
        elif op["kind"] == "queue":
            indexed_function("create_connection_queue")(queue_message(op["body"]))
            result["status"] = "ok"
        elif op["kind"] == "rotate":  # a new key stored in Key Vault (its REST API), then its Event Grid event
            rotate_in_key_vault(op["secret"], op["value"])
            indexed_function("on_secret_event")(event_grid_event(op["body"]))
            result["status"] = "ok"
        else:
            indexed_function("on_namespace_event")(event_grid_event(op["body"]))
            result["status"] = "ok"
    except Exception as err:  # the platform redelivers: the parent replays it
        result.update(status="raised", error=type(err).__name__)
    return result


def rotate_in_key_vault(name: str, value: str) -> None:
    """`SetSecret` through the real Key Vault client, with the app's credential and trust."""
    import os

    from azure.keyvault.secrets import SecretClient

    from shared.runtime import get_runtime

    runtime = get_runtime()
    client = SecretClient(
        os.environ["KEY_VAULT_URL"],
        runtime.credential,
        verify_challenge_resource=False,
        connection_verify=runtime.settings.ca_bundle or True,
    )
    client.set_secret(name, value)


def main() -> None:
    plan = json.loads(Path(sys.argv[1]).read_text())
    handler = logging.FileHandler(plan["log"])
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.DEBUG)
    from shared.runtime import get_runtime

    skew = timedelta(seconds=float(plan.get("clock_skew_seconds", 0)))  # a worker whose clock runs ahead
    get_runtime(clock=Clock(now=lambda: datetime.now(UTC) + skew, monotonic=time.monotonic, sleep=time.sleep))
    with ThreadPoolExecutor(plan["threads"]) as pool:
        for result in pool.map(run, plan["ops"]):
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
