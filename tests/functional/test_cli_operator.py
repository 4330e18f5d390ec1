"""The CLI as an operator meets it (issue 22's "annoys"): where an unavailable dependency was looked for,
no SDK noise without --verbose, a scoped connection found by its namespace, a careful `delete --adobe`,
results as rows on a terminal with a summary naming the failures, and no result lost to Ctrl-C.
Run as real processes against the local stack; terminal output read from a real pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.functional.conftest import App, body
from tests.functional.test_cli import BAR, ROOT, cli
from tests.unit.test_cli_console import screen

UNASSIGNED_CLIENT_ID = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"


def on_terminal(
    app: App, *args: str, answer: bytes | None = None, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """Run the CLI with stdin, stdout and stderr on one pseudo-terminal (typing ``answer`` when it asks);
    its exit status and everything it wrote."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", *args],
        cwd=ROOT,
        env={**os.environ, **app.env, **(env or {})},
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
        if answer is not None and b"[y/N]" in b"".join(chunks):
            os.write(controller, answer)
            answer = None
    os.close(controller)
    status = process.wait(timeout=60)
    written = b"".join(chunks).decode()
    app.responses.append(written.encode())
    return status, written


# -- item 4: an unavailable dependency names its endpoint and setting ---------------------------------------


def test_an_unavailable_dependency_names_its_endpoint_its_setting_and_the_local_stack(app: App) -> None:
    app.stack.add_eventhubs_namespace("unreachable-ns")
    wrong = {"ADOBE_PLATFORM_URL": "http://127.0.0.1:9", "RETRY_BUDGET_SECONDS": "2"}
    created = cli(app, "create", "unreachable-ns", env={**os.environ, **app.env, **wrong})
    assert created.returncode == 1
    assert created.stderr.splitlines() == [
        "0 of 1 succeeded; failed: prod/unreachable-ns/- (DependencyUnavailable).",
        "hint: check Adobe Flow Service at http://127.0.0.1:9 (ADOBE_PLATFORM_URL); is `python -m devstack serve` running?",
    ]
    storage = app.env["AzureWebJobsStorage"].replace(f":{app.stack.azurite.table_port}/", ":9/")  # type: ignore[union-attr]
    listed = cli(app, "list", env={**os.environ, **app.env, "AzureWebJobsStorage": storage})
    assert listed.returncode == 1
    assert listed.stderr.splitlines()[-1] == (
        "hint: check Table storage at http://127.0.0.1:9/devstoreaccount1 (AzureWebJobsStorage); "
        "is `python -m devstack serve` running?"
    )


# -- item 8: the SDKs' lines only with --verbose ---------------------------------------------------------------


def test_sdk_log_lines_only_with_verbose(app: App) -> None:
    app.stack.add_eventhubs_namespace("identity-ns")
    env = {**os.environ, **app.env, "AZURE_CLIENT_ID": UNASSIGNED_CLIENT_ID}
    quiet = cli(app, "create", "identity-ns", env=env)
    assert quiet.returncode == 1
    assert quiet.stderr.splitlines() == ["0 of 1 succeeded; failed: prod/identity-ns/- (ConfigurationError)."]
    verbose = cli(app, "create", "identity-ns", "--verbose", env=env)
    assert any("ManagedIdentityCredential" in line for line in verbose.stderr.splitlines()), verbose.stderr


# -- item 5: a scoped connection found by its namespace -----------------------------------------------------


def test_a_scoped_connection_is_found_by_its_namespace(app: App) -> None:
    app.stack.add_eventhubs_namespace("contoso-billing")
    assert app.post({"namespace": "contoso-billing", "eventHubName": "invoices"}).status_code == 201
    shown = cli(app, "show", "contoso-billing", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["eventHubName"] == "invoices"
    assert "showing the one scoped to invoices" in shown.stderr
    fetched = app.get("contoso-billing")
    assert fetched.status_code == 404
    assert "?eventHubName=invoices" in body(fetched)["error"]["message"]
    assert app.get("contoso-billing", eventHubName="invoices").status_code == 200

    assert app.post({"namespace": "contoso-billing", "eventHubName": "refunds"}).status_code == 201
    several = cli(app, "show", "contoso-billing")
    assert several.returncode == 0 and "invoices" in several.stdout and "refunds" in several.stdout
    assert "name one with --event-hub" in several.stderr


# -- item 9: delete --adobe asks, --yes, --dry-run, already deleted ---------------------------------------


def test_delete_in_adobe_asks_on_a_terminal_and_needs_yes_elsewhere(app: App) -> None:
    app.stack.add_eventhubs_namespace("deleted-ns")
    created = app.post({"namespace": "deleted-ns"})
    connection_id = body(created)["connectionId"]

    dry = cli(app, "delete", "deleted-ns", "--adobe", "--dry-run")
    assert dry.returncode == 0 and "dry run: would delete connection prod/deleted-ns/-" in dry.stderr
    assert connection_id in dry.stderr and len(app.stack.adobe.connections("prod")) == 1

    unasked = cli(app, "delete", "deleted-ns", "--adobe")  # stdin is not a terminal: no one to ask
    assert unasked.returncode == 2 and "add --yes" in unasked.stderr
    assert app.entity("deleted-ns")["State"] == "ready"

    status, written = on_terminal(app, "delete", "deleted-ns", "--adobe", answer=b"n\n")
    assert status == 1 and "[y/N]" in written and "not confirmed: nothing deleted." in written
    assert len(app.stack.adobe.connections("prod")) == 1

    status, written = on_terminal(app, "delete", "deleted-ns", "--adobe", answer=b"y\n")
    assert status == 0, written
    assert app.stack.adobe.connections("prod") == [] and app.entity("deleted-ns")["State"] == "deleted"

    again = cli(app, "delete", "deleted-ns", "--adobe", "--yes")
    assert again.returncode == 0
    assert again.stderr.splitlines() == ["prod/deleted-ns/-: already deleted (and in Adobe); nothing changed."]


# -- item 7: rows on a terminal, a summary naming the failures, no result lost to Ctrl-C ---------------------


def test_create_prints_rows_on_a_terminal_and_names_the_failures(app: App, tmp_path: Path) -> None:
    names = [f"rows-ns-{i}" for i in range(4)]
    for name in names[:3]:
        app.stack.add_eventhubs_namespace(name)
    listing = tmp_path / "namespaces.txt"
    listing.write_text("\n".join(names) + "\n")
    status, written = on_terminal(app, "create", "--file", str(listing), "--workers", "1")
    assert status == 1
    lines = [line for line in screen(written) if line]
    assert not [line for line in lines if line.startswith("{")], "no JSON on a terminal"
    rows = [line for line in lines if line.startswith(("ready", "failed"))]
    assert [row.split()[:2] for row in rows] == [["ready", f"prod/{n}/-"] for n in names[:3]] + [
        ["failed", "prod/rows-ns-3/-"]
    ]
    assert all("created" in row for row in rows[:3]) and "SecretNotFound:" in rows[3]
    assert [line for line in lines if BAR.search(line)] == ["[##############################] 4/4 (1 failed)"]
    assert lines[-1] == "3 of 4 succeeded; failed: prod/rows-ns-3/- (SecretNotFound)."
    status, written = on_terminal(app, "create", "rows-ns-0", "--json")
    assert status == 0 and json.loads(screen(written)[0])["state"] == "ready"


def test_ctrl_c_keeps_the_results_of_the_creates_under_way(app: App, tmp_path: Path) -> None:
    names = [f"sigint-batch-{i:02d}" for i in range(12)]
    for name in names:
        app.stack.add_eventhubs_namespace(name)
    listing = tmp_path / "namespaces.txt"
    listing.write_text("\n".join(names) + "\n")
    app.stack.adobe.create_delay = 0.6
    worker = subprocess.Popen(
        [sys.executable, "-m", "cli", "create", "--file", str(listing), "--workers", "3"],
        cwd=ROOT,
        env={**os.environ, **app.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as from a terminal
    )
    for _ in range(200):  # until creates are under way
        if len(app.stack.adobe.calls("POST", r"/connections$")) >= 3:
            break
        time.sleep(0.05)
    worker.send_signal(signal.SIGINT)
    out, err = worker.communicate(timeout=60)
    app.responses.append((out + err).encode())
    assert worker.returncode == 130, err[-2000:]
    printed = [json.loads(line) for line in out.splitlines()]
    made = app.stack.adobe.connections("prod")
    assert 0 < len(made) < len(names)
    assert sorted(r["connectionId"] for r in printed if "connectionId" in r) == sorted(c["id"] for c in made)
    assert "not started (interrupted)" in err and err.rstrip().endswith("interrupted")


# -- polish: a 201 says where the record is ---------------------------------------------------------------


def test_a_201_has_the_records_location(app: App) -> None:
    app.stack.add_eventhubs_namespace("located-ns")
    app.stack.adobe.set_event_hubs("located-ns", ["clicks"])
    created = app.post({"namespace": "located-ns", "eventHubName": "clicks"})
    assert created.status_code == 201
    assert created.headers["Location"] == "/api/connections/located-ns?sandbox=prod&eventHubName=clicks"
    assert "Location" not in app.post({"namespace": "located-ns", "eventHubName": "clicks"}).headers  # a 200
    dataset = app.stack.adobe.add_dataset("Located")
    flow = app.post_dataflow({"namespace": "located-ns", "eventHubName": "clicks", "datasetId": dataset})
    assert flow.status_code == 201, body(flow)
    assert flow.headers["Location"] == "/api/dataflows/located-ns/clicks?sandbox=prod"


# -- item 6: reconcile --json (names of the gone and failed namespaces) ---------------------------------


def test_reconcile_json_reports_counts_and_names(app: App) -> None:
    subscription = "00000000-0000-0000-0000-0000000000c6"
    app.env["AZURE_SUBSCRIPTION_IDS"] = subscription
    for name in ("contoso-json-a", "contoso-json-b"):
        app.stack.resource_graph.add_namespace(name, subscription_id=subscription)
    app.stack.add_eventhubs_namespace("contoso-json-a")
    result = cli(app, "reconcile", "--now", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["seen"] == 2 and report["created"] == 1 and report["pendingSecret"] == 1
    assert report["now"] is True and report["dryRun"] is False
    assert report["gone"] == [] and report["failed"] == {} and report["listingFailures"] == {}


# -- polish: list order, every bad line of a file ---------------------------------------------------------


def test_list_puts_ns_1_before_ns_10(app: App) -> None:
    names = ["order-ns-10", "order-ns-2", "order-ns-1"]
    for name in names:
        app.stack.add_eventhubs_namespace(name)
        assert app.post({"namespace": name}).status_code == 201
    listed = cli(app, "list", "--json")
    assert [json.loads(line)["namespace"] for line in listed.stdout.splitlines()] == sorted(names)
    assert sorted(names) == ["order-ns-1", "order-ns-10", "order-ns-2"]


def test_a_file_with_several_bad_lines_names_them_all(app: App, tmp_path: Path) -> None:
    listing = tmp_path / "bad.txt"
    listing.write_text("good-namespace\nBad_Name\n# a comment\n{not json\nother-good-ns\nx\n")
    result = cli(app, "create", "--file", str(listing))
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {listing}:2: ") and line.endswith("(also bad: lines 4 and 6)")
    assert app.stack.adobe.platform_requests == []
