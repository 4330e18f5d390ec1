"""A one-line progress bar on a terminal; periodic plain lines otherwise."""

from __future__ import annotations

from typing import TextIO

WIDTH = 30


class Progress:
    """Counts finished items (and failures) and shows them on `stream`."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.done, self.failed, self.stream = total, 0, 0, stream
        self.tty = stream.isatty()

    def step(self, ok: bool) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        filled = WIDTH * self.done // max(1, self.total)
        line = f"[{'#' * filled}{'.' * (WIDTH - filled)}] {self.done}/{self.total} ({self.failed} failed)"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if self.done == self.total else ""))
            self.stream.flush()
        elif self.done == self.total or self.done % max(1, self.total // 10) == 0:
            self.stream.write(line + "\n")
