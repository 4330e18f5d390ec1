"""The CLI's two streams: results on stdout, notes on stderr, and at most one status line (the progress
bar) at the bottom of stderr when it is a terminal. Every other line is written with the status line
erased first and drawn again after it, so a bar never shares a line with a result, a note or a log line."""

from __future__ import annotations

import threading
from typing import Any, TextIO

from .output import json_text
from .progress import Progress


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


class Console:
    """Where commands print: `result` and `line` on stdout, `note` on stderr, `progress` as a status line."""

    def __init__(self, out: TextIO, err: TextIO, *, terminal: bool | None = None) -> None:
        self.out, self.err = out, err
        self.terminal = is_terminal(err) if terminal is None else terminal
        self._status = ""
        self._lock = threading.RLock()

    def result(self, value: dict[str, Any], *, indent: int | None = None) -> None:
        """One record (or error body) as JSON on stdout."""
        self.line(json_text(value, indent=indent))

    def line(self, text: str = "") -> None:
        """A line of output on stdout."""
        self._write(self.out, text)

    def prompt(self, text: str) -> None:
        """A question on stderr, the cursor left after it for the answer."""
        with self._lock:
            self.err.write(text)
            self.err.flush()

    def note(self, text: str) -> None:
        """A line for the operator on stderr (summaries, errors, log lines)."""
        self._write(self.err, text)

    def progress(self, total: int) -> Progress:
        """A progress bar over `total` items, shown only when stderr is a terminal."""
        return Progress(total, self.status)

    def status(self, text: str) -> None:
        """Draw (or redraw) the status line; nothing unless stderr is a terminal."""
        if not self.terminal:
            return
        with self._lock:
            pad = " " * max(0, len(self._status) - len(text))
            self.err.write("\r" + text + pad)
            self.err.flush()
            self._status = text

    def end_status(self) -> None:
        """Leave the status line as it is last drawn and end it with a newline (no more status after this)."""
        with self._lock:
            if self._status:
                self.err.write("\n")
                self.err.flush()
                self._status = ""

    def _write(self, stream: TextIO, text: str) -> None:
        with self._lock:
            status = self._status
            if status:  # erase the bar, write the line, draw the bar again below it
                self.err.write("\r" + " " * len(status) + "\r")
                self.err.flush()
            stream.write(text + "\n")
            stream.flush()
            if status:
                self.err.write(status)
                self.err.flush()
