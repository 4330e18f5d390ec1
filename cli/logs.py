"""The app's log lines in the CLI: errors only (a failure is already printed once, as its result), or
everything from INFO with `--verbose`; written through the console, so never across the progress bar."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from shared.logs import LOGGER_NAME

from .console import Console


class ConsoleHandler(logging.Handler):
    """Writes each (already scrubbed) log line as a note on the console."""

    def __init__(self, console: Console, level: int) -> None:
        super().__init__(level)
        self.console = console
        self.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.note(self.format(record))
        except Exception:
            self.handleError(record)


@contextmanager
def app_logs(console: Console, *, verbose: bool) -> Iterator[None]:
    """While the command runs, the app's logger writes to the console (its level put back afterwards)."""
    logger = logging.getLogger(LOGGER_NAME)
    level = logging.INFO if verbose else logging.ERROR
    handler, previous = ConsoleHandler(console, level), logger.level
    logger.addHandler(handler)
    if verbose:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
