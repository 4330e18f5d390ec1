"""The README's settings table and local.settings.json.example name every setting the code reads."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = (ROOT / "shared" / "settings.py").read_text()
# The settings closure's calls only (`get(...)`, not a method such as `fields.get(...)`).
READ = set(re.findall(r'(?<![\w.])(?:get|required)\("([A-Za-z_]+)"', CODE)) | set(
    re.findall(r'_(?:number|flag)\(get, "([A-Z_]+)"', CODE)
)
PLATFORM = {"IDENTITY_ENDPOINT", "MSI_ENDPOINT", "REQUESTS_CA_BUNDLE"}  # set by the platform or the local stack
OPTIONAL_SWITCHES = {
    "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY",
    "OTEL_SDK_DISABLED",
}  # documented, not in the example


def test_the_code_reads_the_contract_settings() -> None:
    assert {
        "KEY_VAULT_URL",
        "AzureWebJobsStorage",
        "SECRET_CACHE_SECONDS",
        "DELETE_CONNECTION_ON_NAMESPACE_DELETE",
    } <= READ


def test_readme_settings_table_lists_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    table = {m for m in re.findall(r"^\| `([A-Za-z_]+)` \|", readme, flags=re.MULTILINE)}
    missing = sorted(READ - PLATFORM - table - {n for n in READ if n.startswith("AzureWebJobsStorage__")})
    assert not missing, f"README settings table lacks {missing}"


def test_local_settings_example_has_every_setting() -> None:
    values = json.loads((ROOT / "local.settings.json.example").read_text())["Values"]
    missing = sorted(
        READ - PLATFORM - OPTIONAL_SWITCHES - set(values) - {n for n in READ if n.startswith("AzureWebJobsStorage__")}
    )
    assert not missing, f"local.settings.json.example lacks {missing}"


def test_host_json_decodes_plain_json_queue_messages() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    assert host["extensionBundle"]["version"] == "[4.*, 5.0.0)"
    queues = host["extensions"]["queues"]
    assert queues["messageEncoding"] == "none"
    assert queues["maxDequeueCount"] == 5
    # Redeliveries are spaced so a live claim's holder finishes (RETRY_BUDGET_SECONDS, 45 s) first.
    hours, minutes, seconds = (int(x) for x in queues["visibilityTimeout"].split(":"))
    assert hours * 3600 + minutes * 60 + seconds >= 45


def test_requirements_are_pinned_and_leave_the_worker_out() -> None:
    lines = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert all("==" in line for line in lines)
    assert not any(line.startswith("azure-functions-worker") for line in lines)


def test_host_json_has_no_application_insights_sampling_beside_opentelemetry() -> None:
    """With telemetryMode OpenTelemetry the host's Application Insights settings do not apply (docs/operations.md)."""
    host = json.loads((ROOT / "host.json").read_text())
    assert host["telemetryMode"] == "OpenTelemetry"
    assert "applicationInsights" not in host.get("logging", {})


def test_vscode_files_are_what_func_init_makes_pointed_at_the_venv() -> None:
    folder = ROOT / ".vscode"
    settings = json.loads((folder / "settings.json").read_text())
    assert settings["azureFunctions.pythonVenv"] == ".venv" and settings["azureFunctions.projectLanguage"] == "Python"
    launch = json.loads((folder / "launch.json").read_text())["configurations"]
    assert launch[0]["request"] == "attach" and launch[0]["preLaunchTask"] == "func: host start"
    tasks = {task["label"]: task for task in json.loads((folder / "tasks.json").read_text())["tasks"]}
    assert tasks["func: host start"]["type"] == "func" and tasks["func: host start"]["dependsOn"] in tasks
    assert ".vscode" in (ROOT / ".funcignore").read_text().split()
