"""The operator CLI, run as a real process against the local stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from devstack.azurite import find_repo_root
from tests.functional.conftest import App

ROOT = find_repo_root()


def ready_namespace(app: App, namespace: str, hubs: list[str]) -> str:
    """A namespace with its secret and event hubs, and a dataset to flow into; returns the dataset id."""
    app.stack.add_eventhubs_namespace(namespace)
    app.stack.adobe.set_event_hubs(namespace, hubs)
    return app.stack.adobe.add_dataset("Clickstream events")


def cli(app: App, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=ROOT,
        env={**os.environ, **app.env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    app.responses.append((result.stdout + result.stderr).encode())
    return result


def test_backfill_of_fifty_namespaces(app: App, tmp_path: Path) -> None:
    names = [f"backfill-ns-{i:02d}" for i in range(50)]
    for name in names:
        app.stack.add_eventhubs_namespace(name)
    listing = tmp_path / "namespaces.txt"
    listing.write_text("# namespaces that existed before the function\n" + "\n".join(names) + "\n\n")
    result = cli(app, "create", "--file", str(listing), "--workers", "8")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 50 and all(line["state"] == "ready" and line["created"] for line in lines)
    assert "50 of 50 succeeded" in result.stderr
    assert "[##############################] 50/50 (0 failed)" in result.stderr
    assert len(app.stack.adobe.connections("prod")) == 50
    # Running the backfill again creates nothing.
    again = cli(app, "create", "--file", str(listing))
    assert again.returncode == 0
    assert all(not json.loads(line)["created"] for line in again.stdout.splitlines())
    assert len(app.stack.adobe.connections("prod")) == 50


def test_exit_status_says_whether_all_succeeded(app: App, tmp_path: Path) -> None:
    app.stack.add_eventhubs_namespace("present-one")
    listing = tmp_path / "mixed.txt"
    listing.write_text('present-one\nmissing-secret\n{"namespace": "present-one", "sandbox": "dev"}\n')
    result = cli(app, "create", "--file", str(listing))
    assert result.returncode == 1
    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o.get("state") or o["error"]["code"] for o in outputs] == ["ready", "SecretNotFound", "ready"]
    assert "2 of 3 succeeded" in result.stderr


def test_single_create_show_and_list(app: App) -> None:
    app.stack.add_eventhubs_namespace("single-namespace")
    assert cli(app, "create", "single-namespace", "--event-hub", "clicks").returncode == 0
    shown = cli(app, "show", "single-namespace", "--event-hub", "clicks")
    assert shown.returncode == 0 and json.loads(shown.stdout)["eventHubName"] == "clicks"
    missing = cli(app, "show", "other-namespace")
    assert missing.returncode == 1 and "ConnectionNotFound" in missing.stderr
    listed = cli(app, "list", "--state", "ready")
    assert [json.loads(line)["namespace"] for line in listed.stdout.splitlines()] == ["single-namespace"]


def test_bad_usage_and_bad_file_lines_exit_2(app: App, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("good-namespace\nBad_Name\n")
    result = cli(app, "create", "--file", str(bad))
    assert result.returncode == 2 and "bad.txt:2" in result.stderr
    assert app.stack.adobe.platform_requests == []
    env_missing = subprocess.run(
        [sys.executable, "-m", "cli", "list"],
        cwd=ROOT,
        env={k: v for k, v in {**os.environ, **app.env}.items() if k != "KEY_VAULT_URL"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert env_missing.returncode == 2 and "KEY_VAULT_URL" in env_missing.stderr


def test_dataflow_from_options_then_show_and_list(app: App) -> None:
    dataset = ready_namespace(app, "flow-namespace", ["clicks", "views"])
    options = ("--namespace", "flow-namespace", "--event-hub", "clicks", "--dataset", dataset)
    result = cli(app, "dataflow", *options, "--consumer-group", "cli-readers", "--name", "Clicks to AEP")
    assert result.returncode == 0, result.stderr
    [line] = [json.loads(line) for line in result.stdout.splitlines()]
    adobe = app.stack.adobe
    [flow], [source], [target] = adobe.flows(), adobe.source_connections(), adobe.target_connections()
    assert line["state"] == "ready" and line["created"] is True
    assert line["flowId"] == flow["id"] and line["sourceConnectionId"] == source["id"]
    assert line["targetConnectionId"] == target["id"] and source["baseConnectionId"] == line["connectionId"]
    assert line["datasetId"] == dataset and line["consumerGroup"] == "cli-readers" and flow["name"] == "Clicks to AEP"
    assert "1 of 1 succeeded" in result.stderr and "failed)" not in result.stderr  # no progress bar for one
    # The same request again: found, nothing created.
    again = cli(app, "dataflow", *options, "--consumer-group", "cli-readers")
    assert again.returncode == 0 and json.loads(again.stdout)["created"] is False
    assert len(adobe.flows()) == 1

    shown = cli(app, "show", "flow-namespace")
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert record["connectionId"] == line["connectionId"] and record["eventHubs"] == ["clicks", "views"]
    assert [d["flowId"] for d in record["dataflows"]] == [flow["id"]]
    other_sandbox = cli(app, "show", "flow-namespace", "--sandbox", "dev")
    assert other_sandbox.returncode == 1 and "ConnectionNotFound" in other_sandbox.stderr

    listed = cli(app, "list")
    assert listed.returncode == 0 and "2 record(s): 1 connection(s), 1 dataflow(s)" in listed.stderr
    connection_line, dataflow_line = (json.loads(line) for line in listed.stdout.splitlines())
    assert "kind" not in connection_line and connection_line["connectionId"] == line["connectionId"]
    assert dataflow_line["kind"] == "dataflow" and dataflow_line["flowId"] == flow["id"]
    only = cli(app, "list", "--kind", "dataflow", "--namespace", "flow-namespace", "--state", "ready")
    assert [json.loads(line)["eventHubName"] for line in only.stdout.splitlines()] == ["clicks"]


def test_dataflow_file_exit_status_says_whether_all_succeeded(app: App, tmp_path: Path) -> None:
    dataset = ready_namespace(app, "flows-from-file", ["clicks", "views", "orders"])
    listing = tmp_path / "dataflows.jsonl"
    listing.write_text(
        "# one POST /api/dataflows body per line; --dataset fills in datasetId\n"
        '{"namespace": "flows-from-file", "eventHubName": "clicks"}\n'
        "\n"
        '{"namespace": "flows-from-file", "eventHubName": "views", "reset": "latest"}\n'
        '{"namespace": "flows-from-file", "eventHubName": "orders", "datasetId": "no-such-dataset"}\n'
    )
    result = cli(app, "dataflow", "--file", str(listing), "--dataset", dataset)
    assert result.returncode == 1
    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o.get("state") or o["error"]["code"] for o in outputs] == ["ready", "ready", "DatasetNotFound"]
    assert [o["eventHubName"] for o in outputs] == ["clicks", "views", "orders"]
    assert "2 of 3 succeeded" in result.stderr
    assert "[##############################] 3/3 (1 failed)" in result.stderr
    assert len(app.stack.adobe.flows()) == 2
    # One connection served all three (created once, whatever ran first).
    connections = app.stack.adobe.connections("prod")
    assert [c["auth"]["params"]["namespace"] for c in connections] == ["flows-from-file"]


def test_dataflow_bad_usage_and_bad_file_lines_exit_2(app: App, tmp_path: Path) -> None:
    dataset = ready_namespace(app, "flows-bad-lines", ["clicks"])
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        f'{{"namespace": "flows-bad-lines", "eventHubName": "clicks", "datasetId": "{dataset}"}}\n'
        '{"namespace": "flows-bad-lines", "eventHub": "clicks"}\n'
    )
    result = cli(app, "dataflow", "--file", str(bad))
    assert result.returncode == 2 and "bad.jsonl:2" in result.stderr and "eventHub" in result.stderr
    not_json = tmp_path / "not-json.jsonl"
    not_json.write_text("flows-bad-lines clicks\n")
    assert "not-json.jsonl:1: not valid JSON" in cli(app, "dataflow", "--file", str(not_json)).stderr
    missing_hub = cli(app, "dataflow", "--namespace", "flows-bad-lines", "--dataset", dataset)
    assert missing_hub.returncode == 2 and "--event-hub" in missing_hub.stderr
    nothing = cli(app, "dataflow")
    assert nothing.returncode == 2 and "--file" in nothing.stderr
    assert app.stack.adobe.platform_requests == []


def test_reconcile_dry_run_then_now(app: App) -> None:
    subscription = "00000000-0000-0000-0000-0000000000c3"
    app.env["AZURE_SUBSCRIPTION_IDS"] = subscription
    for name in ("contoso-cli-a", "contoso-cli-b", "contoso-cli-c"):
        app.stack.resource_graph.add_namespace(name, subscription_id=subscription)
    app.stack.add_eventhubs_namespace("contoso-cli-a")
    app.stack.add_eventhubs_namespace("contoso-cli-b")
    dry = cli(app, "reconcile", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout and "namespaces seen" in dry.stdout
    assert app.stack.adobe.calls("POST", r"/connections$") == []
    now = cli(app, "reconcile", "--now", "--concurrency", "2")
    assert now.returncode == 0, now.stderr
    table = {
        label.strip(): int(value) for label, value in (line.rsplit(None, 1) for line in now.stdout.splitlines()[1:])
    }
    assert table["namespaces seen"] == 3 and table["created"] == 2 and table["pending secret"] == 1
    assert "3/3" in now.stderr  # the progress bar
    assert len(app.stack.adobe.calls("POST", r"/connections$")) == 2
    again = cli(app, "reconcile", "--now")
    table = {
        label.strip(): int(value) for label, value in (line.rsplit(None, 1) for line in again.stdout.splitlines()[1:])
    }
    assert (
        table["created"] == 0
        and table["already ready"] == 2
        and len(app.stack.adobe.calls("POST", r"/connections$")) == 2
    )


def test_reconcile_without_subscriptions_says_so(app: App) -> None:
    result = cli(app, "reconcile")
    assert result.returncode == 0 and "nothing to list" in result.stderr


def test_reconcile_now_stops_cleanly_on_ctrl_c_without_losing_a_claim(app: App) -> None:
    import signal
    import time

    from azure.data.tables import TableServiceClient

    subscription = "00000000-0000-0000-0000-0000000000c4"
    app.env["AZURE_SUBSCRIPTION_IDS"] = subscription
    names = [f"contoso-sigint-{i:02d}" for i in range(12)]
    for name in names:
        app.stack.resource_graph.add_namespace(name, subscription_id=subscription)
        app.stack.add_eventhubs_namespace(name)
    app.stack.adobe.create_delay = 0.6
    worker = subprocess.Popen(
        [sys.executable, "-m", "cli", "reconcile", "--now", "--concurrency", "2"],
        cwd=ROOT,
        env={**os.environ, **app.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for _ in range(200):  # until creates are under way
        if len(app.stack.adobe.calls("POST", r"/connections$")) >= 2:
            break
        time.sleep(0.05)
    worker.send_signal(signal.SIGINT)
    out, err = worker.communicate(timeout=60)
    app.responses.append((out + err).encode())
    assert worker.returncode == 130, err[-2000:]
    assert "interrupted" in err
    table = TableServiceClient.from_connection_string(app.stack.storage_connection_string).get_table_client(app.table)
    states = [e["State"] for e in table.list_entities()]
    assert "creating" not in states  # every create under way finished and released its claim
    made = len(app.stack.adobe.connections("prod"))
    assert 0 < made < len(names) and states.count("ready") == made  # nothing new started, nothing orphaned
