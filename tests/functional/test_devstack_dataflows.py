"""The Adobe stand-in's streaming dataflow objects, with plain HTTP: Catalog datasets, explore,
source and target connections, flows, and the same faults and error knobs as /connections."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from devstack.adobe import (
    DATA_LAKE_SPEC_ID,
    EVENTHUBS_SPEC_ID,
    FLOW_SPEC_ID,
    SAS_SPEC,
    AdobeStandIn,
)
from devstack.faults import Fault

TIMEOUT = 5
CLIENT_ID = "dataflows-client"
CLIENT_SECRET = "p8e-dataflows-secret"
ORG_ID = "0123456789ABCDEF01234567@AdobeOrg"
pytestmark = pytest.mark.timeout(60)


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def adobe() -> Iterator[AdobeStandIn]:
    with AdobeStandIn(CLIENT_ID, CLIENT_SECRET, ORG_ID, sandboxes=("prod", "dev")) as standin:
        yield standin


@pytest.fixture(autouse=True)
def _clean_adobe(adobe: AdobeStandIn) -> Iterator[None]:
    adobe.reset()
    yield
    errors = [*adobe.ims.errors, *adobe.platform.errors]
    adobe.ims.errors.clear()
    adobe.platform.errors.clear()
    assert not errors, "a stand-in handler raised:\n" + "\n".join(errors)


class Platform:
    """Small Platform client for the tests (a token from the IMS stand-in, the gateway headers)."""

    def __init__(self, adobe: AdobeStandIn, sandbox: str = "prod") -> None:
        token = requests.post(
            adobe.ims_url + "/ims/token/v3",
            data={
                "grant_type": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "scope": "openid,AdobeID,read_organizations",
            },
            timeout=TIMEOUT,
        )
        assert token.status_code == 200, token.text
        self.base = adobe.flow_service_url
        self.catalog = adobe.catalog_url
        self.headers = {
            "Authorization": f"Bearer {token.json()['access_token']}",
            "x-api-key": CLIENT_ID,
            "x-gw-ims-org-id": ORG_ID,
            "x-sandbox-name": sandbox,
        }

    def post(self, path: str, body: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT)
        return requests.post(self.base + path, json=body, headers=self.headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.base + path, headers=self.headers, timeout=TIMEOUT, **kwargs)

    def delete(self, path: str) -> requests.Response:
        return requests.delete(self.base + path, headers=self.headers, timeout=TIMEOUT)

    def created(self, path: str, body: Any) -> str:
        answer = self.post(path, body)
        assert answer.status_code == 201, answer.text
        assert set(answer.json()) == {"id", "etag"}
        created_id: str = answer.json()["id"]
        return created_id


@pytest.fixture
def api(adobe: AdobeStandIn) -> Platform:
    return Platform(adobe)


def code(response: requests.Response) -> str:
    """``FLOW-1402-400`` from a problem-style error."""
    value: str = response.json()["type"]
    return value.rsplit("/", 1)[1]


def connection_body(namespace: str = "contoso-telemetry", **extra: str) -> dict[str, Any]:
    params = {"sasKeyName": "RootManageSharedAccessKey", "sasKey": "k3y=", "namespace": namespace, **extra}
    return {
        "name": f"Azure Event Hubs {namespace}",
        "description": "created by the dataflow tests",
        "auth": {"specName": SAS_SPEC, "params": params},
        "connectionSpec": {"id": EVENTHUBS_SPEC_ID, "version": "1.0"},
    }


def source_body(base_id: str, hub: str = "clicks", **params: str) -> dict[str, Any]:
    return {
        "name": f"Azure Event Hubs contoso-telemetry {hub} source",
        "description": "source",
        "baseConnectionId": base_id,
        "connectionSpec": {"id": EVENTHUBS_SPEC_ID, "version": "1.0"},
        "data": {"format": "json"},
        "params": {"eventHubName": hub, "dataType": "xdm", "reset": "latest", "consumerGroup": "$Default", **params},
    }


def target_body(adobe: AdobeStandIn, dataset_id: str, name: str = "target") -> dict[str, Any]:
    (dataset,) = [d for d in adobe.datasets() if d["id"] == dataset_id]
    return {
        "name": name,
        "description": "target",
        "data": {
            "format": "parquet_xdm",
            "schema": {"id": dataset["schemaRef"]["id"], "version": dataset["schemaRef"]["contentType"]},
        },
        "params": {"dataSetId": dataset_id},
        "connectionSpec": {"id": DATA_LAKE_SPEC_ID, "version": "1.0"},
    }


def flow_body(source_id: str, target_id: str, name: str = "dataflow", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": "flow",
        "flowSpec": {"id": FLOW_SPEC_ID, "version": "1.0"},
        "sourceConnectionIds": [source_id],
        "targetConnectionIds": [target_id],
        **extra,
    }


def source_and_target(
    adobe: AdobeStandIn, api: Platform, hub: str = "clicks", group: str = "$Default"
) -> tuple[str, str]:
    """A base connection (reused per namespace), a source on ``hub``/``group`` and a new target."""
    existing = [c["id"] for c in adobe.connections() if c["auth"]["params"]["namespace"] == "contoso-telemetry"]
    base_id = existing[0] if existing else api.created("/connections", connection_body())
    source_id = api.created("/sourceConnections", source_body(base_id, hub, consumerGroup=group))
    dataset_id = adobe.add_dataset(f"{hub} events")
    return source_id, api.created("/targetConnections", target_body(adobe, dataset_id))


# -- happy path ----------------------------------------------------------------------------------


def test_connection_explore_dataset_source_target_flow(adobe: AdobeStandIn, api: Platform) -> None:
    connection_id = api.created("/connections", connection_body())
    adobe.set_event_hubs("contoso-telemetry", ["clicks", "orders"])
    listing = api.get(f"/connections/{connection_id}/explore", params={"objectType": "root"})
    assert listing.status_code == 200, listing.text
    assert listing.json() == [
        {"type": "table", "name": hub, "path": hub, "canPreview": True, "canFetchSchema": True}
        for hub in ("clicks", "orders")
    ]

    dataset_id = adobe.add_dataset("Clicks")
    assert len(dataset_id) == 24
    read = requests.get(f"{api.catalog}/dataSets/{dataset_id}", headers=api.headers, timeout=TIMEOUT)
    assert read.status_code == 200, read.text
    assert list(read.json()) == [dataset_id]
    dataset = read.json()[dataset_id]
    assert dataset["name"] == "Clicks" and "id" not in dataset
    assert dataset["schemaRef"]["id"].startswith("https://ns.adobe.com/devstack/schemas/")
    assert dataset["schemaRef"]["contentType"] == "application/vnd.adobe.xed-full+json;version=1"

    sent_source = source_body(connection_id, "clicks", dataType="raw", reset="earliest", consumerGroup="adobe")
    source_id = api.created("/sourceConnections", sent_source)
    sent_target = {
        "name": "Azure Event Hubs contoso-telemetry clicks target",
        "description": "target",
        "data": {
            "format": "parquet_xdm",
            "schema": {"id": dataset["schemaRef"]["id"], "version": dataset["schemaRef"]["contentType"]},
        },
        "params": {"dataSetId": dataset_id},
        "connectionSpec": {"id": DATA_LAKE_SPEC_ID, "version": "1.0"},
    }
    target_id = api.created("/targetConnections", sent_target)
    mapping = [{"name": "Mapping", "params": {"mappingId": "380b032b445a46008e77585e046efe5e", "mappingVersion": 0}}]
    flow_id = api.created("/flows", flow_body(source_id, target_id, "clicks dataflow", transformations=mapping))
    assert len({connection_id, source_id, target_id, flow_id}) == 4

    (source,) = adobe.source_connections()
    assert source["id"] == source_id and source["baseConnectionId"] == connection_id
    assert {k: source[k] for k in sent_source} == sent_source
    (target,) = adobe.target_connections()
    assert target["id"] == target_id and {k: target[k] for k in sent_target} == sent_target
    (flow,) = adobe.flows()
    assert flow["id"] == flow_id and flow["sourceConnectionIds"] == [source_id]
    kept = [{"name": "Mapping", "params": {"mappingId": "380b032b445a46008e77585e046efe5e", "mappingVersion": "0"}}]
    assert flow["targetConnectionIds"] == [target_id] and flow["transformations"] == kept  # the spec's string
    for document in (source, target, flow):
        assert document["state"] == "enabled" and document["etag"].startswith('"') and document["createdAt"] > 0
        assert document["sandboxName"] == "prod"
    assert adobe.flows("dev") == [] and adobe.source_connections("dev") == [] and adobe.datasets("dev") == []

    fetched = api.get(f"/flows/{flow_id}")
    assert fetched.status_code == 200 and fetched.json() == {"items": [flow]}
    assert api.get(f"/sourceConnections/{source_id}").json()["items"][0]["params"]["consumerGroup"] == "adobe"
    assert api.get(f"/targetConnections/{target_id}").json()["items"][0]["params"] == {"dataSetId": dataset_id}
    by_base = api.get("/sourceConnections", params={"property": f"baseConnectionId=={connection_id}"})
    assert [i["id"] for i in by_base.json()["items"]] == [source_id]
    by_name = api.get("/targetConnections", params={"property": f"name=={sent_target['name']}"})
    assert [i["id"] for i in by_name.json()["items"]] == [target_id]
    by_spec = api.get("/flows", params=[("property", f"flowSpec.id=={FLOW_SPEC_ID}"), ("property", f"id=={flow_id}")])
    assert [i["id"] for i in by_spec.json()["items"]] == [flow_id]
    assert api.get("/flows", params={"property": "name==nothing"}).json()["items"] == []
    assert api.get("/flows", params={"property": "bogus==1"}).status_code == 400
    for kind in ("sourceConnections", "targetConnections"):
        missing = api.get(f"/{kind}/00000000-0000-0000-0000-000000000000")
        assert (missing.status_code, code(missing)) == (404, "FLOW-1401-404")
    missing_flow = api.get("/flows/00000000-0000-0000-0000-000000000000")
    assert (missing_flow.status_code, code(missing_flow)) == (404, "FLOW-1439-404")

    adobe.reset()
    assert adobe.flows() == [] and adobe.source_connections() == [] and adobe.target_connections() == []
    assert adobe.datasets() == [] and adobe.connections() == []


def test_catalog_is_behind_the_same_gateway(adobe: AdobeStandIn, api: Platform) -> None:
    dataset_id = adobe.add_dataset("Orders", dataset_id="5f7187bac6d00f194fb937c0")
    url = f"{api.catalog}/dataSets/{dataset_id}"
    assert dataset_id == "5f7187bac6d00f194fb937c0"
    no_token = {k: v for k, v in api.headers.items() if k != "Authorization"}
    assert requests.get(url, headers=no_token, timeout=TIMEOUT).json() == {
        "error_code": "403010",
        "message": "Oauth token is missing.",
    }
    other = requests.get(url, headers={**api.headers, "x-sandbox-name": "dev"}, timeout=TIMEOUT)
    assert (other.status_code, code(other)) == (404, "CAT-1110-404")  # datasets live in one sandbox
    unknown = requests.get(url, headers={**api.headers, "x-sandbox-name": "nope"}, timeout=TIMEOUT)
    assert (unknown.status_code, code(unknown)) == (404, "FLOW-2100-404")
    missing = requests.get(f"{api.catalog}/dataSets/000000000000000000000000", headers=api.headers, timeout=TIMEOUT)
    assert missing.status_code == 404 and missing.json()["detail"] == "Dataset 000000000000000000000000 not found"
    assert missing.headers["x-request-id"]
    elsewhere = requests.get(adobe.platform_url + "/data/foundation/other/x", headers=api.headers, timeout=TIMEOUT)
    assert (elsewhere.status_code, elsewhere.json()["error_code"]) == (404, "404000")
    no_schema = adobe.add_dataset("Schemaless", schema_id="", sandbox="dev")
    assert "schemaRef" not in adobe.datasets("dev")[0] and adobe.datasets("dev")[0]["id"] == no_schema
    given = adobe.add_dataset("Given", schema_id="https://ns.adobe.com/acme/schemas/abc")
    assert adobe.datasets()[-1]["schemaRef"]["id"] == "https://ns.adobe.com/acme/schemas/abc"
    assert adobe.datasets()[-1]["id"] == given


def test_explore_scoped_refused_and_unknown(adobe: AdobeStandIn, api: Platform) -> None:
    wide = api.created("/connections", connection_body())
    scoped = api.created("/connections", connection_body(eventHubName="orders"))
    other = api.created("/connections", connection_body("quiet-namespace"))

    def explore(connection_id: str, **params: str) -> requests.Response:
        return api.get(f"/connections/{connection_id}/explore", params={"objectType": "root", **params})

    assert explore(wide).json() == []  # no event hubs set yet
    adobe.set_event_hubs("contoso-telemetry", ["clicks", "orders"])
    assert [i["name"] for i in explore(wide).json()] == ["clicks", "orders"]
    assert [i["name"] for i in explore(scoped).json()] == ["orders"]
    assert explore(other).json() == []
    adobe.set_event_hubs("contoso-telemetry", ["clicks"])  # replaces: "orders" was deleted
    assert explore(scoped).json() == []
    assert api.get(f"/connections/{wide}/explore").status_code == 400  # objectType is required

    adobe.refuse_explore("contoso-telemetry")
    refused = explore(wide)
    assert (refused.status_code, code(refused)) == (400, "FLOW-1401-400")
    assert "Failed to list the event hubs" in refused.json()["detail"] and "Manage" in refused.json()["detail"]
    assert explore(scoped).status_code == 400 and explore(other).status_code == 200
    adobe.refuse_explore("quiet-namespace", status=403)
    assert (explore(other).status_code, code(explore(other))) == (403, "FLOW-1401-403")
    missing = explore("00000000-0000-0000-0000-000000000000")
    assert (missing.status_code, code(missing)) == (404, "FLOW-1401-404")
    elsewhere = requests.get(
        f"{api.base}/connections/{wide}/explore",
        params={"objectType": "root"},
        headers={**api.headers, "x-sandbox-name": "dev"},
        timeout=TIMEOUT,
    )
    assert elsewhere.status_code == 404

    adobe.reset()
    again = api.created("/connections", connection_body())
    assert explore(again).status_code == 200 and explore(again).json() == []


# -- refusals ------------------------------------------------------------------------------------


def test_source_connection_refusals(adobe: AdobeStandIn, api: Platform) -> None:
    base_id = api.created("/connections", connection_body())
    unknown = api.post("/sourceConnections", source_body("00000000-0000-0000-0000-000000000000"))
    assert (unknown.status_code, code(unknown)) == (400, "FLOW-1402-400")
    assert "base connection not found" in unknown.json()["detail"]
    dev_base = Platform(adobe, "dev").created("/connections", connection_body())
    in_dev = api.post("/sourceConnections", source_body(dev_base))  # a connection of another sandbox
    assert (in_dev.status_code, code(in_dev)) == (400, "FLOW-1402-400")

    wrong_spec = source_body(base_id)
    wrong_spec["connectionSpec"] = {"id": DATA_LAKE_SPEC_ID, "version": "1.0"}
    old_version = {**source_body(base_id), "connectionSpec": {"id": EVENTHUBS_SPEC_ID, "version": "2.0"}}
    no_hub = source_body(base_id)
    del no_hub["params"]["eventHubName"]
    invalid: list[dict[str, Any]] = [
        wrong_spec,
        old_version,
        no_hub,
        source_body(base_id, hub=""),
        source_body(base_id, dataType="csv"),
        source_body(base_id, reset="now"),
        source_body(base_id, consumerGroup=""),
        source_body(base_id, partition="0"),
        {**source_body(base_id), "data": {"format": "parquet"}},
        {**source_body(base_id), "typo": 1},
        {**source_body(base_id), "name": " "},
        {k: v for k, v in source_body(base_id).items() if k != "params"},
        {k: v for k, v in source_body(base_id).items() if k != "baseConnectionId"},
    ]
    for body in invalid:
        answer = api.post("/sourceConnections", body)
        assert (answer.status_code, code(answer)) == (400, "FLOW-1400-400"), body
    missing_hub = api.post("/sourceConnections", no_hub).json()["detail"]
    assert missing_hub == "params.eventHubName is required and must be a non-empty string"
    assert adobe.source_connections() == []
    minimal = source_body(base_id)
    minimal["params"] = {"eventHubName": "clicks"}  # dataType, reset and consumerGroup are optional
    assert api.post("/sourceConnections", minimal).status_code == 201


def test_target_connection_refusals(adobe: AdobeStandIn, api: Platform) -> None:
    dataset_id = adobe.add_dataset("Clicks")
    schemaless = adobe.add_dataset("No schema", schema_id="")
    dev_dataset = adobe.add_dataset("Dev clicks", sandbox="dev")
    good = target_body(adobe, dataset_id)

    no_schema = {**good, "data": {"format": "parquet_xdm"}}
    empty_version = json.loads(json.dumps(good))
    empty_version["data"]["schema"]["version"] = ""
    wrong_spec = {**good, "connectionSpec": {"id": EVENTHUBS_SPEC_ID, "version": "1.0"}}
    for body in (
        no_schema,
        empty_version,
        wrong_spec,
        {**good, "data": {**good["data"], "format": "json"}},
        {**good, "params": {}},
        {**good, "params": {"dataSetId": dataset_id, "extra": "x"}},
        {**good, "extra": True},
    ):
        answer = api.post("/targetConnections", body)
        assert (answer.status_code, code(answer)) == (400, "FLOW-1400-400"), body
    assert "data.schema" in api.post("/targetConnections", no_schema).json()["detail"]

    for missing in ("5f0000000000000000000000", dev_dataset):
        unknown = api.post("/targetConnections", {**good, "params": {"dataSetId": missing}})
        assert (unknown.status_code, code(unknown)) == (400, "FLOW-1402-400")
        assert unknown.json()["detail"] == f"dataset not found: {missing}"
    without = api.post("/targetConnections", {**good, "params": {"dataSetId": schemaless}})
    assert (without.status_code, code(without)) == (400, "FLOW-1409-400")
    other_schema = json.loads(json.dumps(good))
    other_schema["data"]["schema"]["id"] = "https://ns.adobe.com/devstack/schemas/other"
    mismatch = api.post("/targetConnections", other_schema)
    assert (mismatch.status_code, code(mismatch)) == (400, "FLOW-1409-400")
    assert adobe.target_connections() == []
    assert api.post("/targetConnections", good).status_code == 201


def test_flow_refusals(adobe: AdobeStandIn, api: Platform) -> None:
    source_id, target_id = source_and_target(adobe, api)
    nothing = "00000000-0000-0000-0000-000000000000"
    for body in (flow_body(nothing, target_id), flow_body(source_id, nothing), flow_body(target_id, source_id)):
        answer = api.post("/flows", body)
        assert (answer.status_code, code(answer)) == (400, "FLOW-1402-400"), body
    assert "Source connection not found" in api.post("/flows", flow_body(nothing, target_id)).json()["detail"]
    wrong_spec = {
        **flow_body(source_id, target_id),
        "flowSpec": {"id": "c1a19761-d2c7-4702-b9fa-fe91f0613e81", "version": "1.0"},
    }
    for body in (
        wrong_spec,
        {**flow_body(source_id, target_id), "sourceConnectionIds": [source_id, source_id]},
        {**flow_body(source_id, target_id), "targetConnectionIds": []},
        {**flow_body(source_id, target_id), "sourceConnectionIds": source_id},
        flow_body(source_id, target_id, transformations=[{"name": "Mapping", "params": {}}]),
        flow_body(source_id, target_id, transformations=[{"name": "Other", "params": {"mappingId": "m"}}]),
        flow_body(
            source_id,
            target_id,
            transformations=[{"name": "Mapping", "params": {"mappingId": "m", "mappingVersion": "v0"}}],
        ),
        {**flow_body(source_id, target_id), "scheduleParams": {}},
    ):
        answer = api.post("/flows", body)
        assert (answer.status_code, code(answer)) == (400, "FLOW-1400-400"), body
    dev = Platform(adobe, "dev")
    assert code(dev.post("/flows", flow_body(source_id, target_id))) == "FLOW-1402-400"  # other sandbox's ids
    assert adobe.flows() == []

    first = api.created("/flows", flow_body(source_id, target_id, "first"))
    again_source, again_target = source_and_target(adobe, api)  # same namespace, hub and consumer group
    busy = api.post("/flows", flow_body(again_source, again_target, "second"))
    assert (busy.status_code, code(busy)) == (400, "FLOW-1421-400")
    assert "'$Default'" in busy.json()["detail"] and first in busy.json()["detail"]
    scoped_base = api.created("/connections", connection_body(eventHubName="clicks"))
    scoped_source = api.created("/sourceConnections", source_body(scoped_base, "clicks"))
    via_scoped = api.post("/flows", flow_body(scoped_source, again_target, "scoped"))
    assert code(via_scoped) == "FLOW-1421-400"  # another base connection on the same namespace
    default_group = source_body(scoped_base, "clicks")
    del default_group["params"]["consumerGroup"]  # no consumerGroup: the hub's $Default
    implicit = api.created("/sourceConnections", default_group)
    assert code(api.post("/flows", flow_body(implicit, again_target))) == "FLOW-1421-400"
    same_target = api.post("/flows", flow_body(source_id, target_id, "same objects"))
    assert code(same_target) == "FLOW-1421-400"

    other_group, other_target = source_and_target(adobe, api, group="adobe")
    api.created("/flows", flow_body(other_group, other_target, "other group"))
    other_hub, hub_target = source_and_target(adobe, api, hub="orders")
    api.created("/flows", flow_body(other_hub, hub_target, "other hub"))
    assert api.delete(f"/flows/{first}").status_code == 204  # frees the consumer group
    assert api.created("/flows", flow_body(again_source, again_target, "second"))
    assert [f["name"] for f in adobe.flows()] == ["other group", "other hub", "second"]


def test_deleting_objects_in_use(adobe: AdobeStandIn, api: Platform) -> None:
    base_id = api.created("/connections", connection_body())
    source_id, target_id = source_and_target(adobe, api)
    flow_id = api.created("/flows", flow_body(source_id, target_id))

    for path in (f"/sourceConnections/{source_id}", f"/targetConnections/{target_id}"):
        refused = api.delete(path)
        assert (refused.status_code, code(refused)) == (400, "FLOW-1418-400"), path
        assert "used by flows" in refused.json()["detail"] and flow_id in refused.json()["detail"]
    base = api.delete(f"/connections/{base_id}")
    assert (base.status_code, code(base)) == (400, "FLOW-1418-400")
    assert [c["id"] for c in adobe.connections()] == [base_id]

    assert api.delete(f"/flows/{flow_id}").status_code == 204
    assert api.delete(f"/flows/{flow_id}").status_code == 404
    assert adobe.flows() == []
    adobe.mark_in_use(base_id)  # the manual flag still holds on its own
    assert code(api.delete(f"/connections/{base_id}")) == "FLOW-1418-400"
    adobe.mark_in_use(base_id, False)
    for path in (f"/sourceConnections/{source_id}", f"/targetConnections/{target_id}", f"/connections/{base_id}"):
        assert api.delete(path).status_code == 204, path
        gone = api.delete(path)
        assert gone.status_code == 404, path
    assert adobe.source_connections() == [] and adobe.target_connections() == [] and adobe.connections() == []


def test_a_source_without_flow_does_not_hold_its_base_connection(adobe: AdobeStandIn, api: Platform) -> None:
    base_id = api.created("/connections", connection_body())
    api.created("/sourceConnections", source_body(base_id))
    assert api.delete(f"/connections/{base_id}").status_code == 204  # only flows hold a base connection
    assert len(adobe.source_connections()) == 1


# -- paging, faults and error knobs --------------------------------------------------------------


def test_flows_page_with_page_size(adobe: AdobeStandIn, api: Platform) -> None:
    names = [f"flow {index}" for index in range(5)]
    for index, name in enumerate(names):
        source_id, target_id = source_and_target(adobe, api, group=f"group-{index}")
        api.created("/flows", flow_body(source_id, target_id, name))
    adobe.page_size = 2
    page = api.get("/flows").json()
    seen = [i["name"] for i in page["items"]]
    assert len(seen) == 2 and page["_page"] == {"count": 2}
    assert (
        page["_links"]["next"]["href"].startswith(api.base + "/flows?") and "limit=2" in page["_links"]["next"]["href"]
    )
    while "next" in page["_links"]:
        page = requests.get(page["_links"]["next"]["href"], headers=api.headers, timeout=TIMEOUT).json()
        seen += [i["name"] for i in page["items"]]
    assert seen == names
    filtered = api.get("/flows", params={"property": f"flowSpec.id=={FLOW_SPEC_ID}"}).json()
    assert len(filtered["items"]) == 2 and "property=flowSpec.id" in filtered["_links"]["next"]["href"]
    assert api.get("/flows", params={"count": "true"}).json() == {"count": 5}
    assert len(api.get("/sourceConnections", params={"limit": "4"}).json()["items"]) == 4
    assert Platform(adobe, "dev").get("/flows").json()["items"] == []


def test_late_commit_on_post_flows(adobe: AdobeStandIn, api: Platform) -> None:
    source_id, target_id = source_and_target(adobe, api)
    adobe.faults.add(Fault("POST", r"/flows$", action="late_commit", delay=1.0))
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.post("/flows", flow_body(source_id, target_id, "late"), timeout=(2, 0.3))
    assert adobe.flows() == []  # not yet: the handler runs after the delay
    deadline = time.monotonic() + 5
    while not adobe.flows():
        assert time.monotonic() < deadline, "the late commit never happened"
        time.sleep(0.02)
    assert time.monotonic() - started >= 0.9
    (flow,) = adobe.flows()
    lookup = api.get("/flows", params={"property": "name==late"}).json()["items"]
    assert [i["id"] for i in lookup] == [flow["id"]]
    assert [r.fault for r in adobe.calls("POST", r"/flows$")] == ["late_commit"]
    retry = api.post("/flows", flow_body(source_id, target_id, "late"))  # a blind retry hits the rule
    assert code(retry) == "FLOW-1421-400"


def test_drop_and_respond_faults_on_the_new_routes(adobe: AdobeStandIn, api: Platform) -> None:
    base_id = api.created("/connections", connection_body())
    adobe.faults.add(Fault("POST", r"/sourceConnections$", action="drop"))
    with pytest.raises(requests.exceptions.ConnectionError):
        api.post("/sourceConnections", source_body(base_id))
    assert adobe.source_connections() == []
    adobe.faults.add(Fault("GET", r"/catalog/dataSets/", status=503, headers={"Retry-After": "3"}))
    dataset_id = adobe.add_dataset("Clicks")
    busy = requests.get(f"{api.catalog}/dataSets/{dataset_id}", headers=api.headers, timeout=TIMEOUT)
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "3"
    assert requests.get(f"{api.catalog}/dataSets/{dataset_id}", headers=api.headers, timeout=TIMEOUT).ok
    adobe.faults.add(Fault("POST", r"/targetConnections$", action="commit_then_stall", delay=1.0))
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.post("/targetConnections", target_body(adobe, dataset_id), timeout=(2, 0.3))
    assert len(adobe.target_connections()) == 1  # committed before the stall
    adobe.create_status = 202
    accepted = api.post("/sourceConnections", source_body(base_id))
    assert accepted.status_code == 202 and set(accepted.json()) == {"id", "etag"}


def test_error_style_report_on_a_source_refusal(adobe: AdobeStandIn, api: Platform) -> None:
    adobe.error_style = "report"
    missing = "0b9c4b56-0000-0000-0000-000000000000"
    refused = api.post("/sourceConnections", source_body(missing))
    body = refused.json()
    assert refused.status_code == 400
    assert set(body) == {"type", "title", "status", "report", "errorMessage", "errorDetails"}
    assert body["type"] == "https://ns.adobe.com/aep/errors/FLOW-1402-400" and body["title"] == "Bad Request"
    assert body["errorMessage"] == f"base connection not found: {missing}"
    assert body["report"]["id"] == missing and body["report"]["type"] == "connections"
    assert body["report"]["request-id"] == refused.headers["x-request-id"]
    assert body["report"]["tenantInfo"] == {"sandboxName": "prod", "imsOrgId": ORG_ID}
    adobe.error_style = "message"
    assert api.post("/sourceConnections", source_body(missing)).json() == {
        "code": "1402-400",
        "message": f"base connection not found: {missing}",
    }


def test_echo_request_in_errors_on_a_target_refusal(adobe: AdobeStandIn, api: Platform) -> None:
    dataset_id = adobe.add_dataset("Clicks")
    invalid = target_body(adobe, dataset_id)
    invalid["data"]["schema"]["version"] = ""
    sent = json.dumps(invalid, separators=(",", ":"))
    headers = {**api.headers, "Content-Type": "application/json"}

    def post() -> requests.Response:
        return requests.post(api.base + "/targetConnections", data=sent.encode(), headers=headers, timeout=TIMEOUT)

    assert "request body" not in post().json()["detail"]  # off by default
    adobe.echo_request_in_errors = True
    detail = post().json()["detail"]
    assert detail == "data.schema.version is required and must be a non-empty string; request body: " + sent
    adobe.error_style = "report"
    assert post().json()["errorMessage"].endswith("; request body: " + sent)
    assert "request body" not in api.get("/targetConnections/nope").json()["errorMessage"]  # no body to quote
    adobe.reset()
    assert "request body" not in post().json()["detail"]
