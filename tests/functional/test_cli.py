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


def cli(app: App, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "shared.cli", *args],
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
        [sys.executable, "-m", "shared.cli", "list"],
        cwd=ROOT,
        env={k: v for k, v in {**os.environ, **app.env}.items() if k != "KEY_VAULT_URL"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert env_missing.returncode == 2 and "KEY_VAULT_URL" in env_missing.stderr
