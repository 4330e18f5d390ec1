"""Entry point: arguments, settings, dispatch to the command, errors to exit statuses."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from shared.errors import ConfigurationError, ConnectorError, InvalidRequest
from shared.runtime import get_runtime

from .console import Console
from .hints import dependency_hint
from .logs import app_logs
from .parser import Command, parser
from .settingsfile import load_settings, overridden_note

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def run() -> None:
    """The console script `eventhubs-connector` (pyproject.toml): main() as the exit status."""
    sys.exit(main())


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the CLI; returns the exit status: 0 all succeeded, 1 something failed, 2 bad usage or settings."""
    console = Console(out or sys.stdout, err or sys.stderr)
    try:
        args = parser().parse_args(argv)
        command: Command = args.run
        if args.settings:
            overridden = load_settings(args.settings)
            if overridden:
                console.note(overridden_note(args.settings, overridden))
        with app_logs(console, verbose=args.verbose):
            return command(args, get_runtime(), console)
    except (ConfigurationError, InvalidRequest) as error:
        console.end_status()
        console.note(f"error: {error.message}")
        return EXIT_USAGE
    except ConnectorError as error:
        console.end_status()
        console.note(f"error: {error.code}: {error.message}")
        hint = dependency_hint(getattr(error, "dependency", None))
        if hint:
            console.note(hint)
        return EXIT_FAILED
    except KeyboardInterrupt:
        console.end_status()
        console.note("interrupted")
        return EXIT_INTERRUPTED
