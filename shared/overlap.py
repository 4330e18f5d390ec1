"""Independent calls of one operation run side by side (a dataflow's dataset read beside its base
connection; its source beside its target), on one bounded pool per worker, each in the caller's context
(so its spans and outcome fields stay the invocation's)."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Final, TypeVar

T = TypeVar("T")
#: Calls in flight beside their callers, for the whole worker (the host runs a bounded number of invocations).
MAX_BESIDE: Final = 16
_pool = ThreadPoolExecutor(max_workers=MAX_BESIDE, thread_name_prefix="beside")


def beside(call: Callable[[], T]) -> Future[T]:
    """Start `call` now, beside the caller; `.result()` gives its value or raises its error."""
    return _pool.submit(contextvars.copy_context().run, call)
