"""A progress bar's counts and text; the console draws it (on a terminal only)."""

from __future__ import annotations

from collections.abc import Callable

WIDTH = 30


class Progress:
    """Counts finished items (and failures) and hands the bar's text to `show` after each one."""

    def __init__(self, total: int, show: Callable[[str], None]) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self._show = show

    def step(self, ok: bool = True) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        self._show(self.text())

    def text(self) -> str:
        filled = WIDTH * min(self.done, self.total) // max(1, self.total)
        return f"[{'#' * filled}{'.' * (WIDTH - filled)}] {self.done}/{self.total} ({self.failed} failed)"
