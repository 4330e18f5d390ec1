"""Plumbing shared by the stand-in servers: a threaded HTTP/1.1 server with faults and recording.

A stand-in subclasses :class:`StandInServer` and implements :meth:`StandInServer.handle_request`,
which turns a :class:`~devstack.faults.RecordedRequest` into a :class:`Response`. The base class
parses and records the request, applies the fault plan, and writes the response with a
``Content-Length`` so clients can keep connections alive (``requests`` pools them).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import socketserver
import ssl
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

from devstack.faults import Fault, FaultPlan, RecordedRequest, Recorder, encode_body
from devstack.lifecycle import StartStop

__all__ = ["Response", "StandInServer"]

_log = logging.getLogger("devstack")

#: Idle keep-alive connections are closed by the server after this many seconds.
IDLE_TIMEOUT = 300.0


@dataclass
class Response:
    """An HTTP response produced by a stand-in handler."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        """A response with a JSON body and ``Content-Type: application/json``."""
        merged = {"Content-Type": "application/json; charset=utf-8"}
        merged.update(headers or {})
        return cls(status, json.dumps(payload).encode("utf-8"), merged)

    def header(self, name: str) -> str | None:
        """A response header, looked up case-insensitively."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    # http.server writes headers and body as two segments; with Nagle on, the body waits for the
    # client's delayed ACK (up to 40 ms per answer). Zero-latency stand-ins send at once.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's per-request logging on stderr."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            count = int(length)
        except ValueError:
            return None
        if count < 0:
            return None
        return self.rfile.read(count) if count else b""

    def _dispatch(self) -> None:
        standin = self.server.standin
        try:
            body = self._read_body()
        except (ValueError, OSError):
            body = None
        if body is None:
            self.close_connection = True
            self._write(Response.json(400, {"error": "bad request framing"}))
            return
        split = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=unquote(split.path),
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            at=time.time(),
            target=self.path,
        )
        fault = standin.faults.match(self.command, self.path)
        request.fault = fault.action if fault is not None else None
        standin.recorder.append(request)

        # respond/drop/late_commit/stall wait first; commit_then_stall waits between handling and writing.
        delay_first = fault is not None and fault.action != "commit_then_stall" and fault.delay > 0
        if delay_first and fault is not None and not standin.sleep(fault.delay):
            self.close_connection = True
            return
        if fault is not None and fault.action == "drop":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault is not None and fault.action == "respond":
            response = self._fault_response(fault, request)
        else:
            response = standin.safe_handle(request)
        response = standin.finalize_response(request, response)
        if fault is not None and fault.action == "commit_then_stall" and not standin.sleep(fault.delay):
            self.close_connection = True
            return
        self._write(response)

    def _fault_response(self, fault: Fault, request: RecordedRequest) -> Response:
        headers = dict(fault.headers)
        try:
            body = fault.body_value(request)
        except Exception as exc:
            self.server.standin.errors.append(traceback.format_exc())
            return Response.json(500, {"error": {"code": "StandInError", "message": f"fault body failed: {exc!r}"}})
        if isinstance(body, dict | list) and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json; charset=utf-8"
        return Response(fault.status or 500, encode_body(body), headers)

    def _write(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            no_body = response.status in (204, 304) or 100 <= response.status < 200
            for key, value in response.headers.items():
                if key.lower() != "content-length":
                    self.send_header(key, value)
            if not no_body:
                self.send_header("Content-Length", str(len(response.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and not no_body and response.body:
                self.wfile.write(response.body)
            self.wfile.flush()
        except OSError:
            # The client went away (timed out, reset): nothing to tell it.
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], standin: StandInServer, ssl_context: ssl.SSLContext | None):
        self.standin = standin
        self.ssl_context = ssl_context
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup: skip it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def finish_request(self, request: Any, client_address: Any) -> None:
        connection: socket.socket = request
        if self.ssl_context is not None:
            try:
                request.settimeout(10)
                connection = self.ssl_context.wrap_socket(request, server_side=True)
            except (OSError, ValueError):
                return
        with self._connections_lock:
            self._connections.add(connection)
        try:
            _Handler(connection, client_address, self)
        finally:
            with self._connections_lock:
                self._connections.discard(connection)
            if connection is not request:
                connection.close()

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # the client went away or spoke garbage: routine for a test server
        _log.debug("%s: error while serving %s:\n%s", self.standin.name, client_address, traceback.format_exc())


class StandInServer(StartStop):
    """Base class for a stand-in: one HTTP(S) server in a background thread of this process.

    Subclasses implement :meth:`handle_request`. Binds ``host`` (127.0.0.1) on ``port`` (0: a free
    port, kept across :meth:`stop`/:meth:`start`). ``faults`` is the :class:`FaultPlan`; every request
    is recorded (``requests``, :meth:`calls`). ``latency`` (seconds, 0 by default) is added before every
    normal answer, as a remote service's round trip (e.g. 0.05 for Key Vault or IMS in a benchmark).
    Usable as a context manager.
    """

    name = "stand-in"
    scheme = "http"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        request_ids: bool = False,
    ) -> None:
        self.faults = FaultPlan()
        self.recorder = Recorder()
        self.errors: list[str] = []
        """Tracebacks of exceptions raised by :meth:`handle_request` (answered with 500)."""
        self.latency = 0.0
        """Seconds added before every normal answer (not before fault answers, which have their own delay)."""
        self._host = host
        self._port = port
        self._ssl_context = ssl_context
        self._request_ids = request_ids
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind the port and serve in a daemon thread. Returns self."""
        with self._lock:
            if self._httpd is not None:
                return self
            self._stopping.clear()
            httpd = _Server((self._host, self._port), self, self._ssl_context)
            self._port = int(httpd.server_address[1])
            thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"devstack-{self.name}-{self._port}",
                daemon=True,
            )
            thread.start()
            self._httpd, self._thread = httpd, thread
        return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and every open connection. Idempotent."""
        with self._lock:
            httpd, thread = self._httpd, self._thread
            self._httpd = self._thread = None
        if httpd is None:
            return
        self._stopping.set()
        try:
            httpd.shutdown()
        finally:
            httpd.server_close()
            httpd.close_connections()
            if thread is not None:
                thread.join(timeout=5)

    @property
    def running(self) -> bool:
        """Whether the server is started."""
        return self._httpd is not None

    # -- addresses -----------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The address the server binds."""
        return self._host

    @property
    def port(self) -> int:
        """The bound port (0 before the first start when a free port was asked for)."""
        return self._port

    @property
    def base_url(self) -> str:
        """``http(s)://host:port`` without a trailing slash."""
        if self._port == 0:
            raise RuntimeError(f"{self.name} is not started")
        return f"{self.scheme}://{self._host}:{self._port}"

    # -- recording -----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far (a snapshot), oldest first."""
        return self.recorder.requests

    def calls(self, method: str | None = None, path_regex: str | None = None) -> list[RecordedRequest]:
        """Recorded requests filtered by method and a regex searched in the path and query."""
        return self.recorder.calls(method, path_regex)

    def reset_recording(self) -> None:
        """Forget the recorded requests."""
        self.recorder.reset()

    # -- handling ------------------------------------------------------------------------------

    def handle_request(self, request: RecordedRequest) -> Response:
        """Produce the normal response for a request. Subclasses override this."""
        return Response.json(404, {"error": "not found"})

    def finalize_response(self, request: RecordedRequest, response: Response) -> Response:
        """Hook applied to every response (including fault responses) before it is written."""
        if self._request_ids and response.header("x-request-id") is None:
            response.headers["x-request-id"] = str(uuid.uuid4())
        return response

    def safe_handle(self, request: RecordedRequest) -> Response:
        """Run :meth:`handle_request` after ``latency``, turning an exception into a 500 and remembering it."""
        if self.latency > 0 and not self.sleep(self.latency):
            return Response.json(503, {"error": {"code": "ServiceUnavailable", "message": "shutting down"}})
        try:
            return self.handle_request(request)
        except Exception as exc:
            self.errors.append(traceback.format_exc())
            _log.exception("%s: handler failed for %s %s", self.name, request.method, request.target)
            return Response.json(500, {"error": {"code": "StandInError", "message": repr(exc)}})

    def sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops first; False when it was stopped."""
        if seconds <= 0:
            return not self._stopping.is_set()
        return not self._stopping.wait(seconds)
