"""`make demo`: the main job on local defaults, no Azure or Adobe account needed.

Starts Azurite and the loopback stand-ins (managed identity, Key Vault over HTTPS, Adobe IMS and
Flow Service), stores a sample namespace's SAS connection string in the vault, creates its Adobe
connection through `create_connection_http` exactly as the Functions host would call it, prints
the response and the stored record, shows the repeat answering 200, and stops everything.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from azure.data.tables import TableServiceClient

from devstack.azurite import find_repo_root
from devstack.host import http_request, indexed_function, response_json
from devstack.stack import LocalStack

NAMESPACE = "contoso-telemetry"


def _show(title: str, value: Any) -> None:
    print(f"\n== {title}")
    print(json.dumps(value, indent=2, default=str, sort_keys=True))


def main() -> int:
    """Run the demo; the exit status says whether every step answered as expected."""
    from shared.runtime import reset_runtime

    ok = True
    with LocalStack(find_repo_root(), events_queue="eventhubs-connection-events") as stack:
        os.environ.update(stack.env())
        reset_runtime()
        secret_name, _, _ = stack.add_eventhubs_namespace(NAMESPACE)
        azurite_pid = stack.azurite.pid if stack.azurite else "-"
        print(f"Local stack up: Azurite (pid {azurite_pid}), Key Vault {stack.keyvault.url}")
        print(f"Adobe IMS {stack.adobe.ims_url}, Flow Service {stack.adobe.platform_url}")
        print(f"Stored the SAS connection string of '{NAMESPACE}' as Key Vault secret '{secret_name}'.")

        create = indexed_function("create_connection_http")
        request = {"namespace": NAMESPACE, "description": "Demo connection"}
        _show(f"POST /api/connections {json.dumps(request)}", request)
        first = create(http_request("POST", "/api/connections", body=request))
        _show(f"HTTP {first.status_code} (expected 201)", response_json(first))
        ok &= first.status_code == 201

        tables = TableServiceClient.from_connection_string(stack.storage_connection_string)
        entity = tables.get_table_client(stack.connections_table).get_entity("prod", f"{NAMESPACE}|")
        _show(f"Stored record (table {stack.connections_table})", dict(entity))

        again = create(http_request("POST", "/api/connections", body=request))
        _show(f"Repeat: HTTP {again.status_code} (expected 200, no Adobe call)", response_json(again))
        ok &= again.status_code == 200

        fetched = indexed_function("get_connection_http")(
            http_request("GET", f"/api/connections/{NAMESPACE}", route_params={"namespace": NAMESPACE})
        )
        _show(f"GET /api/connections/{NAMESPACE}: HTTP {fetched.status_code}", response_json(fetched))
        ok &= fetched.status_code == 200

        creates = len(stack.adobe.calls("POST", r"/connections$"))
        print(f"\nAdobe connections in the stand-in: {len(stack.adobe.connections('prod'))}; create calls: {creates}")
        ok &= creates == 1
        reset_runtime()
    print("\nLocal stack stopped. Demo", "succeeded." if ok else "FAILED.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
