"""The Adobe stand-in and the app's Flow Service requests, checked against Adobe's published description.

``tests/specs/flow-service.yaml`` is the part of Adobe's Flow Service OpenAPI description
(AdobeDocs/experience-platform-apis, ``static/swagger-specs/flow-service.yaml``) that the project
uses; its header says when it was read and what was trimmed. Like stripe-mock against Stripe's
spec, these tests hold the stand-in (devstack/adobe/) to it over HTTP on loopback: the bodies the
app sends when it creates a connection and a dataflow through the indexed functions must be the
spec's request bodies, and every answer of the stand-in (creates, lists with paging, gets,
explore, the flow action, runs, deletes) its response bodies. Error bodies are checked against the
shapes Adobe documents elsewhere, because the spec describes none.

Where the spec, the stand-in and the project differ (on purpose, or because the spec is loose or
contradicts itself):

=================================  ===========================================================
what                               spec / here, and why
=================================  ===========================================================
``mappingVersion`` of a flow's     Spec: a string (TransformationSpecDTO; the Event Hubs
Mapping transformation             tutorials send ``0``, others ``"0"``). The app sends ``0``
                                   as contract.md says. The stand-in takes both and keeps the
                                   string, as Adobe's ``GET /flows`` samples show it.
                                   ``KNOWN_REQUEST_DIFFERENCES`` pins this as the app body's
                                   only difference.
error bodies                       Spec: none (403/503 ``content: {}``, 400/401/404 a
                                   description, 412 absent). Checked against the troubleshooting
                                   guide's gateway ``{error_code, message}`` and problem
                                   ``{type, status, title, detail}`` and the Flow Service
                                   ``FLOW-1439-404`` sample ``{type, title, status, report}``.
                                   The stand-in's ``message`` style (``{code, message}``) is a
                                   worst-case knob, documented nowhere: not checked.
statuses                           Spec: mostly 200/201/204 + 403/503. The stand-in also answers
                                   400/404/412/415/429 with Flow Service's documented codes
                                   (flow-service-errors.md: ``1401-404``, ``1404-412``,
                                   ``1418-400`` ...).
connection PATCH body              Spec: one PatchInstruction object, ``op`` in ``ADD`` /
                                   ``REPLACE`` / ``REMOVE`` (its description says ``add``,
                                   ``replace``; the flows PATCH takes an array). The app sends
                                   the update tutorial's JSON Patch (RFC 6902) array with
                                   ``replace``; the stand-in takes that. Not checked here.
``_links`` / ``_page`` of lists    ConnectionListResponse has only ``items``; the stand-in pages
                                   every list alike (sort-and-filter.md) and adds ``_page``. The
                                   spec's schemas allow extra fields.
``orderby``                        Documented on every list; the stand-in ignores it (oldest
                                   first; runs newest first).
required create fields             Spec requires only ``connectionSpec`` (connections),
                                   ``connectionSpec`` + ``data`` (targets), ``flowSpec`` (flows).
                                   The stand-in also requires what the request descriptions and
                                   tutorials mark required (``name``, ``auth``, the ids) and
                                   refuses unknown fields (e.g. a streaming flow's
                                   ``scheduleParams``) to catch client typos: stricter, not
                                   different.
``connectionSpec.version``         SpecInfoDTO requires it; the create's description says it
                                   defaults to the newest. The stand-in requires ``"1.0"``.
event hubs params                  AuthInfoDTO.params and source ``params`` name other sources'
                                   fields (``accessKeyId``, ``path``) and stay open; the Event
                                   Hubs fields (``namespace``, ``eventHubName``,
                                   ``consumerGroup``) come from the connection spec and tutorial.
explore ``objectType``             Spec enum: ``ROOT`` ...; the tutorials and the app send
                                   ``root``. The stand-in now takes either case.
flow action                        Spec: ``op`` ``ENABLE``/``DISABLE``, ``subOp`` required,
                                   answers 200. The app sends ``op=enable`` without ``subOp``
                                   (update-dataflows tutorial); the stand-in takes either case,
                                   no ``subOp``, and now answers 200 (was 202).
run items                          Spec spells ``eTag`` and ``activites``; the monitoring guide's
                                   samples, which the stand-in follows, ``etag`` and
                                   ``activities``. Both optional in the spec.
``Location`` on 201                Documented for connection and flow creates; the stand-in now
                                   sends it (in its ``next_link_style``).
connection delete/patch path       Spec spells ``/connections/{BASE_CONNECTION_ID}/`` (trailing
                                   slash); clients send none. The stand-in serves both.
=================================  ===========================================================
"""

from __future__ import annotations

import functools
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from devstack.adobe import (
    AAD_SPEC,
    DATA_LAKE_SPEC_ID,
    EVENTHUBS_SPEC_ID,
    FLOW_SERVICE_PATH,
    FLOW_SPEC_ID,
    SAS_SPEC,
    ErrorStyle,
)
from devstack.azurite import find_repo_root
from shared.adobe.client import connection_body
from tests.functional.conftest import App, body
from tests.openapi_contract import resolve

SPEC_PATH = find_repo_root() / "tests" / "specs" / "flow-service.yaml"
TIMEOUT = 5
NS = "contoso-spec"
HUB = "clicks"
MAPPING_ID = "bf5286a9c1ad4266baca76ba3adc9366"
pytestmark = pytest.mark.timeout(90)

KNOWN_REQUEST_DIFFERENCES = {
    ("POST", "/flows"): {"transformations/0/params/mappingVersion: 0 is not of type 'string'"},
}
"""Spec errors the app's create bodies have on purpose (see the module docstring), by operation."""

# The error shapes Adobe documents outside the spec (AdobeDocs/experience-platform.en:
# help/landing/troubleshooting.md, and the FLOW-1439-404 sample of the dataflow access-label page).
GATEWAY_ERROR = {
    "type": "object",
    "required": ["error_code", "message"],
    "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
}
PROBLEM_ERROR = {
    "type": "object",
    "required": ["type", "status", "title", "detail"],
    "properties": {
        "type": {"type": "string"},
        "status": {"type": "integer"},
        "title": {"type": "string"},
        "detail": {"type": "string"},
    },
}
REPORT_ERROR = {
    "type": "object",
    "required": ["type", "title", "status", "report"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "report": {
            "type": "object",
            "required": ["detailed-message"],
            "properties": {"detailed-message": {"type": "string"}},
        },
        "errorMessage": {"type": "string"},
        "errorDetails": {"type": "string"},
    },
}


# -- the spec ------------------------------------------------------------------------------------


@functools.cache
def flow_spec() -> dict[str, Any]:
    """The parsed tests/specs/flow-service.yaml (cached; do not mutate)."""
    loaded = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}/]+\})", template.rstrip("/"))
    return re.compile("^" + "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts if p) + "/?$")


def operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The spec's template and resolved operation for a request path under the Flow Service root."""
    relative = urlsplit(path).path
    if relative.startswith(FLOW_SERVICE_PATH):
        relative = relative[len(FLOW_SERVICE_PATH) :]
    for template, item in flow_spec()["paths"].items():
        if _template_regex(template).match(relative) and method.lower() in item:
            resolved = resolve(item[method.lower()], flow_spec())
            assert isinstance(resolved, dict)
            return template, resolved
    raise AssertionError(f"flow-service.yaml documents no {method.upper()} for {relative}")


def schema_errors(schema: dict[str, Any], instance: Any) -> set[str]:
    """``path: message`` of every way ``instance`` breaks an (OpenAPI 3.0) schema."""
    validator = OAS30Validator(schema, format_checker=oas30_format_checker)
    return {
        f"{'/'.join(str(p) for p in error.absolute_path) or '<body>'}: {error.message}"
        for error in validator.iter_errors(instance)
    }


def request_errors(method: str, path: str, sent: Any) -> set[str]:
    """How a request body breaks the spec's request schema of its operation."""
    template, op = operation(method, path)
    assert "requestBody" in op, f"{method} {template} takes no body in the spec"
    return schema_errors(op["requestBody"]["content"]["application/json"]["schema"], sent)


def assert_documented_error(response: requests.Response) -> None:
    """An error body in one of the shapes Adobe documents, consistent with the HTTP status."""
    answer = response.json()
    shapes = {"gateway": GATEWAY_ERROR, "problem": PROBLEM_ERROR, "report": REPORT_ERROR}
    fits = [name for name, shape in shapes.items() if not schema_errors(shape, answer)]
    assert fits, f"{response.status_code} {response.request.path_url}: undocumented error body {answer!r}"
    if "status" in answer:
        assert answer["status"] == response.status_code
        assert answer["type"].endswith(f"-{response.status_code}"), answer["type"]
    assert response.headers.get("x-request-id")


def assert_matches_spec(response: requests.Response) -> Any:
    """Check an answer against the spec (errors: against the documented error shapes); its JSON."""
    method, path = str(response.request.method), str(response.request.path_url)
    template, op = operation(method, path)
    documented = op["responses"].get(str(response.status_code))
    context = f"{method} {template} -> {response.status_code}"
    if response.status_code >= 400:
        assert_documented_error(response)
        return response.json()
    assert documented is not None, f"{context}: status not in the spec ({sorted(op['responses'])})"
    content = documented.get("content") or {}
    schema = content.get("application/json", {}).get("schema")
    if not content:
        assert response.content == b"", f"{context}: the spec documents no body"
        return None
    media = response.headers.get("Content-Type", "").split(";", 1)[0].strip()
    assert media in content, f"{context}: Content-Type {media!r} not in {sorted(content)}"
    answer = response.json()
    if schema is None:  # the connection PATCH: an example only
        assert set(answer) == set(content[media]["example"]), f"{context}: {answer!r}"
        return answer
    errors = schema_errors(schema, answer)
    assert not errors, f"{context}: body does not match flow-service.yaml:\n" + "\n".join(sorted(errors))
    return answer


# -- a Platform client on the test's stack ---------------------------------------------------------


class Platform:
    """Plain HTTP to the stand-in (the gateway's headers, a token issued by it); every answer is
    checked against the spec."""

    def __init__(self, app: App, sandbox: str = "prod") -> None:
        adobe = app.stack.adobe
        self.base = adobe.flow_service_url
        self.headers = {
            "Authorization": f"Bearer {adobe.issue_token()}",
            "x-api-key": app.stack.adobe_client_id,
            "x-gw-ims-org-id": app.stack.adobe_org_id,
            "x-sandbox-name": sandbox,
        }

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """``path`` under the Flow Service root, or a ``_links.next.href`` in any of its forms."""
        if path.startswith("http"):
            url = path
        elif path.startswith(FLOW_SERVICE_PATH):
            url = self.base[: -len(FLOW_SERVICE_PATH)] + path
        else:
            url = self.base + path
        headers = {**self.headers, **kwargs.pop("headers", {})}
        response = requests.request(method, url, headers=headers, timeout=TIMEOUT, **kwargs)
        assert_matches_spec(response)
        return response

    def created(self, path: str, sent: dict[str, Any]) -> str:
        response = self.call("POST", path, json=sent)
        assert response.status_code == 201, response.text
        assert request_errors("POST", path, sent) <= KNOWN_REQUEST_DIFFERENCES.get(("POST", path), set())
        created: str = response.json()["id"]
        return created

    def pages(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a list, one page of ``limit=1`` at a time through ``_links.next.href``."""
        items: list[dict[str, Any]] = []
        answer = self.call("GET", path, params={**params, "limit": 1}).json()
        while True:
            items.extend(answer["items"])
            href = answer.get("_links", {}).get("next", {}).get("href")
            if not href:
                return items
            assert len(answer["items"]) == 1
            answer = self.call("GET", href).json()


@pytest.fixture
def api(app: App) -> Platform:
    return Platform(app)  # the app fixture resets the stand-in (objects, error style) first


def a_dataflow_by_the_app(app: App) -> dict[str, Any]:
    """A namespace with two hubs and a dataset; the app creates the connection and one hub's dataflow."""
    app.stack.add_eventhubs_namespace(NS)
    app.stack.adobe.set_event_hubs(NS, [HUB, "views"])
    dataset = app.stack.adobe.add_dataset("Clickstream events")
    response = app.post_dataflow(
        {"namespace": NS, "eventHubName": HUB, "datasetId": dataset, "dataType": "raw", "mappingId": MAPPING_ID}
    )
    assert response.status_code == 201, body(response)
    record: dict[str, Any] = body(response)
    return record


# -- the spec file ---------------------------------------------------------------------------------


def test_the_vendored_spec_names_its_source_and_documents_what_the_project_uses() -> None:
    header = SPEC_PATH.read_text(encoding="utf-8").split("openapi:", 1)[0]
    assert "AdobeDocs/experience-platform-apis" in header and "static/swagger-specs/flow-service.yaml" in header
    assert re.search(r"read \d{4}-\d{2}-\d{2}", header) and "Trimmed:" in header
    spec = flow_spec()
    assert spec["openapi"].startswith("3.0")
    for method, path in [
        ("GET", "/connections"),
        ("POST", "/connections"),
        ("GET", "/connections/c1"),
        ("PATCH", "/connections/c1"),
        ("DELETE", "/connections/c1"),
        ("GET", "/connections/c1/explore"),
        ("POST", "/sourceConnections"),
        ("GET", "/sourceConnections/s1"),
        ("POST", "/targetConnections"),
        ("GET", "/targetConnections/t1"),
        ("POST", "/flows"),
        ("GET", "/flows/f1"),
        ("POST", "/flows/f1/action"),
        ("GET", "/runs"),
    ]:
        operation(method, path)  # raises when missing
    # Every $ref resolves and every schema is a valid OpenAPI 3.0 schema.
    for schema in spec["components"]["schemas"].values():
        OAS30Validator.check_schema(resolve(schema, spec))


# -- (a) what the app sends --------------------------------------------------------------------------


def test_the_apps_create_bodies_are_the_specs_request_bodies(app: App) -> None:
    a_dataflow_by_the_app(app)
    adobe = app.stack.adobe
    sent: dict[str, list[Any]] = {}
    for path in ("/connections", "/sourceConnections", "/targetConnections", "/flows"):
        calls = adobe.calls("POST", rf"{FLOW_SERVICE_PATH}{path}$")
        assert len(calls) == 1, path
        assert calls[0].headers["content-type"].split(";")[0] == "application/json"  # the spec's required header
        sent[path] = [call.json() for call in calls]
        errors = request_errors("POST", path, sent[path][0])
        assert errors == KNOWN_REQUEST_DIFFERENCES.get(("POST", path), set()), f"POST {path}: {sorted(errors)}"
    assert sent["/flows"][0]["transformations"][0]["params"]["mappingVersion"] == 0  # the contract's form
    # The body builder alone, for every auth spec the app may use.
    for spec_name, params in [
        (SAS_SPEC, {"sasKeyName": "Send", "sasKey": "not-a-real-key=", "namespace": NS, "eventHubName": HUB}),
        (AAD_SPEC, {"tenantId": "t", "clientId": "c", "clientSecretValue": "not-a-secret", "namespace": NS}),
    ]:
        built = connection_body("Azure Event Hubs spec", "spec check", spec_name, params)
        assert request_errors("POST", "/connections", built) == set()


def test_a_body_that_breaks_the_spec_is_caught() -> None:
    """The check can fail: a connection without connectionSpec, a source without data, a flow whose
    source ids are not a list."""
    assert request_errors("POST", "/connections", {"name": "n", "auth": {"specName": SAS_SPEC, "params": {}}})
    assert request_errors("POST", "/sourceConnections", {"name": "n", "connectionSpec": {"id": "x", "version": "1"}})
    assert request_errors("POST", "/flows", {"flowSpec": {"id": FLOW_SPEC_ID}, "sourceConnectionIds": "s"})
    assert schema_errors(
        operation("GET", "/flows")[1]["responses"]["200"]["content"]["application/json"]["schema"],
        {"items": [{"id": 1}]},
    )


# -- (b) what the stand-in answers -------------------------------------------------------------------


def test_every_stand_in_answer_matches_the_spec(app: App, api: Platform) -> None:
    adobe = app.stack.adobe
    adobe.set_event_hubs(NS, [HUB, "views"])
    params = {"sasKeyName": "RootManageSharedAccessKey", "sasKey": "not-a-real-key=", "namespace": NS}
    bases = [
        api.created("/connections", connection_body(f"Azure Event Hubs {NS}", "spec", SAS_SPEC, dict(params))),
        api.created(
            "/connections",
            connection_body(f"Azure Event Hubs {NS} {HUB}", "spec", SAS_SPEC, {**params, "eventHubName": HUB}),
        ),
    ]
    created = api.call("POST", "/connections", json=connection_body("third", "spec", SAS_SPEC, dict(params)))
    assert created.headers["Location"].endswith(f"/connections/{created.json()['id']}")
    assert [c["id"] for c in api.pages("/connections")] == [*bases, created.json()["id"]]
    assert api.call("GET", "/connections", params={"count": "true"}).json()["count"] == 3
    [got] = api.call("GET", f"/connections/{bases[0]}").json()["items"]
    assert api.call("GET", f"/connections/{bases[0]}/explore", params={"objectType": "root"}).json()[0]["name"] == HUB
    assert len(api.call("GET", f"/connections/{bases[0]}/explore", params={"objectType": "ROOT"}).json()) == 2
    patched = api.call(
        "PATCH",
        f"/connections/{bases[0]}",
        json=[{"op": "replace", "path": "/auth/params", "value": dict(params)}],
        headers={"If-Match": got["etag"]},
    )
    assert patched.status_code == 200
    stale = api.call("PATCH", f"/connections/{bases[0]}", json=[], headers={"If-Match": got["etag"]})
    assert stale.status_code == 412

    dataset = adobe.add_dataset("Clickstream events")
    schema_ref = adobe.datasets()[0]["schemaRef"]
    sources = [
        api.created(
            "/sourceConnections",
            {
                "name": f"Azure Event Hubs {NS} {hub} source",
                "baseConnectionId": bases[0],
                "connectionSpec": {"id": EVENTHUBS_SPEC_ID, "version": "1.0"},
                "data": {"format": "json"},
                "params": {"eventHubName": hub, "dataType": "raw", "consumerGroup": "$Default"},
            },
        )
        for hub in (HUB, "views")
    ]
    targets = [
        api.created(
            "/targetConnections",
            {
                "name": f"Azure Event Hubs {NS} {hub} target",
                "data": {"format": "parquet_xdm", "schema": {"id": schema_ref["id"], "version": "1.0"}},
                "params": {"dataSetId": dataset},
                "connectionSpec": {"id": DATA_LAKE_SPEC_ID, "version": "1.0"},
            },
        )
        for hub in (HUB, "views")
    ]
    mapping = [{"name": "Mapping", "params": {"mappingId": MAPPING_ID, "mappingVersion": "0"}}]
    flows = []
    for source, target in zip(sources, targets, strict=True):
        flow_body = {
            "name": f"flow of {source}",
            "flowSpec": {"id": FLOW_SPEC_ID, "version": "1.0"},
            "sourceConnectionIds": [source],
            "targetConnectionIds": [target],
            "transformations": mapping,
        }
        answer = api.call("POST", "/flows", json=flow_body)
        assert answer.status_code == 201 and answer.headers["Location"].endswith(f"/flows/{answer.json()['id']}")
        assert request_errors("POST", "/flows", flow_body) == set()  # the spec's string form
        flows.append(answer.json()["id"])
    for path, ids in (("/sourceConnections", sources), ("/targetConnections", targets), ("/flows", flows)):
        assert [item["id"] for item in api.pages(path)] == ids
        assert api.call("GET", path, params={"count": "true"}).json()["count"] == 2
        assert api.call("GET", f"{path}/{ids[0]}").json()["items"][0]["id"] == ids[0]
    assert api.call("GET", f"/flows/{flows[0]}").json()["items"][0]["transformations"] == mapping
    assert api.call("POST", f"/flows/{flows[0]}/action", params={"op": "DISABLE"}).status_code == 200
    assert api.call("POST", f"/flows/{flows[0]}/action", params={"op": "enable"}).status_code == 200

    runs = [adobe.add_run(flows[0], records_in=n)["id"] for n in (1, 2, 3)]
    adobe.add_run(flows[1])
    listed = api.pages("/runs", property=f"flowId=={flows[0]}")
    assert [run["id"] for run in listed] == runs[::-1]  # newest first
    assert api.call("GET", "/runs", params={"property": f"flowId=={flows[0]}", "count": "true"}).json()["count"] == 3
    assert api.call("GET", f"/runs/{runs[0]}").json()["items"][0]["flowId"] == flows[0]

    for path in (f"/flows/{flows[1]}", f"/sourceConnections/{sources[1]}", f"/targetConnections/{targets[1]}"):
        assert api.call("DELETE", path).status_code == 204
    assert api.call("DELETE", f"/connections/{created.json()['id']}/").status_code == 204  # the spec's spelling


@pytest.mark.parametrize("style", ["problem", "report"])
def test_every_error_answer_has_a_documented_shape(app: App, api: Platform, style: ErrorStyle) -> None:
    adobe = app.stack.adobe
    adobe.error_style = style
    base = api.created(
        "/connections",
        connection_body("errors", "spec", SAS_SPEC, {"sasKeyName": "k", "sasKey": "not-a-real-key=", "namespace": NS}),
    )
    unknown = "00000000-0000-0000-0000-000000000000"
    statuses = []
    for method, path, kwargs in [
        ("POST", "/connections", {"json": {"name": "no spec"}}),
        ("POST", "/sourceConnections", {"json": {"name": "no data"}}),
        ("POST", "/targetConnections", {"json": {"name": "no data"}}),
        ("POST", "/flows", {"json": {"name": "no spec"}}),
        ("GET", "/connections", {"params": {"property": "auth.params.sasKey==x"}}),
        ("GET", f"/connections/{unknown}", {}),
        ("GET", f"/connections/{unknown}/explore", {"params": {"objectType": "root"}}),
        ("GET", f"/sourceConnections/{unknown}", {}),
        ("GET", f"/targetConnections/{unknown}", {}),
        ("GET", f"/flows/{unknown}", {}),
        ("GET", f"/runs/{unknown}", {}),
        ("DELETE", f"/flows/{unknown}", {}),
        ("POST", f"/flows/{unknown}/action", {"params": {"op": "ENABLE"}}),
        ("PATCH", f"/connections/{base}", {"json": []}),  # no If-Match
        ("PATCH", f"/connections/{base}", {"json": [], "headers": {"If-Match": '"stale"'}}),
        ("POST", "/connections", {"data": b"{}", "headers": {"Content-Type": "text/plain"}}),
        ("GET", "/connections", {"headers": {"x-sandbox-name": "nowhere"}}),
        ("GET", "/connections", {"headers": {"Authorization": "Bearer not-a-token"}}),
        ("GET", "/connections", {"headers": {"x-api-key": "wrong"}}),
    ]:
        response = api.call(method, path, **kwargs)  # the error shape is checked in call()
        statuses.append(response.status_code)
    assert statuses == [400, 400, 400, 400, 400, 404, 404, 404, 404, 404, 404, 404, 404, 400, 412, 415, 404, 401, 403]
    adobe.mark_in_use(base)
    in_use = api.call("DELETE", f"/connections/{base}")
    assert in_use.status_code == 400 and in_use.json()["type"].endswith("FLOW-1418-400")


# -- item 3: what identity by content reads from lists -------------------------------------------


def test_lists_carry_the_content_that_identifies_each_object(app: App, api: Platform) -> None:
    """What the app's content checks read from list answers (narrowed by name, as the app does):
    a connection's auth.params.namespace (and eventHubName when scoped); a source's baseConnectionId,
    params.eventHubName and params.consumerGroup; a target's params.dataSetId; a flow's
    sourceConnectionIds and targetConnectionIds."""
    record = a_dataflow_by_the_app(app)
    adobe = app.stack.adobe
    scoped_params = {"sasKeyName": "k", "sasKey": "not-a-real-key=", "namespace": NS, "eventHubName": "views"}
    scoped = api.created("/connections", connection_body("scoped by hand", "spec", SAS_SPEC, scoped_params))

    def named(path: str, name: str) -> dict[str, Any]:
        [item] = api.pages(path, property=f"name=={name}")
        return item

    connection = named("/connections", body(app.get(NS))["name"])
    assert connection["id"] == record["connectionId"]
    assert connection["auth"]["params"]["namespace"] == NS and "eventHubName" not in connection["auth"]["params"]
    assert (
        connection["auth"]["params"]["sasKey"] != adobe.connection(record["connectionId"])["auth"]["params"]["sasKey"]
    )
    by_hand = named("/connections", "scoped by hand")
    assert by_hand["id"] == scoped and by_hand["auth"]["params"]["eventHubName"] == "views"
    assert by_hand["auth"]["params"]["namespace"] == NS

    source = named("/sourceConnections", f"Azure Event Hubs {NS} {HUB} source")
    assert source["id"] == record["sourceConnectionId"] and source["baseConnectionId"] == record["connectionId"]
    assert source["params"]["eventHubName"] == HUB and source["params"]["consumerGroup"] == "$Default"
    target = named("/targetConnections", f"Azure Event Hubs {NS} {HUB} target")
    assert target["id"] == record["targetConnectionId"] and target["params"]["dataSetId"] == record["datasetId"]
    flow = named("/flows", f"Azure Event Hubs {NS} {HUB} dataflow")
    assert flow["id"] == record["flowId"]
    assert flow["sourceConnectionIds"] == [record["sourceConnectionId"]]
    assert flow["targetConnectionIds"] == [record["targetConnectionId"]]
    # The same through the filters the content checks may narrow by (sort-and-filter.md).
    [by_base] = api.pages("/sourceConnections", property=f"baseConnectionId=={record['connectionId']}")
    assert by_base["id"] == record["sourceConnectionId"]
    [by_dataset] = api.pages("/targetConnections", property=f"params.dataSetId=={record['datasetId']}")
    assert by_dataset["id"] == record["targetConnectionId"]


def test_an_undocumented_error_shape_is_caught(app: App, api: Platform) -> None:
    """The error check can fail: the stand-in's worst-case ``message`` style is no documented shape."""
    app.stack.adobe.error_style = "message"
    with pytest.raises(AssertionError, match="undocumented error body"):
        api.call("GET", "/connections/00000000-0000-0000-0000-000000000000")
