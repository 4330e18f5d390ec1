"""Run Azurite (the Azure Storage emulator from ``node_modules``) as a child process on free ports.

Node runs Azurite's own entry script in-process (``node -e <watchdog> -- <azurite args>``), so
:attr:`Azurite.pid` is the server's PID; the few lines of watchdog make Azurite exit when its
stdin pipe closes, i.e. when this Python process dies without calling :meth:`Azurite.stop`.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import weakref
from pathlib import Path
from typing import IO, Self

from devstack.lifecycle import StartStop

__all__ = ["ACCOUNT_KEY", "ACCOUNT_NAME", "Azurite", "AzuriteError", "find_repo_root", "free_port"]

ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
ENTRY = Path("node_modules") / "azurite" / "dist" / "src" / "azurite.js"

# Exit when the parent goes away (stdin reaches EOF), then run Azurite's entry script as if it
# had been started as `node azurite.js <args>`.
_LAUNCHER = """
const entry = process.argv[1];  // `node -e CODE -- ENTRY ARGS` gives argv [node, ENTRY, ARGS...]
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
if (typeof process.stdin.unref === "function") { process.stdin.unref(); }
require(entry);
"""

_live: weakref.WeakSet[Azurite] = weakref.WeakSet()


class AzuriteError(RuntimeError):
    """Azurite could not be started."""


def find_repo_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` (default: this file) holding ``node_modules/azurite``."""
    here = (start or Path(__file__)).resolve()
    for candidate in (here, *here.parents):
        if (candidate / ENTRY).is_file():
            return candidate
    raise FileNotFoundError(f"no {ENTRY} above {here}; run `npm ci` in the repository root")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class Azurite(StartStop):
    """Azurite (blob, queue, table) with in-memory persistence on three free ports of 127.0.0.1.

    ``root`` is the repository root holding ``node_modules`` (found with :func:`find_repo_root`
    when None); the log goes to ``<root>/.devstack/azurite-<ports>.log`` and is removed by a clean
    :meth:`stop` unless ``keep_log`` (kept when starting fails). Usable as a context
    manager. :meth:`stop` then :meth:`start_again` reuses the ports (data is lost);
    :meth:`pause`/:meth:`resume` freeze the process (SIGSTOP/SIGCONT) to simulate a hung storage.
    """

    def __init__(
        self,
        root: Path | None = None,
        *,
        host: str = "127.0.0.1",
        startup_timeout: float = 20.0,
        node: str = "node",
        keep_log: bool = False,
    ) -> None:
        self.root = Path(root) if root is not None else find_repo_root()
        self.host = host
        self.startup_timeout = startup_timeout
        self.node = node
        self.keep_log = keep_log
        self.blob_port = 0
        self.queue_port = 0
        self.table_port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._paused = False

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def entry(self) -> Path:
        """Azurite's entry script."""
        return self.root / ENTRY

    @property
    def log_path(self) -> Path:
        """The log file of the current (or last) run."""
        return self.root / ".devstack" / f"azurite-{self.blob_port}-{self.queue_port}-{self.table_port}.log"

    def start(self) -> Self:
        """Start on three new free ports and wait until all three accept connections."""
        if self._proc is not None:
            return self
        ports: set[int] = set()
        while len(ports) < 3:
            ports.add(free_port(self.host))
        self.blob_port, self.queue_port, self.table_port = sorted(ports)
        self._launch()
        return self

    def start_again(self) -> Self:
        """Start again on the same ports after :meth:`stop` (in-memory data starts empty)."""
        if self._proc is not None:
            return self
        if not self.blob_port:
            return self.start()
        self._launch()
        return self

    def _launch(self) -> None:
        if not self.entry.is_file():
            raise AzuriteError(f"{self.entry} not found; run `npm ci` in {self.root}")
        work = self.root / ".devstack"
        work.mkdir(parents=True, exist_ok=True)
        args = [
            self.node,
            "-e",
            _LAUNCHER,
            "--",
            str(self.entry),
            "--silent",
            "--disableTelemetry",
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--loose",
            "--blobHost",
            self.host,
            "--queueHost",
            self.host,
            "--tableHost",
            self.host,
            "--blobPort",
            str(self.blob_port),
            "--queuePort",
            str(self.queue_port),
            "--tablePort",
            str(self.table_port),
        ]
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            args,
            cwd=work,
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._paused = False
        _live.add(self)
        deadline = time.monotonic() + self.startup_timeout
        ports = (self.blob_port, self.queue_port, self.table_port)
        while True:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._cleanup()
                raise AzuriteError(f"Azurite exited with code {code} while starting:\n{self.log_tail()}")
            if all(_port_open(self.host, port) for port in ports):
                return
            if time.monotonic() > deadline:
                self._cleanup()  # kills the process; the log is kept for the error message
                raise AzuriteError(
                    f"Azurite did not listen on {ports} within {self.startup_timeout} s:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the process by PID (SIGTERM, then SIGKILL after ``timeout`` s). Idempotent."""
        proc = self._proc
        if proc is None:
            return
        try:
            if proc.poll() is None:
                if self._paused:
                    self._signal(signal.SIGCONT)
                proc.terminate()
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=timeout)
        finally:
            self._cleanup()
        if not self.keep_log:
            self.log_path.unlink(missing_ok=True)

    def _cleanup(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None
        self._paused = False
        _live.discard(self)

    def _signal(self, sig: signal.Signals) -> None:
        if self._proc is None:
            raise RuntimeError("Azurite is not running")
        os.kill(self._proc.pid, sig)

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): connections hang, as with an unresponsive storage account."""
        self._signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """Let a paused process run again (SIGCONT)."""
        self._signal(signal.SIGCONT)
        self._paused = False

    @property
    def paused(self) -> bool:
        """Whether :meth:`pause` froze the process."""
        return self._paused

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The node process's PID while it runs."""
        return self._proc.pid if self._proc is not None else None

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- endpoints -----------------------------------------------------------------------------

    def _endpoint(self, port: int) -> str:
        if not port:
            raise RuntimeError("Azurite is not started")
        return f"http://{self.host}:{port}/{ACCOUNT_NAME}"

    @property
    def blob_endpoint(self) -> str:
        """``http://127.0.0.1:P/devstoreaccount1``."""
        return self._endpoint(self.blob_port)

    @property
    def queue_endpoint(self) -> str:
        """``http://127.0.0.1:P/devstoreaccount1``."""
        return self._endpoint(self.queue_port)

    @property
    def table_endpoint(self) -> str:
        """``http://127.0.0.1:P/devstoreaccount1``."""
        return self._endpoint(self.table_port)

    @property
    def connection_string(self) -> str:
        """Storage connection string with explicit endpoints (``AzureWebJobsStorage``)."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};QueueEndpoint={self.queue_endpoint};"
            f"TableEndpoint={self.table_endpoint};"
        )

    def describe(self) -> str:
        """One line for logs: PID and ports."""
        return json.dumps({"pid": self.pid, "blob": self.blob_port, "queue": self.queue_port, "table": self.table_port})


@atexit.register
def _stop_all() -> None:
    for azurite in list(_live):
        with contextlib.suppress(Exception):
            azurite.stop(timeout=2)
