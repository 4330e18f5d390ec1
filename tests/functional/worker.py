"""A separate worker process: POSTs to one HTTP function, each answer printed as a JSON line.

Usage: python -m tests.functional.worker '<json body>' [start_at_epoch] [function] [threads]
`function` is `create_connection_http` (default) or `create_dataflow_http`; `threads` concurrent
calls (default 1) start together at `start_at_epoch`. The environment carries the app settings.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from devstack.host import http_request, indexed_function

PATHS = {"create_connection_http": "/api/connections", "create_dataflow_http": "/api/dataflows"}


def main() -> None:
    body = json.loads(sys.argv[1])
    name = sys.argv[3] if len(sys.argv) > 3 else "create_connection_http"
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    function = indexed_function(name)
    from shared.runtime import get_runtime

    get_runtime()  # build the clients before the start line, so every worker starts together
    if len(sys.argv) > 2:
        time.sleep(max(0.0, float(sys.argv[2]) - time.time()))

    def call(_: int) -> str:
        response = function(http_request("POST", PATHS[name], body=body))
        answer = {
            "status": response.status_code,
            "headers": dict(response.headers),
            "body": json.loads(response.get_body()),
        }
        return json.dumps(answer)

    with ThreadPoolExecutor(threads) as pool:
        for line in pool.map(call, range(threads)):
            print(line, flush=True)
    from shared import telemetry

    telemetry.flush()  # with APPLICATIONINSIGHTS_CONNECTION_STRING: export before the process exits


if __name__ == "__main__":
    main()
