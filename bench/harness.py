"""Parent-side plumbing: the local stack, the measured children, and counting calls at the stand-ins."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"

# App settings and identity variables the children must not inherit from the caller's shell:
# the stack's env() sets the ones that apply.
_SCRUB_PREFIXES = ("ADOBE_", "AZURE_", "IDENTITY_", "MSI_", "EVENTHUBS_", "KEY_VAULT", "CONNECTION")
_SCRUB = {
    "AzureWebJobsStorage",
    "SECRET_CACHE_SECONDS",
    "DELETE_CONNECTION_ON_NAMESPACE_DELETE",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "HTTP_TIMEOUT_SECONDS",
    "RETRY_BUDGET_SECONDS",
    "CLAIM_LEASE_SECONDS",
    "CLAIM_WAIT_SECONDS",
    "PYTHONPROFILEIMPORTTIME",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONPYCACHEPREFIX",
}


class BenchError(RuntimeError):
    """Something broke (a child failed, an answer was not the expected one): the run fails."""


def child_env(stack_env: dict[str, str], *, bytecode: bool = True, **settings: str) -> dict[str, str]:
    """The environment of a measured child: this process's, minus app settings, plus the stack's.

    bytecode=True: compiled modules are cached (under bench/out/pycache, so no __pycache__ lands
    in the source tree) and reused from the second start on, as in a deployment shipped with
    .pyc files. bytecode=False: the project's modules are compiled at every start, as in a
    read-only package deployed without them (site-packages keep the .pyc pip wrote).
    """
    env = {key: value for key, value in os.environ.items() if key not in _SCRUB and not key.startswith(_SCRUB_PREFIXES)}
    env.update(stack_env)
    env.update(settings)
    env["PYTHONUNBUFFERED"] = "1"
    if bytecode:
        env["PYTHONPYCACHEPREFIX"] = str(OUT / "pycache")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


class Child:
    """A long-lived measured child (`python -m MODULE serve`) answering JSON-line commands."""

    def __init__(self, name: str, module: str, env: dict[str, str]) -> None:
        OUT.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_path = OUT / f"{name}.log"
        self._log: IO[str] = open(self.log_path, "w")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, "serve"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
        )

    def send(self, command: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(command) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise BenchError(f"{self.name} exited early:\n{self.log_tail()}") from None

    def receive(self, timeout: float = 600) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise BenchError(f"{self.name} did not answer within {timeout:.0f} s:\n{self.log_tail()}")
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=5)
            raise BenchError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise BenchError(f"{self.name} failed:\n{reply['error']}")
        return reply

    def call(self, command: dict[str, Any], timeout: float = 600) -> dict[str, Any]:
        self.send(command)
        return self.receive(timeout)

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(Exception):
                self.call({"cmd": "exit"}, timeout=10)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._log.close()

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class ColdStart:
    """One cold start: seconds from just before the spawn to the first answer, and to the exit."""

    status: int
    imported: float
    first: float
    exited: float
    peak_rss: int
    cpu: float  # user + system time of the whole process, exit included


def cold_start(module: str, namespace: str, env: dict[str, str], timeout: float = 60, cwd: Path = ROOT) -> ColdStart:
    """Spawn `python -m MODULE cold SPAWN_TS NAMESPACE` in `cwd` and wait for its one answer and its exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    spawn_ts = time.time()
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", module, "cold", repr(spawn_ts), namespace],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    exited = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise BenchError(f"cold start of {module} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    reply = json.loads(proc.stdout.strip().splitlines()[-1])
    return ColdStart(int(reply["status"]), reply["imported"], reply["first"], exited, int(reply["peak_rss"]), cpu)


@dataclass
class Calls:
    """Requests the stand-ins received (from their recordings)."""

    flow: int = 0
    flow_creates: int = 0
    flow_lookups: int = 0
    ims: int = 0
    kv_reads: int = 0
    kv_challenges: int = 0
    identity: int = 0
    dataset_reads: int = 0
    explores: int = 0
    all_creates: int = 0
    kv_by_secret: Counter[str] = field(default_factory=Counter)

    @property
    def kv(self) -> int:
        return self.kv_reads + self.kv_challenges

    def __iadd__(self, other: Calls) -> Calls:
        self.flow += other.flow
        self.flow_creates += other.flow_creates
        self.flow_lookups += other.flow_lookups
        self.ims += other.ims
        self.kv_reads += other.kv_reads
        self.kv_challenges += other.kv_challenges
        self.identity += other.identity
        self.dataset_reads += other.dataset_reads
        self.explores += other.explores
        self.all_creates += other.all_creates
        self.kv_by_secret.update(other.kv_by_secret)
        return self


_CREATED_KINDS = ("connections", "sourceConnections", "targetConnections", "flows")


def take_calls(stack: Any) -> Calls:
    """Count what the stand-ins recorded since the last call, then forget it."""
    platform = stack.adobe.platform_requests
    secrets = [r for r in stack.keyvault.requests if r.method == "GET" and r.path.startswith("/secrets/")]
    calls = Calls(
        flow=len(platform),
        flow_creates=sum(1 for r in platform if r.method == "POST" and r.path.endswith("/connections")),
        flow_lookups=sum(1 for r in platform if r.method == "GET" and r.path.endswith("/connections")),
        ims=stack.adobe.token_request_count,
        kv_reads=sum(1 for r in secrets if r.headers.get("authorization")),
        kv_challenges=sum(1 for r in secrets if not r.headers.get("authorization")),
        identity=len(stack.identity.requests),
        dataset_reads=sum(1 for r in platform if r.method == "GET" and "/catalog/dataSets/" in r.path),
        explores=sum(1 for r in platform if r.method == "GET" and r.path.endswith("/explore")),
        all_creates=sum(1 for r in platform if r.method == "POST" and r.path.rsplit("/", 1)[-1] in _CREATED_KINDS),
        kv_by_secret=Counter(r.path.split("/")[2].lower() for r in secrets if r.headers.get("authorization")),
    )
    stack.adobe.reset_recording()
    stack.keyvault.reset_recording()
    stack.identity.reset_recording()
    return calls


def namespaces(phase: str, who: str, count: int, start: int = 0) -> list[str]:
    """Distinct, valid Event Hubs namespace names for one phase and one side (f or b)."""
    return [f"bench-{phase}-{who}-{i:05d}" for i in range(start, start + count)]
