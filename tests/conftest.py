"""The whole test run talks to loopback only (tests/netguard/loopback_guard.py).

The guard is installed here, in pytest's process, and in every Python process the tests start
(through PYTHONPATH); a connection or name lookup outside 127.0.0.0/8 and ::1, in any of them, is
refused before it is made and fails the test during which it was refused (its setup, call or
teardown), naming the address and the stack. LOOPBACK_GUARD_MODE=report only counts them (in the
summary) instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.netguard import loopback_guard

_refusals = loopback_guard.enable()
_REPORT_ONLY = os.environ.get("LOOPBACK_GUARD_MODE", "fail") == "report"


def _fail_on_refusals(when: str) -> None:
    refused = _refusals.new()
    if refused and not _REPORT_ONLY:
        pytest.fail(f"{len(refused)} connection(s) outside loopback during {when}:\n{loopback_guard.describe(refused)}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    try:
        return (yield)
    finally:
        _fail_on_refusals("setup")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    try:
        return (yield)
    finally:
        _fail_on_refusals("the test")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    try:
        return (yield)
    finally:
        _fail_on_refusals("teardown")


@pytest.fixture
def refused_connections() -> Callable[[], list[dict[str, Any]]]:
    """For a test that is refused on purpose: takes the refusals so far (they no longer fail it)."""
    return lambda: _refusals.new(expected=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    late = _refusals.new()  # outside any test: at collection, or by a process that outlived its test
    if late and not _REPORT_ONLY:
        print(f"\n{len(late)} connection(s) outside loopback outside any test:\n{loopback_guard.describe(late)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(
        f"loopback guard: {_refusals.total} connection(s) outside loopback refused"
        f" (and {_refusals.expected} made on purpose by the guard's own tests)"
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    _refusals.close()
