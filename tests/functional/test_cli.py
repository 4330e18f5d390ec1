"""The operator CLI, run as a real process against the local stack."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.azurite import find_repo_root
from devstack.faults import Fault
from tests.functional.conftest import App, body
from tests.unit.test_cli_console import screen

ROOT = find_repo_root()


def ready_namespace(app: App, namespace: str, hubs: list[str]) -> str:
    """A namespace with its secret and event hubs, and a dataset to flow into; returns the dataset id."""
    app.stack.add_eventhubs_namespace(namespace)
    app.stack.adobe.set_event_hubs(namespace, hubs)
    return app.stack.adobe.add_dataset("Clickstream events")


def cli(app: App, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=ROOT,
        env={**os.environ, **app.env} if env is None else env,
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
    assert "[#" not in result.stderr  # no progress bar when stderr is not a terminal
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
    # One line per failure: its JSON line, named in the summary, and no log line repeating it on stderr.
    assert result.stdout.count("SecretNotFound") == 1
    assert result.stderr.splitlines() == ["2 of 3 succeeded; failed: prod/missing-secret/- (SecretNotFound)."]


def test_single_create_show_and_list(app: App) -> None:
    app.stack.add_eventhubs_namespace("single-namespace")
    assert cli(app, "create", "single-namespace", "--event-hub", "clicks").returncode == 0
    shown = cli(app, "show", "single-namespace", "--event-hub", "clicks", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["eventHubName"] == "clicks"
    missing = cli(app, "show", "other-namespace")
    assert missing.returncode == 1 and "ConnectionNotFound" in missing.stderr
    listed = cli(app, "list", "--state", "ready", "--json")
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

    shown = cli(app, "show", "flow-namespace", "--json")
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert record["connectionId"] == line["connectionId"] and record["eventHubs"] == ["clicks", "views"]
    assert [d["flowId"] for d in record["dataflows"]] == [flow["id"]]
    other_sandbox = cli(app, "show", "flow-namespace", "--sandbox", "dev")
    assert other_sandbox.returncode == 1 and "ConnectionNotFound" in other_sandbox.stderr

    listed = cli(app, "list", "--json")
    assert listed.returncode == 0 and "2 record(s): 1 connection(s), 1 dataflow(s)" in listed.stderr
    connection_line, dataflow_line = (json.loads(line) for line in listed.stdout.splitlines())
    assert "kind" not in connection_line and connection_line["connectionId"] == line["connectionId"]
    assert dataflow_line["kind"] == "dataflow" and dataflow_line["flowId"] == flow["id"]
    only = cli(app, "list", "--kind", "dataflow", "--namespace", "flow-namespace", "--state", "ready", "--json")
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
    assert "2 of 3 succeeded" in result.stderr and "failed)" not in result.stderr  # no bar: not a terminal
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
    table = _summary(now.stdout)
    assert table["namespaces seen"] == 3 and table["created"] == 2 and table["pending secret"] == 1
    assert "3/3" not in now.stderr  # no progress bar when stderr is not a terminal
    assert len(app.stack.adobe.calls("POST", r"/connections$")) == 2
    again = cli(app, "reconcile", "--now")
    table = _summary(again.stdout)
    assert (
        table["created"] == 0
        and table["already ready"] == 2
        and len(app.stack.adobe.calls("POST", r"/connections$")) == 2
    )


def test_reconcile_adopt_in_rebuilds_the_records_of_another_sandbox_after_storage_was_lost(app: App) -> None:
    """The lost table no longer names `dev`: `--adopt-in dev` adopts its connection, so a repeat creates nothing."""
    import uuid

    subscription = app.env["AZURE_SUBSCRIPTION_IDS"] = "00000000-0000-0000-0000-0000000000c5"
    app.stack.adobe.add_sandbox("dev")
    app.stack.add_eventhubs_namespace("contoso-cli-dev")
    for managed in ("contoso-cli-dev", "contoso-cli-dev2"):  # adoption is for namespaces listed where it manages
        app.stack.resource_graph.add_namespace(managed, subscription_id=subscription)
    made = body(app.post({"namespace": "contoso-cli-dev", "sandbox": "dev"}))
    app.env["CONNECTIONS_TABLE"] = "R" + uuid.uuid4().hex[:16]  # storage recreated: records lost
    plain = cli(app, "reconcile", "--dry-run")
    assert plain.returncode == 0 and _summary(plain.stdout)["adopted"] == 0  # nothing says `dev` is in use
    adopted = cli(app, "reconcile", "--adopt-in", "dev")
    assert adopted.returncode == 0, adopted.stderr
    assert _summary(adopted.stdout)["adopted"] == 1
    shown = cli(app, "show", "contoso-cli-dev", "--sandbox", "dev", "--json")
    assert json.loads(shown.stdout)["connectionId"] == made["connectionId"]
    # Now a record names `dev`: a plain pass adopts there too (a connection made in Adobe by other means).
    params = {"sasKeyName": "RootManageSharedAccessKey", "sasKey": "k" * 44, "namespace": "contoso-cli-dev2"}
    other = app.stack.adobe.seed_connection("Azure Event Hubs contoso-cli-dev2", params, sandbox="dev")
    plain = cli(app, "reconcile")
    assert plain.returncode == 0 and _summary(plain.stdout)["adopted"] == 1, plain.stdout
    shown = cli(app, "show", "contoso-cli-dev2", "--sandbox", "dev", "--json")
    assert json.loads(shown.stdout)["connectionId"] == other["id"]


def _summary(stdout: str) -> dict[str, int]:
    """The summary table of `reconcile` (a title line, then `label  value` lines)."""
    return {label.strip(): int(value) for label, value in (line.rsplit(None, 1) for line in stdout.splitlines()[1:])}


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
        # As from a terminal: a job a shell started in the background inherits SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
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


# -- usage errors -----------------------------------------------------------------------------------


def _usage_cases(tmp: Path) -> list[tuple[list[str], str]]:
    """(arguments, a fragment the one error line must contain)."""
    (tmp / "not-json.json").write_text("{not json")
    (tmp / "no-values.json").write_text('{"IsEncrypted": false}')
    (tmp / "bad-value.json").write_text('{"Values": {"KEY_VAULT_URL": null}}')
    (tmp / "namespaces.txt").write_text("usage-namespace\n")
    missing = str(tmp / "missing.txt")
    return [
        (["create", "--file", missing], "missing.txt: cannot be read"),
        (["dataflow", "--file", missing], "missing.txt: cannot be read"),
        (["create", "--file", str(tmp)], "cannot be read"),  # a directory
        (["--settings", str(tmp / "missing.json"), "list"], "--settings"),
        (["list", "--settings", str(tmp / "missing.json")], "missing.json: cannot be read"),
        (["list", "--settings", str(tmp / "not-json.json")], "not valid JSON"),
        (["list", "--settings", str(tmp / "no-values.json")], '"Values"'),
        (["list", "--settings", str(tmp / "bad-value.json")], "Values.KEY_VAULT_URL"),
        (["create", "--workers", "0", "usage-namespace"], "--workers"),
        (["create", "--workers", "many", "usage-namespace"], "--workers"),
        (["reconcile", "--concurrency", "-1"], "--concurrency"),
        (["reconcile", "--adopt-in", "Not_A_Sandbox"], "--adopt-in"),
        (["list", "--state", "broken"], "--state"),
        (["list", "--kind", "queue"], "--kind"),
        (["retry-failed", "--kind", "queue"], "--kind"),
        (["create", "--auth-type", "basic", "usage-namespace"], "--auth-type"),
        (["list", "--sandbox", "Not_A_Sandbox"], "--sandbox"),
        (["show", "usage-namespace", "--event-hub", "bad hub"], "--event-hub"),
        (["create", "usage-namespace", "--sandbox", "Not_A_Sandbox"], "--sandbox"),
        (["create", "Bad_Name"], "NAMESPACE"),
        (["show"], "NAMESPACE"),
        (["delete"], "NAMESPACE"),
        (["create"], "NAMESPACE or --file"),
        (["create", "usage-namespace", "--file", str(tmp / "namespaces.txt")], "not both"),
        (["create", "--file", str(tmp / "namespaces.txt"), "--name", "One name"], "--name"),
        (["dataflow", "--file", str(tmp / "namespaces.txt"), "--name", "One flow"], "--name"),
        (["dataflow", "--namespace", "usage-namespace", "--data-type", "json"], "--data-type"),
        (["delete", "usage-namespace", "--sandbox", "Not_A_Sandbox"], "--sandbox"),
        (["retry-failed", "--dry-run", "extra"], "unrecognized arguments: extra"),
        (["list", "--no-such-option"], "--no-such-option"),
        (["frobnicate"], "frobnicate"),
        ([], "COMMAND"),
    ]


def test_every_usage_error_exits_2_with_one_line(app: App, tmp_path: Path) -> None:
    for args, fragment in _usage_cases(tmp_path):
        result = cli(app, *args)
        lines = result.stderr.splitlines()
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr, (args, result.stderr)
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.stderr)
        assert fragment in lines[0], (args, lines[0])
        assert result.stdout == "", args
    assert app.stack.adobe.platform_requests == []


def test_global_options_before_and_after_the_command(app: App, tmp_path: Path) -> None:
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps({"IsEncrypted": False, "Values": {"KEY_VAULT_URL": app.env["KEY_VAULT_URL"]}}))
    env = {k: v for k, v in {**os.environ, **app.env}.items() if k != "KEY_VAULT_URL"}
    assert cli(app, "list", env=env).returncode == 2  # the setting is missing without the file
    before = cli(app, "--settings", str(settings), "list", env=env)
    after = cli(app, "list", "--state", "ready", "--settings", str(settings), env=env)
    assert before.returncode == 0 and after.returncode == 0, before.stderr + after.stderr
    assert after.stdout.splitlines() == ["no records"]
    app.stack.add_eventhubs_namespace("verbose-namespace")
    quiet = cli(app, "create", "verbose-namespace")
    verbose = cli(app, "create", "verbose-namespace", "--event-hub", "clicks", "--verbose")
    assert quiet.returncode == 0 and verbose.returncode == 0
    assert "INFO:" not in quiet.stderr
    assert "INFO: connection created for prod/verbose-namespace/clicks" in verbose.stderr


def test_create_passes_name_and_description_to_adobe(app: App) -> None:
    app.stack.add_eventhubs_namespace("named-namespace")
    result = cli(app, "create", "named-namespace", "--name", "Contoso telemetry", "--description", "Web shop clicks")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["name"] == "Contoso telemetry"
    [connection] = app.stack.adobe.connections("prod")
    assert connection["name"] == "Contoso telemetry" and connection["description"] == "Web shop clicks"


# -- list and show: tables ----------------------------------------------------------------------------


def _rows(lines: list[str]) -> list[dict[str, str]]:
    """The rows of a table by header (columns are two or more spaces apart; a cell may hold one space)."""
    columns = [(m.group(), m.start()) for m in re.finditer(r"\S+(?: \S+)*", lines[0])]
    ends = [start for _, start in columns[1:]] + [None]
    return [
        {name: line[start:end].strip() for (name, start), end in zip(columns, ends, strict=True)} for line in lines[1:]
    ]


def _table(stdout: str) -> tuple[list[dict[str, str]], str]:
    """The rows of a table and the summary line after it."""
    *lines, summary = stdout.splitlines()
    return _rows(lines), summary


def test_list_and_show_print_a_table_and_a_per_state_summary(app: App) -> None:
    dataset = ready_namespace(app, "table-namespace", ["clicks"])
    flow = cli(app, "dataflow", "--namespace", "table-namespace", "--event-hub", "clicks", "--dataset", dataset)
    assert flow.returncode == 0, flow.stderr
    assert cli(app, "create", "table-missing-secret").returncode == 1
    app.event("namespace-created.json")  # contoso-telemetry has no secret yet: pending_secret
    listed = cli(app, "list")
    assert listed.returncode == 0, listed.stderr
    rows, summary = _table(listed.stdout)
    assert summary == "2 ready, 1 pending_secret, 1 failed"
    by_kind = {(row["KIND"], row["NAMESPACE"]): row for row in rows}
    assert set(by_kind) == {
        ("connection", "table-namespace"),
        ("connection", "table-missing-secret"),
        ("connection", "contoso-telemetry"),
        ("dataflow", "table-namespace"),
    }
    connection_id = json.loads(flow.stdout)["connectionId"]
    assert by_kind["connection", "table-namespace"]["CONNECTION ID"] == connection_id
    assert by_kind["dataflow", "table-namespace"]["FLOW ID"] == app.stack.adobe.flows()[0]["id"]
    assert by_kind["dataflow", "table-namespace"]["EVENT HUB"] == "clicks"
    assert by_kind["connection", "table-missing-secret"]["ERROR"] == "SecretNotFound"
    assert by_kind["connection", "table-missing-secret"]["STATE"] == "failed"
    assert by_kind["connection", "table-namespace"]["ERROR"] == "-"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", by_kind["connection", "table-namespace"]["UPDATED"])
    failed_rows, failed_summary = _table(cli(app, "list", "--state", "failed").stdout)
    assert [row["NAMESPACE"] for row in failed_rows] == ["table-missing-secret"] and failed_summary == "1 failed"
    flows_only, _ = _table(cli(app, "list", "--kind", "dataflow").stdout)
    assert [row["KIND"] for row in flows_only] == ["dataflow"]
    as_json = cli(app, "list", "--json")
    assert len([json.loads(line) for line in as_json.stdout.splitlines()]) == 4
    assert "4 record(s): 3 connection(s), 1 dataflow(s)." in as_json.stderr

    shown = cli(app, "show", "table-namespace")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[-1] == "2 ready" and "event hubs: clicks" in lines
    assert [line.split()[0] for line in lines[1:3]] == ["connection", "dataflow"]
    failed = cli(app, "show", "table-missing-secret")
    assert "last error SecretNotFound: Key Vault secret 'eventhubs-sas-table-missing-secret'" in failed.stdout
    assert failed.stdout.splitlines()[-1] == "1 failed"


# -- delete ---------------------------------------------------------------------------------------------


def test_delete_marks_the_records_deleted_and_leaves_adobe(app: App) -> None:
    dataset = ready_namespace(app, "delete-namespace", ["clicks"])
    options = ("--namespace", "delete-namespace", "--event-hub", "clicks", "--dataset", dataset)
    assert cli(app, "dataflow", *options).returncode == 0
    result = cli(app, "delete", "delete-namespace")
    assert result.returncode == 0, result.stderr
    assert app.entity("delete-namespace")["State"] == "deleted"
    shown = json.loads(cli(app, "show", "delete-namespace", "--json").stdout)
    assert shown["state"] == "deleted" and [d["state"] for d in shown["dataflows"]] == ["deleted"]
    adobe = app.stack.adobe
    assert len(adobe.connections("prod")) == 1 and len(adobe.flows()) == 1  # Adobe untouched
    assert adobe.calls("DELETE") == []
    missing = cli(app, "delete", "no-such-namespace")
    assert missing.returncode == 1 and "ConnectionNotFound" in missing.stderr


def test_delete_with_adobe_tears_the_dataflows_down_then_the_connection(app: App) -> None:
    dataset = ready_namespace(app, "delete-adobe-ns", ["clicks", "views"])
    for hub in ("clicks", "views"):
        flow = cli(app, "dataflow", "--namespace", "delete-adobe-ns", "--event-hub", hub, "--dataset", dataset)
        assert flow.returncode == 0, flow.stderr
    app.stack.add_eventhubs_namespace("delete-keep-ns")
    assert cli(app, "create", "delete-keep-ns").returncode == 0
    adobe = app.stack.adobe
    assert len(adobe.connections("prod")) == 2 and len(adobe.flows()) == 2
    result = cli(app, "delete", "delete-adobe-ns", "--adobe", "--yes")
    assert result.returncode == 0, result.stderr
    # The flows went first (Adobe refuses to delete a connection used by flows), then the connection.
    assert adobe.flows() == [] and adobe.source_connections() == [] and adobe.target_connections() == []
    assert [c["auth"]["params"]["namespace"] for c in adobe.connections("prod")] == ["delete-keep-ns"]
    entity = app.entity("delete-adobe-ns")
    assert entity["State"] == "deleted" and entity.get("AdobeDeleted") is True
    rows = _rows(result.stdout.splitlines())
    assert [(row["KIND"], row["STATE"]) for row in rows] == [("connection", "deleted")] + [("dataflow", "deleted")] * 2


def test_delete_with_adobe_reports_a_refusal_with_exit_1(app: App) -> None:
    app.stack.add_eventhubs_namespace("delete-in-use-ns")
    created = cli(app, "create", "delete-in-use-ns")
    connection_id = json.loads(created.stdout)["connectionId"]
    app.stack.adobe.mark_in_use(connection_id)  # a flow made by hand uses it
    result = cli(app, "delete", "delete-in-use-ns", "--adobe", "--yes")
    assert result.returncode == 1
    assert "1418-400" in result.stderr and "still in Adobe" in result.stderr
    assert [c["id"] for c in app.stack.adobe.connections("prod")] == [connection_id]
    assert app.entity("delete-in-use-ns")["State"] == "deleted"


# -- retry-failed -----------------------------------------------------------------------------------------


def test_retry_failed_queues_the_retryable_failures_only(app: App) -> None:
    app.stack.add_eventhubs_namespace("retry-busy-ns")
    app.stack.adobe.faults.add(Fault("POST", r"/connections$", status=429, headers={"Retry-After": "120"}, times=-1))
    busy = cli(app, "create", "retry-busy-ns", "--description", "EU shop clickstream")
    assert busy.returncode == 1 and json.loads(busy.stdout)["error"]["code"] == "DependencyUnavailable"
    app.stack.adobe.clear_faults()
    assert cli(app, "create", "retry-no-secret").returncode == 1  # SecretNotFound: permanent
    assert {app.entity(ns)["State"] for ns in ("retry-busy-ns", "retry-no-secret")} == {"failed"}

    dry = cli(app, "retry-failed", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert app.request_queue().peek_messages(max_messages=32) == []
    assert "0 would be queued" not in dry.stdout and "1 would be queued, 1 left failed" in dry.stdout

    result = cli(app, "retry-failed")
    assert result.returncode == 0, result.stderr
    rows, summary = _table(result.stdout)
    assert {(row["ACTION"], row["NAMESPACE"], row["ERROR"], row["WHY"]) for row in rows} == {
        ("queued", "retry-busy-ns", "DependencyUnavailable", "a retry can help"),
        ("left", "retry-no-secret", "SecretNotFound", "permanent: fix the cause"),
    }
    assert summary.startswith("1 queued, 1 left failed")
    messages = [json.loads(m.content) for m in app.request_queue().peek_messages(max_messages=32)]
    assert messages == [
        {
            "action": "create",
            "namespace": "retry-busy-ns",
            "sandbox": "prod",
            "authType": "sas",
            "description": "EU shop clickstream",  # nothing of the request is lost
        }
    ]
    app.drain_requests()  # the queue function creates it now that Adobe answers
    assert app.entity("retry-busy-ns")["State"] == "ready"
    [made] = [c for c in app.stack.adobe.connections() if c["auth"]["params"]["namespace"] == "retry-busy-ns"]
    assert made["description"] == "EU shop clickstream"
    assert app.entity("retry-no-secret")["State"] == "failed"
    assert cli(app, "retry-failed", "--kind", "dataflow").stdout.splitlines() == [
        "0 queued, 0 left failed (of 0 failed record(s))."
    ]


# -- progress on a terminal ---------------------------------------------------------------------------------

BAR = re.compile(r"\[[#.]{30}\] \d+/\d+ \(\d+ failed\)")


def _run_on_terminal(app: App, *args: str) -> str:
    """Run the CLI with stdout and stderr on one pseudo-terminal; everything it wrote."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", *args],
        cwd=ROOT,
        env={**os.environ, **app.env},
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    process.wait(timeout=60)
    written = b"".join(chunks).decode()
    app.responses.append(written.encode())
    return written


def test_progress_on_a_terminal_never_shares_a_line_with_a_result(app: App, tmp_path: Path) -> None:
    names = [f"terminal-ns-{i}" for i in range(6)]
    for name in names[:4]:
        app.stack.add_eventhubs_namespace(name)
    listing = tmp_path / "namespaces.txt"
    listing.write_text("\n".join(names) + "\n")
    written = _run_on_terminal(app, "create", "--file", str(listing), "--workers", "1", "--json")
    assert written.endswith("\n")
    *lines, last = screen(written)
    assert last == ""  # everything ended with a newline
    results = [json.loads(line) for line in lines if line.startswith("{")]
    bars = [line for line in lines if BAR.search(line)]
    assert [r.get("state") or r["error"]["code"] for r in results] == ["ready"] * 4 + ["SecretNotFound"] * 2
    assert bars == ["[##############################] 6/6 (2 failed)"]  # the bar, finished, on its own line
    summary = "4 of 6 succeeded; failed: prod/terminal-ns-4/- (SecretNotFound), prod/terminal-ns-5/- (SecretNotFound)."
    assert lines[-1] == summary
    assert all(line.startswith("{") or BAR.fullmatch(line) or line == summary for line in lines), lines
    assert BAR.search(written.split("\n")[1])  # the bar was drawn while the results came


@pytest.mark.parametrize("args", [["list"], ["list", "--json"]])
def test_no_progress_bar_for_a_listing_on_a_terminal(app: App, args: list[str]) -> None:
    app.stack.add_eventhubs_namespace("terminal-list-ns")
    assert cli(app, "create", "terminal-list-ns").returncode == 0
    shown = screen(_run_on_terminal(app, *args))
    assert not [line for line in shown if BAR.search(line)]
    assert any("terminal-list-ns" in line for line in shown)
