"""The app's logger. Every line passes the scrubber before any handler sees it."""

from __future__ import annotations

import logging
from typing import Final

from .sensitive import scrub

LOGGER_NAME: Final = "eventhubs_connector"


class ScrubbingFilter(logging.Filter):
    """Formats the message (and any traceback) once, scrubbed of secret fragments."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


log = logging.getLogger(LOGGER_NAME)
if not any(isinstance(f, ScrubbingFilter) for f in log.filters):
    log.addFilter(ScrubbingFilter())
