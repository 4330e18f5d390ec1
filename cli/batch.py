"""Runs a list of requests in parallel: one result per request in order (a JSON line, or a row on a
terminal), a progress bar, a summary naming the failures. Ctrl-C starts nothing new, waits for the
requests under way and prints their results too, then stops (KeyboardInterrupt: exit status 130)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from .console import Console, is_terminal
from .hints import dependency_hint

T = TypeVar("T")
NAMED_FAILURES = 10


def item_name(result: dict[str, Any]) -> str:
    """`sandbox/namespace/event hub` of a result (a record or an error body with the request's fields)."""
    return f"{result.get('sandbox')}/{result.get('namespace')}/{result.get('eventHubName') or '-'}"


def result_row(result: dict[str, Any]) -> str:
    """One line for a person: state, what, and the id made (or the error)."""
    if "error" in result:
        error = result["error"]
        return f"{'failed':<14} {item_name(result)}  {error.get('code')}: {error.get('message')}"
    made = "created" if result.get("created") else "existing"
    ident = result.get("flowId") or result.get("connectionId") or ""
    return f"{result.get('state', ''):<14} {item_name(result)}  {made} {ident}".rstrip()


def run_batch(
    requests: Sequence[T],
    work: Callable[[T], dict[str, Any]],
    workers: int,
    console: Console,
    *,
    as_json: bool | None = None,
) -> int:
    """`work` answers a record's JSON or an error body (`"error"` key): each printed once, on stdout, as
    JSON unless stdout is a terminal (or `as_json`); the exit status is 1 when any failed."""
    json_lines = not is_terminal(console.out) if as_json is None else as_json
    progress = console.progress(len(requests)) if len(requests) > 1 else None
    results: list[dict[str, Any]] = []

    def show(result: dict[str, Any]) -> None:
        results.append(result)
        if json_lines:
            console.result(result)
        else:
            console.line(result_row(result))
        if progress is not None:
            progress.step("error" not in result)

    pool = ThreadPoolExecutor(max(1, workers))
    futures: list[Future[dict[str, Any]]] = [pool.submit(work, request) for request in requests]
    try:
        for future in futures:
            show(future.result())
    except KeyboardInterrupt:
        not_started = sum(future.cancel() for future in futures)
        for future in futures[len(results) :]:
            if not future.cancelled():
                show(future.result())  # under way when Ctrl-C came: it finished (its claim released)
        console.end_status()
        _summary(requests, results, console, not_started=not_started)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        console.end_status()
    _summary(requests, results, console)
    return 0 if all("error" not in result for result in results) else 1


def _summary(requests: Sequence[Any], results: list[dict[str, Any]], console: Console, *, not_started: int = 0) -> None:
    failed = [result for result in results if "error" in result]
    line = f"{len(results) - len(failed)} of {len(requests)} succeeded"
    if failed:
        named = ", ".join(f"{item_name(r)} ({r['error'].get('code')})" for r in failed[:NAMED_FAILURES])
        more = f" and {len(failed) - NAMED_FAILURES} more" if len(failed) > NAMED_FAILURES else ""
        line += f"; failed: {named}{more}"
    if not_started:
        line += f"; {not_started} not started (interrupted)"
    console.note(line + ".")
    for dependency in dict.fromkeys(str(r["error"].get("dependency")) for r in failed):
        hint = dependency_hint(dependency)
        if hint:
            console.note(hint)
