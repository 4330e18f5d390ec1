"""The state file a running ``devstack serve`` leaves for other commands (``add-namespace``).

``<state dir>/serve.json`` (the state dir is ``<repo>/.devstack`` by default, gitignored) holds the
serving process's pid, its admin endpoint and token (:mod:`devstack.admin`), the URLs of the
stand-ins and where ``local.settings.json`` went. It is written mode 0600 when serve is ready and
removed when it stops; a file whose pid is gone was left by a serve that was killed.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from devstack.privatefile import write_private

__all__ = ["STATE_FILE", "ServeState", "StateFileError", "pid_alive", "read_state", "remove_state", "write_state"]

STATE_FILE = "serve.json"


class StateFileError(Exception):
    """The state file exists but cannot be read as one."""


@dataclass(frozen=True)
class ServeState:
    """What ``serve.json`` holds."""

    pid: int
    admin_url: str
    admin_token: str
    settings_path: str
    services: dict[str, str] = field(default_factory=dict)


def state_path(state_dir: Path) -> Path:
    """``<state_dir>/serve.json``."""
    return state_dir / STATE_FILE


def write_state(path: Path, state: ServeState) -> None:
    """Write the state file (atomically, mode 0600: it holds the admin token)."""
    write_private(path, json.dumps(asdict(state), indent=2) + "\n")


def read_state(path: Path) -> ServeState | None:
    """The state in ``path``; None when there is no file. StateFileError when it is not one."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateFileError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(raw)
        return ServeState(
            pid=int(data["pid"]),
            admin_url=str(data["admin_url"]),
            admin_token=str(data["admin_token"]),
            settings_path=str(data["settings_path"]),
            services={str(k): str(v) for k, v in dict(data.get("services") or {}).items()},
        )
    except (ValueError, KeyError, TypeError):
        raise StateFileError(f"{path} is not a devstack state file") from None


def remove_state(path: Path, pid: int) -> None:
    """Remove the state file if process ``pid`` wrote it (a newer serve's file stays)."""
    try:
        state = read_state(path)
    except StateFileError:
        return
    if state is not None and state.pid == pid:
        path.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (signal 0)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
