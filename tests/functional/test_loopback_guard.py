"""The loopback guard (tests/netguard): in pytest's process and in every process the tests start, a
connection outside 127.0.0.0/8 and ::1 is refused before it is made (at once, no local port bound,
so no packet sent), names the address, and fails the test that caused it even when swallowed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devstack.azurite import find_repo_root
from tests.netguard.loopback_guard import LoopbackOnlyError

ROOT = find_repo_root()
CONNECT_TIMEOUT = 5.0  # what a real attempt at an unrouted address would wait

# Connects to each address and prints, per address, the error, the seconds it took and the local
# address of the socket afterwards (port 0: the kernel never bound one, so nothing was sent).
PROBE = """
import json, socket, sys, time
for host in sys.argv[1:]:
    sock = socket.socket()
    sock.settimeout(TIMEOUT)
    started = time.perf_counter()
    try:
        sock.connect((host, 80))
        error = None
    except OSError as err:
        error = f"{type(err).__name__}: {str(err).splitlines()[0]}"
    print(json.dumps({"host": host, "error": error, "seconds": time.perf_counter() - started,
                      "local": sock.getsockname()}))
""".replace("TIMEOUT", str(CONNECT_TIMEOUT))


def test_a_worker_process_connecting_outside_loopback_is_refused_before_any_packet(
    refused_connections: Callable[[], list[dict[str, Any]]],
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "10.255.255.1", "169.254.169.254"],
        cwd=ROOT,
        env=dict(os.environ),  # as the tests start their workers
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [a["host"] for a in answers] == ["10.255.255.1", "169.254.169.254"]
    for answer in answers:
        assert answer["error"].startswith("LoopbackOnlyError"), answer
        assert f"('{answer['host']}', 80)" in answer["error"]
        assert answer["seconds"] < CONNECT_TIMEOUT / 10
        assert answer["local"] == ["0.0.0.0", 0], "a connect attempt would have bound a local port"
    refused = refused_connections()
    assert [(r["action"], r["address"]) for r in refused] == [
        ("connect to", "('10.255.255.1', 80)"),
        ("connect to", "('169.254.169.254', 80)"),
    ]
    assert 'File "<string>", line 8' in refused[0]["stack"]  # the probe's sock.connect


def test_in_process_connections_sends_and_lookups_outside_loopback_are_refused(
    refused_connections: Callable[[], list[dict[str, Any]]],
) -> None:
    tcp = socket.socket()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    started = time.perf_counter()
    with tcp, udp:
        with pytest.raises(LoopbackOnlyError, match=r"169\.254\.169\.254"):
            tcp.connect(("169.254.169.254", 80))
        with pytest.raises(LoopbackOnlyError, match=r"10\.255\.255\.53"):
            udp.sendto(b"query", ("10.255.255.53", 53))
        with pytest.raises(LoopbackOnlyError, match=r"westus-0\.in\.applicationinsights\.azure\.com"):
            socket.create_connection(("westus-0.in.applicationinsights.azure.com", 443), timeout=CONNECT_TIMEOUT)
        assert time.perf_counter() - started < CONNECT_TIMEOUT / 10
        assert tcp.getsockname() == ("0.0.0.0", 0) and udp.getsockname() == ("0.0.0.0", 0)
    assert len(refused_connections()) == 3

    with socket.create_server(("127.0.0.1", 0)) as server:  # loopback, by address or by name, is fine
        port = server.getsockname()[1]
        for host in ("127.0.0.1", "localhost"):
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    assert refused_connections() == []


INNER_TESTS = """
import socket, subprocess, sys

def test_swallowed_in_process():
    try:
        socket.create_connection(("169.254.169.254", 80), timeout=5)
    except OSError:
        pass  # as the Azure VM resource detector does

def test_swallowed_in_a_child():
    probe = "import socket\\ntry: socket.create_connection(('10.255.255.1', 80), timeout=5)\\nexcept OSError: pass"
    subprocess.run([sys.executable, "-c", probe], check=True)

def test_loopback_only():
    with socket.create_server(("127.0.0.1", 0)) as server:
        socket.create_connection(server.getsockname(), timeout=5).close()
"""


def test_a_refused_connection_fails_the_test_that_made_it_even_when_swallowed(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {k: v for k, v in os.environ.items() if k not in ("LOOPBACK_GUARD_LOG", "LOOPBACK_GUARD_MODE")}
    inner = ["-p", "tests.conftest", "-p", "no:cacheprovider", "-q", "-c", str(tmp_path / "pytest.ini")]
    command = [sys.executable, "-m", "pytest", *inner, "--rootdir", str(tmp_path), str(tmp_path / "test_inner.py")]
    done = subprocess.run(
        command,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "2 failed, 1 passed" in out, out
    assert "test_inner.py::test_swallowed_in_process" in out and "test_inner.py::test_swallowed_in_a_child" in out
    assert "('169.254.169.254', 80)" in out and "('10.255.255.1', 80)" in out
    assert "loopback guard: 2 connection(s) outside loopback refused (and 0 made on purpose" in out
