"""`make demo`: a story on one screen, no secret in it, and `--verbose` with every body masked; it ends
with the dataflow's health: healthy, then failing after a failed run, and the alert that went out."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from azure.storage.queue import QueueClient

from devstack.azurite import find_repo_root
from devstack.demo import NAMESPACE, run
from devstack.demo_view import MASK
from devstack.stack import LocalStack
from tests.functional.conftest import assert_no_secret_fragments

ROOT = find_repo_root()
MAX_LINES = 40
MAX_COLUMNS = 100
INTERNAL_FIELDS = ("MayExist", "AdobeDeleted", "NearExpiry", "LeaseUntil", "PartitionKey", "RowKey", "AdobeEtag")
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def demo_stack() -> Iterator[LocalStack]:
    with LocalStack(ROOT, events_queue="eventhubs-connection-events") as stack:
        yield stack


def _story(stack: LocalStack, *, verbose: bool) -> str:
    before = dict(os.environ)
    out = io.StringIO()
    assert run(stack, out=out, verbose=verbose), out.getvalue()
    assert dict(os.environ) == before, "the demo leaves the environment as it found it"
    return out.getvalue()


def _sas_key(stack: LocalStack) -> str:
    value = stack.keyvault.get_value(f"eventhubs-sas-{NAMESPACE}") or ""
    return value.split("SharedAccessKey=", 1)[1].split(";", 1)[0]


def test_the_story_fits_one_screen_and_shows_no_secret(demo_stack: LocalStack) -> None:
    story = _story(demo_stack, verbose=False)
    lines = story.splitlines()
    assert len(lines) <= MAX_LINES - 2, story  # main() adds a blank line and the last one
    assert max(len(line) for line in lines) <= MAX_COLUMNS, story
    assert_no_secret_fragments(demo_stack, {"the demo's output": story})
    assert _sas_key(demo_stack) not in story

    assert re.search(r"^     eventhubs-sas-contoso-telemetry +SAS connection string \(.*key \*\*\*\)$", story, re.M)
    created = re.search(r"→ 201 Created: connectionId ([0-9a-f-]{36}), state ready", story)
    assert created, story
    repeat = re.search(r"3\. The same POST again → 200 OK: the same connectionId; Adobe calls (\d+) → (\d+)", story)
    assert repeat and repeat.group(1) == repeat.group(2) != "0", story
    assert f"connection id  {created.group(1)}" in story
    assert not [field for field in INTERNAL_FIELDS if field in story]
    times = re.findall(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d\S*(?: UTC)?", story)
    assert times and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", t) for t in times), times
    assert re.search(r"The same POST again → 200 OK: the same flowId; Adobe calls (\d+) → \1$", story, re.M)
    assert "contoso-legacy-a   ready: connection created by the pass" in story


def test_the_story_ends_with_a_healthy_pass_then_a_failed_run_and_its_alert(demo_stack: LocalStack) -> None:
    story = _story(demo_stack, verbose=False)
    ending = story[story.index("7. Is data arriving?") :]
    assert re.search(
        r"^   health_timer → healthy: 120 records reached Adobe \(runs\); hub messages 120, failed 0$", ending, re.M
    )
    assert re.search(r"^   Then a run fails \(CONNECTOR-2001\); the next pass → failing", ending, re.M), ending
    alert = r"^     dataflow-unhealthy  contoso-telemetry/clicks: failing since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$"
    assert re.search(alert, ending, re.M), ending
    assert "       1 of 2 runs failed (CONNECTOR-2001)" in ending
    assert ending.count("dataflow-unhealthy") == 1, "the healthy pass alerts nothing; the failing one once"
    queue = QueueClient.from_connection_string(demo_stack.storage_connection_string, str(demo_stack.events_queue))
    sent = [json.loads(m.content) for m in queue.peek_messages(max_messages=32)]
    health = [m for m in sent if m["event"] in ("dataflow-unhealthy", "dataflow-recovered")]
    assert [(m["event"], m["record"]["health"]["status"]) for m in health] == [("dataflow-unhealthy", "failing")]
    assert len(demo_stack.resource_graph.calls("GET", r"/Microsoft\.Insights/metrics")) == 2, "one query per pass"


def test_verbose_prints_every_body_with_secrets_masked(demo_stack: LocalStack) -> None:
    story = _story(demo_stack, verbose=True)
    assert len(story.splitlines()) > MAX_LINES
    assert_no_secret_fragments(demo_stack, {"the verbose demo's output": story})
    assert _sas_key(demo_stack) not in story and demo_stack.adobe_client_secret not in story
    assert f'"sasKey": "{MASK}"' in story, "the connection create sent to Adobe, key masked"
    assert f"client_secret={MASK}" in story, "the IMS token request, secret masked"
    assert '"sourceConnectionId":' in story and '"secretVersion":' in story, "the function answers in full"
    assert "Adobe call: POST /data/foundation/flowservice/flows" in story
    assert '"event": "dataflow-unhealthy"' in story and '"status": "failing"' in story, "the alert in full"


def test_make_demo_prints_only_the_story() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devstack.demo"], cwd=ROOT, capture_output=True, text=True, timeout=100
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) <= MAX_LINES and max(len(line) for line in lines) <= MAX_COLUMNS, result.stdout
    assert lines[-1] == "Local stack stopped. Demo succeeded."
    assert not result.stderr.strip(), "log lines would break the story: " + result.stderr
