"""The CLI's name and version (the package's version in pyproject.toml reads VERSION)."""

from __future__ import annotations

import platform

COMMAND = "eventhubs-connector"
VERSION = "0.22.0"


def version_line() -> str:
    """What `--version` prints: the command, its version and the Python it runs on."""
    return f"{COMMAND} {VERSION} (Python {platform.python_version()})"
