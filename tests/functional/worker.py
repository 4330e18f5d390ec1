"""A separate worker process: one create_connection_http call, answer printed as JSON.

Usage: python -m tests.functional.worker '<json body>' [start_at_epoch]
The environment carries the app settings (as the Functions host sets them).
"""

from __future__ import annotations

import json
import sys
import time

from devstack.host import http_request, indexed_function


def main() -> None:
    body = json.loads(sys.argv[1])
    function = indexed_function("create_connection_http")
    from shared.runtime import get_runtime

    get_runtime()  # build the clients before the start line, so every worker starts together
    if len(sys.argv) > 2:
        time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
    response = function(http_request("POST", "/api/connections", body=body))
    print(json.dumps({"status": response.status_code, "headers": dict(response.headers), "body": json.loads(response.get_body())}))


if __name__ == "__main__":
    main()
