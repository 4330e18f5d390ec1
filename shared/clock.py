"""Time and waiting, passed in so tests control them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


@dataclass
class Clock:
    """Wall-clock time for records, monotonic time for budgets, and sleep."""

    now: Callable[[], datetime]
    monotonic: Callable[[], float]
    sleep: Callable[[float], None]
