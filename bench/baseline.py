"""The baseline, as a measured child: only the unavoidable work of an exactly-once create, same libraries.

    python -m bench.baseline cold SPAWN_TS NAMESPACE   # one cold start, then exit
    python -m bench.baseline serve                      # JSON-lines command loop (see bench.child)

Same libraries and settings as the function app: `ManagedIdentityCredential` + `SecretClient`
(`verify_challenge_resource=False` for the loopback vault, the CA bundle, `retry_total=0`),
azure-data-tables `TableClient` (`create_entity` for the claim, `update_entity` with the etag and
`MatchConditions.IfNotModified` to complete it), one `requests.Session` for the IMS token (fetched
once per worker) and the Flow Service POST. Each request arrives as the same `func.HttpRequest`
the function gets and is answered with a `func.HttpResponse` carrying the record as JSON.

Per new connection: read the table row (none yet: the contract reads before it claims), read the
namespace's secret from Key Vault, insert the claim row, POST to Flow Service, explore, update the row
with If-Match. Per existing connection: one table read. Per worker: create the table if missing, read
the three Adobe credential secrets, get one token, read the Event Hubs connection spec (its auth spec
names). With APPLICATIONINSIGHTS_CONNECTION_STRING, a cold start first configures the Azure Monitor
distro as the app does (same options), so "telemetry on" compares like with like.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.child import cold_main, dataflow_request, http_request, serve

SAS_SPEC = "Azure EventHub authentication credentials"
EVENT_HUBS_SPEC = {"id": "bf9f5905-92b7-48bf-bf20-455bc6b60a4e", "version": "1.0"}
FLOW_CONNECTIONS = "/data/foundation/flowservice/connections"
FLOW_CONNECTION_SPEC = "/data/foundation/flowservice/connectionSpecs/" + EVENT_HUBS_SPEC["id"]
LEASE = timedelta(seconds=120)


def _import_libraries() -> None:
    """Everything the function app imports from outside the project (cold start parity)."""
    import azure.functions  # noqa: F401
    import requests  # noqa: F401
    from azure.core import MatchConditions  # noqa: F401
    from azure.data.tables import TableServiceClient  # noqa: F401
    from azure.identity import ManagedIdentityCredential  # noqa: F401
    from azure.keyvault.secrets import SecretClient  # noqa: F401


class Baseline:
    """The direct clients, built once per worker, and the unavoidable calls per request."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.vault_url = env["KEY_VAULT_URL"]
        self.ca_bundle = env.get("REQUESTS_CA_BUNDLE")
        self.storage = env["AzureWebJobsStorage"]
        self.table_name = env.get("CONNECTIONS_TABLE", "EventHubsConnections")
        self.flows_table_name = env.get("DATAFLOWS_TABLE", "EventHubsDataflows")
        self.dataset_id = env.get("BENCH_DATASET_ID", "")
        self.platform_url = env["ADOBE_PLATFORM_URL"].rstrip("/")
        self.ims_url = env["ADOBE_IMS_URL"].rstrip("/")
        self.flow_url = env["ADOBE_PLATFORM_URL"].rstrip("/") + FLOW_CONNECTIONS
        self.scopes = env["ADOBE_SCOPES"]
        self.sandbox = env.get("ADOBE_SANDBOX_NAME", "prod")
        self.secret_names = (
            env.get("ADOBE_CLIENT_ID_SECRET", "adobe-client-id"),
            env.get("ADOBE_CLIENT_SECRET_SECRET", "adobe-client-secret"),
            env.get("ADOBE_ORG_ID_SECRET", "adobe-org-id"),
        )
        self.sas_template = env.get("EVENTHUBS_SECRET_TEMPLATE", "eventhubs-sas-{namespace}")
        self.client_id = env.get("AZURE_CLIENT_ID")
        self.counts = {"table_ops": 0, "kv_reads": 0, "flow_calls": 0, "ims_calls": 0, "queue_writes": 0}
        self.secrets: Any = None
        self.table: Any = None
        self.flows: Any = None
        self.session: Any = None
        self.headers: dict[str, str] = {}

    # -- per worker ----------------------------------------------------------------------------

    def connect(self) -> None:
        """Clients, the table, the Adobe credential and one IMS token."""
        import requests
        from azure.data.tables import TableServiceClient
        from azure.identity import ManagedIdentityCredential
        from azure.keyvault.secrets import SecretClient

        credential = (
            ManagedIdentityCredential(client_id=self.client_id) if self.client_id else ManagedIdentityCredential()
        )
        common: dict[str, Any] = {"retry_total": 0, "logging_enable": False}
        if self.ca_bundle:
            common["connection_verify"] = self.ca_bundle
        self.secrets = SecretClient(
            self.vault_url,
            credential,
            verify_challenge_resource=False,
            connection_timeout=5.0,
            read_timeout=10.0,
            **common,
        )
        tables = TableServiceClient.from_connection_string(
            self.storage,
            retry_total=2,
            retry_backoff_factor=0.2,
            retry_backoff_max=2,
            connection_timeout=5,
            read_timeout=15,
            logging_enable=False,
        )
        tables.create_table_if_not_exists(self.table_name)
        self.counts["table_ops"] += 1
        self.table = tables.get_table_client(self.table_name)
        tables.create_table_if_not_exists(self.flows_table_name)
        self.counts["table_ops"] += 1
        self.flows = tables.get_table_client(self.flows_table_name)

        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.trust_env = False
        if self.ca_bundle:
            session.verify = self.ca_bundle
        self.session = session

        client_id, client_secret, org_id = (self._secret(name) for name in self.secret_names)
        self.counts["ims_calls"] += 1
        token = session.post(
            self.ims_url + "/ims/token/v3",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": client_secret,
                "scope": self.scopes,
            },
            timeout=(3.05, 10),
        )
        token.raise_for_status()
        self.headers = {
            "Authorization": "Bearer " + token.json()["access_token"],
            "x-api-key": client_id.strip(),
            "x-gw-ims-org-id": org_id.strip(),
            "x-sandbox-name": self.sandbox,
            "Accept": "application/json",
        }
        self.counts["flow_calls"] += 1
        spec = session.get(self.platform_url + FLOW_CONNECTION_SPEC, headers=self.headers, timeout=(3.05, 10))
        spec.raise_for_status()

    def _secret(self, name: str) -> str:
        self.counts["kv_reads"] += 1
        value = self.secrets.get_secret(name).value
        assert value is not None
        return str(value)

    # -- per request ---------------------------------------------------------------------------

    def create(self, req: Any, *, read_first: bool = True) -> Any:
        """The exactly-once create: table read, secret, claim row, Flow Service POST, explore, If-Match update."""
        import azure.functions as func
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        namespace = str(json.loads(req.get_body())["namespace"]).lower()
        if read_first:  # (a dataflow has just read it)
            self.counts["table_ops"] += 1
            try:
                self.table.get_entity(self.sandbox, f"{namespace}|")
                return _response(409, {"error": {"code": "ConnectionExists"}})  # never in the benchmark
            except ResourceNotFoundError:
                pass
        secret_name = self.sas_template.format(namespace=namespace)
        self.counts["kv_reads"] += 1
        secret = self.secrets.get_secret(secret_name)
        parts = dict(part.split("=", 1) for part in str(secret.value).split(";") if "=" in part)
        now = datetime.now(UTC)
        name = f"Azure Event Hubs {namespace}"
        entity: dict[str, Any] = {
            "PartitionKey": self.sandbox,
            "RowKey": f"{namespace}|",
            "Namespace": namespace,
            "State": "creating",
            "AuthType": "sas",
            "Name": name,
            "CreatedAt": now,
            "UpdatedAt": now,
            "SecretName": secret_name,
            "LeaseUntil": now + LEASE,
            "Owner": uuid.uuid4().hex,
        }
        self.counts["table_ops"] += 1
        claim = self.table.create_entity(entity)

        body = {
            "name": name,
            "description": f"Created by the Event Hubs connector for namespace {namespace}",
            "auth": {
                "specName": SAS_SPEC,
                "params": {
                    "sasKeyName": parts["SharedAccessKeyName"],
                    "sasKey": parts["SharedAccessKey"],
                    "namespace": namespace,
                },
            },
            "connectionSpec": EVENT_HUBS_SPEC,
        }
        self.counts["flow_calls"] += 1
        response = self.session.post(self.flow_url, json=body, headers=self.headers, timeout=(3.05, 10))
        if response.status_code != 201:
            return func.HttpResponse(response.content, status_code=502, mimetype="application/json")
        created = response.json()
        # Explore: the event hubs the new connection can read (the contract's verification of a connection).
        self.counts["flow_calls"] += 1
        explored = self.session.get(
            f"{self.flow_url}/{created['id']}/explore",
            params={"objectType": "root"},
            headers=self.headers,
            timeout=(3.05, 10),
        )
        hubs = json.dumps(sorted(i["name"] for i in explored.json())) if explored.status_code == 200 else None

        done = datetime.now(UTC)
        del entity["LeaseUntil"], entity["Owner"]
        entity.update(
            State="ready",
            UpdatedAt=done,
            ConnectionId=created["id"],
            AdobeEtag=created["etag"],
            SecretVersion=secret.properties.version,
            EventHubs=hubs,
        )
        self.counts["table_ops"] += 1
        self.table.update_entity(
            entity, mode=UpdateMode.REPLACE, etag=claim["etag"], match_condition=MatchConditions.IfNotModified
        )
        return _response(201, _record(entity, created=True))

    def repeat(self, req: Any) -> Any:
        """An existing connection: one table read, the record."""
        namespace = str(json.loads(req.get_body())["namespace"]).lower()
        self.counts["table_ops"] += 1
        entity = self.table.get_entity(self.sandbox, f"{namespace}|")
        if entity["State"] != "ready":
            return _response(409, {"error": {"code": "ConnectionBeingCreated"}})
        return _response(200, _record(entity, created=False))

    # -- per dataflow --------------------------------------------------------------------------

    def dataflow(self, req: Any) -> Any:
        """The unavoidable calls of a new namespace's dataflow: the connection (as `create`), the dataset,
        the consumer-group query, the claim row, three creates (source and target recorded at once), done."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        body = json.loads(req.get_body())
        namespace, hub = str(body["namespace"]).lower(), str(body["eventHubName"]).lower()
        self.counts["table_ops"] += 1
        try:
            existing = self.flows.get_entity(self.sandbox, f"{namespace}|{hub}")
            if existing["State"] == "ready":
                return _response(200, {"flowId": existing["FlowId"], "created": False})
        except ResourceNotFoundError:
            pass
        self.counts["table_ops"] += 1
        try:
            connection = dict(self.table.get_entity(self.sandbox, f"{namespace}|"))
        except ResourceNotFoundError:
            answer = json.loads(self.create(_connection_request(namespace), read_first=False).get_body())
            connection = {"ConnectionId": answer["connectionId"]}
        self.counts["flow_calls"] += 1
        dataset = self.session.get(
            f"{self.platform_url}/data/foundation/catalog/dataSets/{self.dataset_id}",
            headers=self.headers,
            timeout=(3.05, 10),
        ).json()[self.dataset_id]
        self.counts["table_ops"] += 1
        list(self.flows.query_entities("Namespace eq @ns", parameters={"ns": namespace}))
        now = datetime.now(UTC)
        base = f"Azure Event Hubs {namespace} {hub}"
        entity: dict[str, Any] = {
            "PartitionKey": self.sandbox,
            "RowKey": f"{namespace}|{hub}",
            "Namespace": namespace,
            "EventHubName": hub,
            "State": "creating",
            "Name": f"{base} dataflow",
            "CreatedAt": now,
            "UpdatedAt": now,
            "DatasetId": self.dataset_id,
            "DataType": "xdm",
            "ConsumerGroup": "$Default",
            "Reset": "earliest",
            "ConnectionId": connection["ConnectionId"],
            "LeaseUntil": now + LEASE,
            "Owner": uuid.uuid4().hex,
        }
        self.counts["table_ops"] += 1
        etag = self.flows.create_entity(entity)["etag"]
        flow_service = self.platform_url + "/data/foundation/flowservice"
        bodies = {
            "sourceConnections": {
                "name": f"{base} source",
                "description": "d",
                "baseConnectionId": connection["ConnectionId"],
                "connectionSpec": EVENT_HUBS_SPEC,
                "data": {"format": "json"},
                "params": {"eventHubName": hub, "dataType": "xdm", "reset": "earliest", "consumerGroup": "$Default"},
            },
            "targetConnections": {
                "name": f"{base} target",
                "description": "d",
                "data": {
                    "format": "parquet_xdm",
                    "schema": {"id": dataset["schemaRef"]["id"], "version": dataset["schemaRef"]["contentType"]},
                },
                "params": {"dataSetId": self.dataset_id},
                "connectionSpec": {"id": "c604ff05-7f1a-43c0-8e18-33bf874cb11c", "version": "1.0"},
            },
        }
        columns = {"sourceConnections": "SourceConnectionId", "targetConnections": "TargetConnectionId"}
        for kind, payload in bodies.items():
            self.counts["flow_calls"] += 1
            made = self.session.post(f"{flow_service}/{kind}", json=payload, headers=self.headers, timeout=(3.05, 10))
            entity[columns[kind]] = made.json()["id"]
            self.counts["table_ops"] += 1
            etag = self.flows.update_entity(
                entity, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
            )["etag"]
        flow = {
            "name": f"{base} dataflow",
            "description": "d",
            "flowSpec": {"id": "d69717ba-71b4-4313-b654-49f9cf126d7a", "version": "1.0"},
            "sourceConnectionIds": [entity["SourceConnectionId"]],
            "targetConnectionIds": [entity["TargetConnectionId"]],
        }
        self.counts["flow_calls"] += 1
        made = self.session.post(f"{flow_service}/flows", json=flow, headers=self.headers, timeout=(3.05, 10))
        del entity["LeaseUntil"], entity["Owner"]
        entity.update(State="ready", FlowId=made.json()["id"], UpdatedAt=datetime.now(UTC))
        self.counts["table_ops"] += 1
        self.flows.update_entity(
            entity, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
        )
        return _response(201, {"flowId": entity["FlowId"], "created": True})


def _connection_request(namespace: str) -> Any:
    return http_request(namespace)


def _iso(value: Any) -> str:
    return value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else str(value)


def _record(entity: Mapping[str, Any], *, created: bool) -> dict[str, Any]:
    return {
        "connectionId": entity.get("ConnectionId"),
        "etag": entity.get("AdobeEtag"),
        "namespace": entity["Namespace"],
        "sandbox": entity["PartitionKey"],
        "eventHubName": None,
        "authType": entity["AuthType"],
        "state": entity["State"],
        "name": entity["Name"],
        "createdAt": _iso(entity["CreatedAt"]),
        "updatedAt": _iso(entity["UpdatedAt"]),
        "lastError": None,
        "created": created,
    }


def _response(status: int, body: dict[str, Any]) -> Any:
    import azure.functions as func

    return func.HttpResponse(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status_code=status,
        mimetype="application/json",
        charset="utf-8",
    )


class BaselineDriver:
    """The baseline behind the same command loop as the function path."""

    def __init__(self) -> None:
        self.baseline = Baseline(os.environ)

    def setup(self, namespace: str) -> int:
        self.baseline.connect()
        return self.create(self.request(namespace))

    def request(self, namespace: str) -> Any:
        return http_request(namespace)

    def create(self, request: Any) -> int:
        return int(self.baseline.create(request).status_code)

    def repeat(self, request: Any) -> int:
        return int(self.baseline.repeat(request).status_code)

    def dataflow_request(self, namespace: str) -> Any:
        return dataflow_request(namespace)

    def dataflow(self, request: Any) -> int:
        return int(self.baseline.dataflow(request).status_code)

    def hub_event_request(self, namespace: str) -> Any:
        raise NotImplementedError("the baseline has no Event Grid path (the latency row compares with the ideal)")

    def hub_event(self, event: Any) -> int:
        raise NotImplementedError("the baseline has no Event Grid path")

    def counters(self) -> dict[str, int]:
        return dict(self.baseline.counts)


def configure_telemetry() -> None:
    """With APPLICATIONINSIGHTS_CONNECTION_STRING: the Azure Monitor distro, configured as shared/telemetry.py
    configures it (every trace, the HTTP libraries' instrumentation off, no live metrics); no spans of its own."""
    connection_string = os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING")
    if not connection_string:
        return
    from azure.monitor.opentelemetry import configure_azure_monitor

    os.environ.setdefault("OTEL_TRACES_SAMPLER", "microsoft.fixed_percentage")
    os.environ.setdefault("OTEL_TRACES_SAMPLER_ARG", "1.0")
    configure_azure_monitor(
        connection_string=connection_string,
        logger_name="eventhubs_connector",
        instrumentation_options={lib: {"enabled": False} for lib in ("azure_sdk", "requests", "urllib", "urllib3")},
        enable_live_metrics=False,
    )


def first_request(namespace: str) -> tuple[int, float]:
    """Cold start: the same libraries imported (and telemetry configured when on), the same per-worker calls,
    then the same first request."""
    _import_libraries()
    configure_telemetry()
    imported = time.time()
    baseline = Baseline(os.environ)
    baseline.connect()
    response = baseline.create(http_request(namespace))
    return int(response.status_code), imported


def main(argv: list[str]) -> int:
    if argv[:1] == ["cold"]:
        return cold_main(argv[1:], first_request)
    if argv[:1] == ["serve"]:
        return serve(BaselineDriver())
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
