"""The stand-ins a health check reads: Adobe's runs, flow state and enable action, Observability's
dataset metric, Azure Monitor metrics (HTTPS, bearer, EntityName split) and signed I/O Events."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from devstack.adobe import AdobeStandIn
from devstack.faults import Fault
from devstack.ioevents import KEY_PATHS, IOEventsKeyHost
from devstack.monitor import API_VERSION, MonitorMetrics
from devstack.resourcegraph import ResourceGraphStandIn
from tests.functional.test_devstack_dataflows import (
    CLIENT_ID,
    CLIENT_SECRET,
    ORG_ID,
    Platform,
    flow_body,
    source_and_target,
)

pytestmark = pytest.mark.timeout(60)
TIMEOUT = 5
NS_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.EventHub/namespaces/ns1"
)


@pytest.fixture(scope="module")
def adobe() -> Iterator[AdobeStandIn]:
    with AdobeStandIn(CLIENT_ID, CLIENT_SECRET, ORG_ID) as standin:
        yield standin


@pytest.fixture(autouse=True)
def _clean(adobe: AdobeStandIn) -> Iterator[None]:
    adobe.reset()
    yield
    assert not adobe.platform.errors


@pytest.fixture
def api(adobe: AdobeStandIn) -> Platform:
    return Platform(adobe)


def a_flow(adobe: AdobeStandIn, api: Platform) -> str:
    source, target = source_and_target(adobe, api)
    return api.created("/flows", flow_body(source, target))


def test_runs_are_listed_per_flow_newest_first_with_the_time_filter_and_pages(
    adobe: AdobeStandIn, api: Platform
) -> None:
    flow = a_flow(adobe, api)
    now = int(time.time() * 1000)
    hour = 3_600_000
    for i in range(5):
        adobe.add_run(flow, records_in=10 + i, started_at_ms=now - (5 - i) * hour)
    adobe.add_run("other-flow", records_in=99)
    since = now - 3 * hour - 1
    params = [
        ("property", f"flowId=={flow}"),
        ("property", f"metrics.durationSummary.startedAtUTC>{since}"),
        ("limit", "2"),
    ]
    first = api.get("/runs", params=params)
    assert first.status_code == 200, first.text
    items = first.json()["items"]
    assert [r["metrics"]["recordSummary"]["inputRecordCount"] for r in items] == [14, 13]
    run = items[0]
    assert set(run["metrics"]) >= {"durationSummary", "recordSummary", "statusSummary", "sizeSummary"}
    assert run["metrics"]["statusSummary"] == {"status": "success", "errors": []}
    href = first.json()["_links"]["next"]["href"]
    second = requests.get(href, headers=api.headers, timeout=TIMEOUT).json()
    assert [r["metrics"]["recordSummary"]["inputRecordCount"] for r in second["items"]] == [12]
    assert second["_links"] == {}
    assert api.get("/runs", params=[("property", "bogus==1")]).status_code == 400


def test_a_flow_without_runs_and_a_run_listed_late(adobe: AdobeStandIn, api: Platform) -> None:
    flow = a_flow(adobe, api)
    assert api.get("/runs", params=[("property", f"flowId=={flow}")]).json()["items"] == []
    adobe.add_run(flow, status="failed", records_in=5, records_failed=5, listed_after=time.time() + 0.5)
    assert api.get("/runs", params=[("property", f"flowId=={flow}")]).json()["items"] == []
    time.sleep(0.6)
    [late] = api.get("/runs", params=[("property", f"flowId=={flow}")]).json()["items"]
    assert late["metrics"]["statusSummary"]["status"] == "failed"


def test_flow_state_disabled_by_adobe_and_the_enable_action(adobe: AdobeStandIn, api: Platform) -> None:
    flow = a_flow(adobe, api)
    assert api.get(f"/flows/{flow}").json()["items"][0]["state"] == "enabled"
    adobe.set_flow_state(flow, "disabled")
    assert api.get(f"/flows/{flow}").json()["items"][0]["state"] == "disabled"
    enabled = api.post(f"/flows/{flow}/action?op=ENABLE", None)
    assert enabled.status_code == 200 and set(enabled.json()) == {"id", "etag"}
    assert api.get(f"/flows/{flow}").json()["items"][0]["state"] == "enabled"
    assert api.post(f"/flows/{flow}/action?op=pause", None).status_code == 400
    assert api.post("/flows/0000/action?op=enable", None).status_code == 404


def test_429_storm_on_runs_through_the_fault_plan(adobe: AdobeStandIn, api: Platform) -> None:
    flow = a_flow(adobe, api)
    adobe.platform.faults.add(Fault("GET", r"/runs\?", status=429, headers={"Retry-After": "1"}, times=2))
    statuses = [api.get("/runs", params=[("property", f"flowId=={flow}")]).status_code for _ in range(3)]
    assert statuses == [429, 429, 200]


def test_observability_dataset_metric(adobe: AdobeStandIn, api: Platform) -> None:
    now = datetime.now(UTC)
    adobe.add_dataset_records("ds1", 7, now - timedelta(minutes=30))
    adobe.add_dataset_records("ds1", 3, now - timedelta(hours=5))
    body = {
        "start": (now - timedelta(hours=3)).isoformat(),
        "end": now.isoformat(),
        "granularity": "HOUR",
        "metrics": [
            {
                "name": "timeseries.ingestion.dataset.recordsuccess.count",
                "filters": [{"name": "dataSetId", "value": "ds1|ds2", "groupBy": True}],
                "aggregator": "sum",
                "downsample": "sum",
            }
        ],
    }
    url = adobe.platform_url + "/data/infrastructure/observability/insights/metrics"
    answer = requests.post(url, json=body, headers=api.headers, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    [metric] = answer.json()["metricResponses"]
    series = {p["groupBy"]["dataSetId"]: sum(p["dps"].values()) for p in metric["datapoints"]}
    assert series == {"ds1": 7, "ds2": 0}
    adobe.observability.outage = 503
    assert requests.post(url, json=body, headers=api.headers, timeout=TIMEOUT).status_code == 503


@pytest.fixture(scope="module")
def arm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ResourceGraphStandIn, MonitorMetrics]]:
    metrics = MonitorMetrics()
    with ResourceGraphStandIn(lambda token, _: token == "good", cert_dir=tmp_path_factory.mktemp("arm")) as server:
        server.mount(metrics.answer)
        yield server, metrics


def metrics_get(server: ResourceGraphStandIn, token: str = "good", **params: str) -> requests.Response:
    now = datetime.now(UTC).replace(microsecond=0)
    query = {
        "api-version": API_VERSION,
        "metricnames": "IncomingMessages",
        "aggregation": "Total",
        "interval": "PT1H",
        "timespan": f"{(now - timedelta(hours=3)).isoformat()}/{now.isoformat()}",
        "$filter": "EntityName eq '*'",
        **params,
    }
    return requests.get(
        server.url + NS_ID + "/providers/Microsoft.Insights/metrics",
        params=query,
        headers={"Authorization": f"Bearer {token}"},
        verify=str(server.ca_bundle_path),
        timeout=TIMEOUT,
    )


def test_monitor_metrics_split_by_hub_over_https_with_a_bearer(
    arm: tuple[ResourceGraphStandIn, MonitorMetrics],
) -> None:
    server, metrics = arm
    metrics.reset()
    metrics.add_messages(NS_ID, "clicks", 40, datetime.now(UTC) - timedelta(minutes=10))
    metrics.add_messages(NS_ID, "clicks", 2, datetime.now(UTC) - timedelta(hours=2))
    metrics.add_messages(NS_ID, "views", 5, datetime.now(UTC) - timedelta(hours=10))
    answer = metrics_get(server)
    assert answer.status_code == 200, answer.text
    [value] = answer.json()["value"]
    assert value["name"]["value"] == "IncomingMessages"
    totals = {ts["metadatavalues"][0]["value"]: sum(d["total"] for d in ts["data"]) for ts in value["timeseries"]}
    assert totals == {"clicks": 42.0}
    one = metrics_get(server, **{"$filter": "EntityName eq 'views'"}).json()["value"][0]["timeseries"]
    assert one[0]["metadatavalues"][0]["value"] == "views" and sum(d["total"] for d in one[0]["data"]) == 0
    assert metrics_get(server, token="bad").status_code == 401
    assert metrics_get(server, **{"api-version": "2018-01-01"}).status_code == 400
    metrics.outage = 503
    assert metrics_get(server).status_code == 503
    metrics.outage = None


def test_io_events_key_host_serves_keys_that_verify_its_signatures() -> None:
    with IOEventsKeyHost() as host:
        raw, headers = host.deliver(
            {"flowId": "f1"}, recipient_client_id="me", event_code="source_flow_run_error", org_id=ORG_ID
        )
        assert json.loads(raw)["event"]["body"]["flowId"] == "f1"
        for index, path in enumerate(KEY_PATHS):
            pem = requests.get(host.url + path, timeout=TIMEOUT)
            assert pem.status_code == 200
            key = serialization.load_pem_public_key(pem.content)
            assert isinstance(key, rsa.RSAPublicKey)
            signature = base64.b64decode(headers[f"x-adobe-digital-signature-{index + 1}"])
            key.verify(signature, raw, padding.PKCS1v15(), hashes.SHA256())
        assert headers["x-adobe-public-key1-path"] == KEY_PATHS[0]
        assert requests.get(host.url + "/other.pem", timeout=TIMEOUT).status_code == 404
