"""Loopback only: a connection to an address outside 127.0.0.0/8 and ::1 is refused before it is made.

Every process of a test or benchmark run has it: tests/conftest.py and bench/run.py call `enable()`,
which installs it in-process and puts this folder first on PYTHONPATH, so that every Python child
they start imports `sitecustomize` from here at start-up and installs it too.

A refused connect, connect_ex or sendto raises `LoopbackOnlyError` (a ConnectionRefusedError naming
the address) before the socket is touched (no packet, no local port bound), and so does the name
lookup of a host that is not local (a DNS query would leave the machine: only `localhost`, names
in /etc/hosts and address literals are looked up). Each refusal is also appended as one JSON line
(what, address, process, stack) to the file LOOPBACK_GUARD_LOG names, so a refusal the code
swallowed (the Azure VM resource detector does) still fails the test or the benchmark run that
caused it. Unix sockets are allowed.

Standard library only, and cheap to import: the benchmark measures cold starts with it installed.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

LOG_ENV = "LOOPBACK_GUARD_LOG"
FOLDER = os.path.dirname(os.path.abspath(__file__))
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_STACK_FRAMES = 25


class LoopbackOnlyError(ConnectionRefusedError):
    """A connection (or name lookup) the loopback guard refused before it was attempted."""

    def __init__(self, action: str, address: object, stack: str) -> None:
        super().__init__(errno.ECONNREFUSED, f"loopback guard refused the {action} {address!r}: not loopback")
        self.address = address
        self.stack = stack

    def __str__(self) -> str:
        return f"{super().__str__()}\n{self.stack}"


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or an IPv4-mapped 127.x, given as an address literal."""
    host = host.strip("[]").split("%", 1)[0]
    try:
        return socket.inet_pton(socket.AF_INET, host)[0] == 127
    except OSError:
        pass
    try:
        packed = socket.inet_pton(socket.AF_INET6, host)
    except OSError:
        return False
    return packed == bytes(15) + b"\x01" or (packed[:12] == bytes(10) + b"\xff\xff" and packed[12] == 127)


def _is_literal(host: str) -> bool:
    host = host.strip("[]").split("%", 1)[0]
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return True
        except OSError:
            pass
    return False


_hosts_file_names: frozenset[str] | None = None


def _is_local_name(host: str) -> bool:
    """A name the resolver answers without a DNS query: localhost, *.localhost, /etc/hosts."""
    global _hosts_file_names
    name = host.lower().rstrip(".")
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return True
    if _hosts_file_names is None:
        names: set[str] = set()
        try:
            with open("/etc/hosts", encoding="utf-8", errors="replace") as hosts:
                for line in hosts:
                    names.update(word.lower() for word in line.split("#", 1)[0].split()[1:])
        except OSError:
            pass
        _hosts_file_names = frozenset(names)
    return name in _hosts_file_names


def _refuse(action: str, address: object) -> LoopbackOnlyError:
    """Record the refusal in LOOPBACK_GUARD_LOG and return the error to raise."""
    import json
    import traceback

    frames = [frame for frame in traceback.extract_stack() if frame.filename != __file__][-_STACK_FRAMES:]
    stack = "".join(traceback.format_list(frames))
    path = os.environ.get(LOG_ENV)
    if path:
        record = {"action": action, "address": repr(address), "pid": os.getpid(), "argv": sys.argv, "stack": stack}
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (json.dumps(record) + "\n").encode())
        finally:
            os.close(fd)
    return LoopbackOnlyError(action, address, stack)


def _check_lookup(action: str, host: object) -> None:
    if isinstance(host, bytes):
        host = host.decode("idna", errors="replace")
    if isinstance(host, str) and host and not _is_literal(host) and not _is_local_name(host):
        raise _refuse(action, host)


def _check_address(action: str, family: int, address: Any) -> None:
    """Raise unless `address` (of a socket of `family`) is loopback; Unix and other families pass."""
    if family not in (socket.AF_INET, socket.AF_INET6):
        return
    if not isinstance(address, tuple) or not address:
        return  # malformed: the socket call itself rejects it
    host = address[0].decode() if isinstance(address[0], bytes) else address[0]
    if not isinstance(host, str):
        return
    if _is_literal(host):
        if not is_loopback(host):
            raise _refuse(action, address)
        return
    _check_lookup(action, host)  # a name: only a local one, and only if every address it has is loopback
    resolved = _original_getaddrinfo(host, None, family)
    if not all(is_loopback(str(info[4][0])) for info in resolved):
        raise _refuse(action, address)


_original_getaddrinfo: Callable[..., list[Any]] = socket.getaddrinfo


def install() -> None:
    """Wrap the socket calls of this process (once; later calls do nothing)."""
    cls: Any = socket.socket
    if getattr(cls.connect, "loopback_guard", False):
        return
    connect, connect_ex, sendto = cls.connect, cls.connect_ex, cls.sendto
    getaddrinfo, gethostbyname = socket.getaddrinfo, socket.gethostbyname
    gethostbyname_ex, gethostbyaddr = socket.gethostbyname_ex, socket.gethostbyaddr

    def guarded_connect(self: socket.socket, address: Any) -> None:
        _check_address("connect to", self.family, address)
        connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        _check_address("connect to", self.family, address)
        result: int = connect_ex(self, address)
        return result

    def guarded_sendto(self: socket.socket, data: Any, *args: Any) -> int:
        if args:  # sendto(data, address) or sendto(data, flags, address)
            _check_address("send to", self.family, args[-1])
        result: int = sendto(self, data, *args)
        return result

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> list[Any]:
        _check_lookup("name lookup of", host)
        return getaddrinfo(host, *args, **kwargs)

    def guarded_gethostbyname(host: str) -> str:
        _check_lookup("name lookup of", host)
        result: str = gethostbyname(host)
        return result

    def guarded_gethostbyname_ex(host: str) -> Any:
        _check_lookup("name lookup of", host)
        return gethostbyname_ex(host)

    def guarded_gethostbyaddr(host: str) -> Any:
        if _is_literal(host) and not is_loopback(host):  # a reverse lookup of another address is a DNS query
            raise _refuse("reverse lookup of", host)
        _check_lookup("name lookup of", host)
        return gethostbyaddr(host)

    guarded_connect.loopback_guard = True  # type: ignore[attr-defined]
    cls.connect, cls.connect_ex, cls.sendto = guarded_connect, guarded_connect_ex, guarded_sendto
    socket.getaddrinfo, socket.gethostbyname = guarded_getaddrinfo, guarded_gethostbyname
    socket.gethostbyname_ex, socket.gethostbyaddr = guarded_gethostbyname_ex, guarded_gethostbyaddr


class Refusals:
    """The refusals of one run (every process), read from its log as they come."""

    def __init__(self, path: str, owned: bool) -> None:
        self.path = path
        self.owned = owned
        self.total = 0  # every refusal read, but those taken as expected
        self.expected = 0
        self._offset = 0

    def new(self, *, expected: bool = False) -> list[dict[str, Any]]:
        """The refusals recorded since the last call (`expected`: made on purpose, not counted in total)."""
        import json

        try:
            with open(self.path, "rb") as log:
                log.seek(self._offset)
                data = log.read()
        except FileNotFoundError:
            return []
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        found = [json.loads(line) for line in complete.splitlines() if line.strip()]
        if expected:
            self.expected += len(found)
        else:
            self.total += len(found)
        return found

    def close(self) -> None:
        import contextlib

        if self.owned:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)


def describe(refusals: list[dict[str, Any]]) -> str:
    """What was refused, by which process, from where (for a failure message)."""
    return "\n".join(
        f"loopback guard refused the {r['action']} {r['address']} in pid {r['pid']} ({' '.join(r['argv'])[:200]}):\n"
        f"{r['stack']}"
        for r in refusals
    )


def enable() -> Refusals:
    """Install the guard here and in every Python child started from now on (through PYTHONPATH)."""
    import tempfile

    path = os.environ.get(LOG_ENV)
    owned = not path
    if not path:
        fd, path = tempfile.mkstemp(prefix="loopback-guard-", suffix=".jsonl")
        os.close(fd)
        os.environ[LOG_ENV] = path
    rest = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry and entry != FOLDER]
    os.environ["PYTHONPATH"] = os.pathsep.join([FOLDER, *rest])
    install()
    refusals = Refusals(path, owned)
    if not owned:
        refusals.new()  # an outer run's refusals are its own to report
    return refusals
