"""The app's log lines in the CLI: errors only (a failure is already printed once, as its result), or
everything from INFO with `--verbose`; written through the console, so never across the progress bar.

The SDKs' own loggers (azure-identity's "ManagedIdentityCredential.get_token failed", urllib3's
retries...) say again, less clearly, what the error line says: without `--verbose` they go nowhere
(not even to Python's last-resort stderr handler); with it they are shown from WARNING, scrubbed."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from shared.logs import LOGGER_NAME, ScrubbingFilter

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


#: The SDK loggers the app's calls go through.
SDK_LOGGERS = ("azure", "msal", "urllib3")


@contextmanager
def app_logs(console: Console, *, verbose: bool) -> Iterator[None]:
    """While the command runs, the app's logger writes to the console (its level put back afterwards),
    and the SDKs' loggers only with `verbose`."""
    logger = logging.getLogger(LOGGER_NAME)
    level = logging.INFO if verbose else logging.ERROR
    handler, previous = ConsoleHandler(console, level), logger.level
    logger.addHandler(handler)
    if verbose:
        logger.setLevel(logging.INFO)
    sdk_handler: logging.Handler = ConsoleHandler(console, logging.WARNING) if verbose else logging.NullHandler()
    sdk_handler.addFilter(ScrubbingFilter())
    sdks = [(sdk, sdk.propagate) for sdk in map(logging.getLogger, SDK_LOGGERS)]
    for sdk, _ in sdks:
        sdk.addHandler(sdk_handler)
        sdk.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
        for sdk, propagate in sdks:
            sdk.removeHandler(sdk_handler)
            sdk.propagate = propagate
