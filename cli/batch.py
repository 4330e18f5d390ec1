"""Runs a list of requests in parallel: one JSON line per result in order, a progress bar, a summary."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .console import Console

T = TypeVar("T")


def run_batch(requests: Sequence[T], work: Callable[[T], dict[str, Any]], workers: int, console: Console) -> int:
    """`work` answers a record's JSON or an error body (`"error"` key): each printed once, on stdout; the
    exit status is 1 when any failed."""
    progress = console.progress(len(requests)) if len(requests) > 1 else None
    failures = 0
    try:
        with ThreadPoolExecutor(max(1, workers)) as pool:
            for result in pool.map(work, requests):
                ok = "error" not in result
                failures += 0 if ok else 1
                console.result(result)
                if progress is not None:
                    progress.step(ok)
    finally:
        console.end_status()
    console.note(f"{len(requests) - failures} of {len(requests)} succeeded.")
    return 0 if failures == 0 else 1
