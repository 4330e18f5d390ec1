"""`python -m devstack serve` as a separate process, `add-namespace` and `event` against it, and the
local.settings.json it writes: read by the app's Settings, and driving the indexed functions (as
`func start` would) against the served stand-ins. Everything on 127.0.0.1; serve is stopped by its pid."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme
from azure.core.exceptions import ResourceNotFoundError
from azure.identity import ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient

from devstack.azurite import find_repo_root
from devstack.host import event_grid_event, http_request, indexed_function, response_json
from devstack.localsettings import LEFT_TO_THE_MACHINE, MARKER, write_local_settings
from devstack.resourcegraph import DEFAULT_SUBSCRIPTION, RESOURCES_PATH
from devstack.serve import SAMPLE_DATASET_ID
from devstack.statefile import ServeState, read_state, write_state
from shared.runtime import reset_runtime
from shared.settings import Settings
from tests.unit.test_docs_match_code import OPTIONAL_SWITCHES, READ

ROOT = find_repo_root()
START_TIMEOUT = 40.0
STOP_TIMEOUT = 15.0
pytestmark = pytest.mark.timeout(120)


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    state_dir: Path
    settings_path: Path
    log: Path

    @property
    def state(self) -> ServeState:
        state = read_state(self.state_dir / "serve.json")
        assert state is not None, "serve left no state file"
        return state

    @property
    def values(self) -> dict[str, str]:
        values: dict[str, str] = json.loads(self.settings_path.read_text())["Values"]
        return values

    def output(self) -> str:
        return self.log.read_text()


def devstack(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """`python -m devstack ARGS` in the repository, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "devstack", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def _stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM to serve's pid, a bounded wait, SIGKILL if it did not stop."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
    try:
        return process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        return process.wait(timeout=STOP_TIMEOUT)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("serve")
    state_dir, settings_path, log = base / "state", base / "local.settings.json", base / "serve.log"
    command = [sys.executable, "-m", "devstack", "serve", "--root", str(ROOT), "--state-dir", str(state_dir)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--settings", str(settings_path)], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not (state_dir / "serve.json").exists():
            assert process.poll() is None, f"serve exited with {process.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"serve did not start in {START_TIMEOUT} s:\n{log.read_text()}"
            time.sleep(0.1)
        yield Served(process, state_dir, settings_path, log)
    finally:
        _stop(process)


@pytest.fixture
def app_env(served: Served, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The served local.settings.json Values as the environment, as `func start` sets it, and a fresh runtime."""
    for name in ("MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT"):
        monkeypatch.delenv(name, raising=False)
    values = served.values
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    reset_runtime()
    yield values
    reset_runtime()


def _secret(values: dict[str, str], name: str) -> str | None:
    """The secret's value through the real SecretClient and managed identity; None when not found."""
    with ManagedIdentityCredential() as credential:
        client = SecretClient(
            values["KEY_VAULT_URL"],
            credential=credential,
            verify_challenge_resource=False,
            connection_verify=values["CONNECTOR_CA_BUNDLE"],
            retry_total=0,
        )
        with client:
            try:
                return client.get_secret(name).value
            except ResourceNotFoundError:
                return None


def _listed_namespaces(values: dict[str, str]) -> set[str]:
    """Resource Graph's namespaces in the served subscription, with a token from the identity stand-in."""
    token = requests.get(
        values["IDENTITY_ENDPOINT"],
        params={"api-version": "2019-08-01", "resource": "https://management.azure.com"},
        headers={"X-IDENTITY-HEADER": values["IDENTITY_HEADER"]},
        timeout=10,
    ).json()["access_token"]
    answer = requests.post(
        values["AZURE_RESOURCE_MANAGER_URL"] + RESOURCES_PATH,
        params={"api-version": "2021-03-01"},
        json={"subscriptions": [DEFAULT_SUBSCRIPTION], "query": "resources | project name"},
        headers={"Authorization": f"Bearer {token}"},
        verify=values["CONNECTOR_CA_BUNDLE"],
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return {row["name"] for row in answer.json()["data"]}


def _post_connection(namespace: str) -> tuple[int, dict[str, Any]]:
    response = indexed_function("create_connection_http")(
        http_request("POST", "/api/connections", body={"namespace": namespace})
    )
    return response.status_code, response_json(response)


# -- local.settings.json ----------------------------------------------------------------------


def test_serve_writes_local_settings_with_every_setting_the_app_reads(served: Served) -> None:
    document = json.loads(served.settings_path.read_text())
    assert MARKER in document and document["IsEncrypted"] is False
    values = document["Values"]
    assert all(isinstance(value, str) for value in values.values()), "Core Tools reads string values only"
    identity_based = {name for name in READ if name.startswith("AzureWebJobsStorage__")}
    wanted = READ - {"MSI_ENDPOINT"} - OPTIONAL_SWITCHES - identity_based - LEFT_TO_THE_MACHINE
    assert not sorted(wanted - set(values)), "local.settings.json lacks settings the app reads"
    assert not set(values) & LEFT_TO_THE_MACHINE, "an exported variable would beat the file"
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert values["RECONCILE_SCHEDULE"] and values["AZURE_SUBSCRIPTION_IDS"] == DEFAULT_SUBSCRIPTION
    bundle = Path(values["CONNECTOR_CA_BUNDLE"]).read_text()
    assert bundle.count("BEGIN CERTIFICATE") > 10, "the bundle keeps the public roots"
    assert values["IDENTITY_HEADER"] and values["CONNECTOR_IDENTITY_CLIENT_ID"] == "system"
    assert values["DATAFLOW_DATASET_ID"] == SAMPLE_DATASET_ID
    state = served.state
    assert state.settings_path == str(served.settings_path)
    assert values["KEY_VAULT_URL"] == state.services["KEY_VAULT_URL"]
    for name in ("KEY_VAULT_URL", "IDENTITY_ENDPOINT", "AZURE_RESOURCE_MANAGER_URL", "ADOBE_IMS_URL"):
        assert values[name].split("://", 1)[1].startswith("127.0.0.1:"), name
    assert "127.0.0.1:" in values["AzureWebJobsStorage"]

    settings = Settings.from_env(values)
    assert settings.key_vault_url == values["KEY_VAULT_URL"].rstrip("/")
    assert settings.use_managed_identity and settings.azure_client_id is None
    assert settings.ca_bundle == values["CONNECTOR_CA_BUNDLE"]
    assert settings.subscription_ids == {DEFAULT_SUBSCRIPTION}


def test_the_served_settings_run_the_app_against_the_stand_ins(served: Served, app_env: dict[str, str]) -> None:
    status, body = _post_connection("contoso-telemetry")  # the sample namespace serve seeds
    assert status == 201, body
    assert body["state"] == "ready" and body["eventHubs"] == ["clicks", "views"]


def test_write_local_settings_keeps_a_file_serve_did_not_write(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    ours = {MARKER: "serve", "IsEncrypted": False, "Values": {"KEY_VAULT_URL": "https://127.0.0.1:1/"}}
    assert write_local_settings(path, ours) == "created"
    assert write_local_settings(path, {**ours, "Values": {}}) == "replaced"
    assert json.loads(path.read_text())["Values"] == {}
    assert path.stat().st_mode & 0o077 == 0, "it holds IDENTITY_HEADER"
    hand_written = '{"IsEncrypted": false, "Values": {"KEY_VAULT_URL": "https://contoso-kv.vault.azure.net/"}}\n'
    path.write_text(hand_written)
    assert write_local_settings(path, ours) == "kept"
    assert path.read_text() == hand_written
    path.write_text("{ not json")
    assert write_local_settings(path, ours) == "kept"
    assert write_local_settings(path, ours, force=True) == "overwritten"
    assert json.loads(path.read_text()) == ours


# -- the README's local recipes on a developer's machine -------------------------------------


@pytest.fixture(scope="module")
def machine_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What many developer machines export: a corporate CA file (here a real CA that signed none of
    the stand-ins) as REQUESTS_CA_BUNDLE and SSL_CERT_FILE, and a service principal's AZURE_CLIENT_ID."""
    corporate = tmp_path_factory.mktemp("machine") / "corporate-ca.pem"
    trustme.CA(organization_name="Contoso corporate proxy").cert_pem.write_to_path(str(corporate))
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(corporate.parent),
        "LANG": "C.UTF-8",
        "REQUESTS_CA_BUNDLE": str(corporate),
        "SSL_CERT_FILE": str(corporate),
        "AZURE_CLIENT_ID": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
    }


def cli(served: Served, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m cli --settings <served local.settings.json> ARGS` with exactly ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "cli", "--settings", str(served.settings_path), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_the_cli_recipe_works_on_a_machine_that_exports_its_own_ca_and_client_id(
    served: Served, machine_env: dict[str, str]
) -> None:
    added = devstack("add-namespace", "contoso-exported", "--state-dir", str(served.state_dir))
    assert added.returncode == 0, added.stderr
    created = cli(served, machine_env, "create", "contoso-exported")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["state"] == "ready"
    assert "overrides" not in created.stderr, "the file leaves the machine's variables alone"


def test_the_cli_names_every_exported_variable_that_overrides_the_file(
    served: Served, machine_env: dict[str, str]
) -> None:
    exported = {**machine_env, "SECRET_CACHE_SECONDS": "60", "ADOBE_SANDBOX_NAME": served.values["ADOBE_SANDBOX_NAME"]}
    exported["RECONCILE_DELETE"] = "true"
    listed = cli(served, exported, "list")
    assert listed.returncode == 0, listed.stderr
    [note] = [line for line in listed.stderr.splitlines() if "overrides" in line]
    assert note == (
        f"note: the environment overrides {served.settings_path} for RECONCILE_DELETE, SECRET_CACHE_SECONDS "
        "(exported variables win, as with func start; unset them to use the file's values)"
    ), "the same value exported (ADOBE_SANDBOX_NAME) overrides nothing"


def test_a_dataflow_against_serve_as_the_readme_says(served: Served, machine_env: dict[str, str]) -> None:
    flow = cli(served, machine_env, "dataflow", "--namespace", "contoso-telemetry", "--event-hub", "clicks")
    assert flow.returncode == 0, flow.stderr
    record = json.loads(flow.stdout)
    assert record["state"] == "ready" and record["datasetId"] == SAMPLE_DATASET_ID and record["flowId"]

    added = devstack("add-dataset", "Page views", "--state-dir", str(served.state_dir))
    assert added.returncode == 0, added.stderr
    dataset = re.search(r"added dataset ([0-9a-f]{24}) ", added.stdout)
    assert dataset, added.stdout
    views = cli(
        served, machine_env, "dataflow", "--namespace", "contoso-telemetry", "--event-hub", "views",
        "--dataset", dataset.group(1),
    )  # fmt: skip
    assert views.returncode == 0, views.stderr
    assert json.loads(views.stdout)["datasetId"] == dataset.group(1)

    taken = devstack("add-dataset", "Again", "--id", SAMPLE_DATASET_ID, "--state-dir", str(served.state_dir))
    assert taken.returncode == 2 and "exists already" in taken.stderr
    unknown = devstack("add-dataset", "Elsewhere", "--sandbox", "nowhere", "--state-dir", str(served.state_dir))
    assert unknown.returncode == 2 and "does not exist" in unknown.stderr


# -- add-namespace ----------------------------------------------------------------------------


def test_add_namespace_scoped_reaches_the_vault_resource_graph_and_explore(
    served: Served, app_env: dict[str, str]
) -> None:
    added = devstack("add-namespace", "contoso-orders", "--scoped", "orders", "--state-dir", str(served.state_dir))
    assert added.returncode == 0, added.stderr
    assert "eventhubs-sas-contoso-orders" in added.stdout and "EntityPath=orders" in added.stdout

    stored = _secret(app_env, "eventhubs-sas-contoso-orders") or ""
    assert stored.startswith("Endpoint=sb://contoso-orders.servicebus.windows.net/;SharedAccessKeyName=")
    assert stored.endswith(";EntityPath=orders") and "SharedAccessKey=" in stored
    assert {"contoso-telemetry", "contoso-orders"} <= _listed_namespaces(app_env)

    status, body = _post_connection("contoso-orders")  # the app explores what Adobe lists for it
    assert status == 201, body
    assert body["eventHubName"] == "orders" and body["eventHubs"] == ["orders"]
    assert "add-namespace contoso-orders" in served.output()


def test_add_namespace_without_a_secret(served: Served, app_env: dict[str, str]) -> None:
    added = devstack("add-namespace", "contoso-nosecret", "--no-secret", "--state-dir", str(served.state_dir))
    assert added.returncode == 0, added.stderr
    assert "no secret" in added.stdout
    assert _secret(app_env, "eventhubs-sas-contoso-nosecret") is None
    assert _secret(app_env, "eventhubs-sas-contoso-telemetry"), "the vault answers other secrets"
    assert "contoso-nosecret" in _listed_namespaces(app_env)


def test_event_command_prints_an_event_the_app_takes(served: Served, app_env: dict[str, str]) -> None:
    added = devstack(
        "add-namespace", "contoso-billing", "--event-hub", "invoices", "--state-dir", str(served.state_dir)
    )
    assert added.returncode == 0, added.stderr
    printed = devstack("event", "namespace-write", "contoso-billing")
    assert printed.returncode == 0, printed.stderr
    events = json.loads(printed.stdout)
    assert isinstance(events, list) and len(events) == 1
    assert events[0]["eventType"] == "Microsoft.Resources.ResourceWriteSuccess"
    assert events[0]["subject"].endswith("/providers/Microsoft.EventHub/namespaces/contoso-billing")

    indexed_function("on_namespace_event")(event_grid_event(events[0]))
    fetched = indexed_function("get_connection_http")(
        http_request("GET", "/api/connections/contoso-billing", route_params={"namespace": "contoso-billing"})
    )
    assert fetched.status_code == 200
    assert response_json(fetched)["eventHubs"] == ["invoices"]


def test_add_namespace_again_says_the_key_rotated(served: Served) -> None:
    first = devstack("add-namespace", "contoso-again", "--state-dir", str(served.state_dir))
    assert first.returncode == 0 and "NEW VERSION" not in first.stdout
    again = devstack("add-namespace", "contoso-again", "--state-dir", str(served.state_dir))
    assert again.returncode == 0 and "a NEW VERSION" in again.stdout and "its key rotated" in again.stdout
    assert "event secret-new-version contoso-again" in again.stdout


def test_add_namespace_refuses_a_bad_name(served: Served) -> None:
    refused = devstack("add-namespace", "x", "--state-dir", str(served.state_dir))
    assert refused.returncode == 2
    assert "not an Event Hubs namespace name" in refused.stderr


def test_add_namespace_without_a_running_devstack_exits_2(tmp_path: Path) -> None:
    missing = devstack("add-namespace", "contoso-orders", "--state-dir", str(tmp_path))
    assert missing.returncode == 2
    assert "no devstack is running" in missing.stderr and "devstack serve" in missing.stderr

    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait(timeout=10)
    write_state(tmp_path / "serve.json", ServeState(exited.pid, "http://127.0.0.1:9", "token", "x"))
    stale = devstack("add-namespace", "contoso-orders", "--state-dir", str(tmp_path))
    assert stale.returncode == 2
    assert f"pid {exited.pid}" in stale.stderr and "has exited" in stale.stderr


def test_a_second_serve_on_the_same_state_dir_refuses(served: Served) -> None:
    second = devstack("serve", "--state-dir", str(served.state_dir), "--settings", str(served.settings_path))
    assert second.returncode == 2
    assert f"already running (pid {served.state.pid}" in second.stdout


def test_sigterm_stops_serve_and_removes_its_state(served: Served) -> None:
    bundle = Path(served.values["CONNECTOR_CA_BUNDLE"])
    found = re.search(r"^  Azurite .*\(pid (\d+)\)$", served.output(), re.MULTILINE)
    assert found, served.output()
    azurite_pid = int(found.group(1))
    assert _stop(served.process) == 0
    assert not (served.state_dir / "serve.json").exists()
    assert not bundle.exists()
    assert served.settings_path.exists(), "local.settings.json stays for the next func start"
    with pytest.raises(ProcessLookupError):
        os.kill(azurite_pid, 0)
    assert "stopping devstack" in served.output()
