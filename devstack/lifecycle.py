"""`with` support for anything that has start() and stop()."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class StartStop:
    """Mixin: `with component:` starts it and stops it on the way out (subclasses define both)."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
