"""Runs a list of requests in parallel: one JSON line per result in order, a progress bar, a summary."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TextIO, TypeVar

from .output import emit
from .progress import Progress

T = TypeVar("T")


def run_batch(
    requests: Sequence[T], work: Callable[[T], dict[str, Any]], workers: int, out: TextIO, err: TextIO
) -> int:
    """`work` answers a record's JSON or an error body (`"error"` key); exit status 1 when any failed."""
    progress = Progress(len(requests), err) if len(requests) > 1 else None
    failures = 0
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for result in pool.map(work, requests):
            ok = "error" not in result
            failures += 0 if ok else 1
            emit(out, result)
            if progress is not None:
                progress.step(ok)
    err.write(f"{len(requests) - failures} of {len(requests)} succeeded.\n")
    return 0 if failures == 0 else 1
