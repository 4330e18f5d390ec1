"""Entry point: settings, dispatch to the command, errors to exit statuses."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from shared.errors import ConfigurationError, ConnectorError, InvalidRequest
from shared.runtime import get_runtime

from .parser import Command, parser

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _load_settings(path: str) -> None:
    """The Values of a local.settings.json as app settings (the environment wins)."""
    try:
        values = json.loads(Path(path).read_text(encoding="utf-8")).get("Values", {})
    except (OSError, ValueError, AttributeError) as error:
        raise InvalidRequest(f"--settings {path}: not a readable local.settings.json ({error}).") from None
    os.environ.update({k: str(v) for k, v in values.items() if k not in os.environ})


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run the CLI; returns the exit status."""
    args = parser().parse_args(argv)
    command: Command = args.run
    try:
        if args.settings:
            _load_settings(args.settings)
        return command(args, get_runtime(), out, err)
    except (ConfigurationError, InvalidRequest) as error:
        err.write(f"error: {error.message}\n")
        return EXIT_USAGE
    except ConnectorError as error:
        err.write(f"error: {error.code}: {error.message}\n")
        return EXIT_FAILED
