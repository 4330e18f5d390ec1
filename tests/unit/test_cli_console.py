"""The console: a progress bar on stderr only when it is a terminal, never on the line of a result or of a
log line, finished with a newline; usage errors in one line."""

from __future__ import annotations

import io
import logging
import re

import pytest

from cli.batch import run_batch
from cli.console import Console
from cli.logs import app_logs
from cli.main import main
from shared.logs import log

BAR = re.compile(r"\[[#.]{30}\] \d+/\d+ \(\d+ failed\)")


class Terminal(io.StringIO):
    """What stdout and stderr write to when both are one terminal."""

    def isatty(self) -> bool:
        return True


def screen(written: str) -> list[str]:
    """The lines a terminal shows: `\\r` returns to the start of the line, later text overwrites."""
    shown = []
    for raw in written.split("\n"):
        cells: list[str] = []
        column = 0
        for char in raw:
            if char == "\r":
                column = 0
                continue
            cells[column : column + 1] = [char]
            column += 1
        shown.append("".join(cells).rstrip())
    return shown


def work(n: int) -> dict[str, object]:
    if n % 3 == 0:
        log.warning("item %d failed: SecretNotFound", n)  # the service's log line of the failure
        return {"n": n, "namespace": f"ns-{n}", "sandbox": "prod", "error": {"code": "SecretNotFound"}}
    log.error("item %d: could not queue its verify", n)
    return {"n": n, "namespace": f"ns-{n}", "sandbox": "prod", "state": "ready"}


def test_on_a_terminal_the_bar_never_shares_a_line_and_ends_with_a_newline() -> None:
    terminal = Terminal()
    console = Console(terminal, terminal)
    with app_logs(console, verbose=False):
        status = run_batch(list(range(1, 7)), work, 1, console, as_json=True)
    assert status == 1
    written = terminal.getvalue()
    *lines, last = screen(written)
    summary = "4 of 6 succeeded; failed: prod/ns-3/- (SecretNotFound), prod/ns-6/- (SecretNotFound)."
    assert last == "" and written.endswith(summary + "\n")
    for line in lines:
        assert line.startswith(("{", "ERROR: ")) or BAR.fullmatch(line) or line == summary, line
    assert [line for line in lines if BAR.search(line)] == ["[##############################] 6/6 (2 failed)"]
    # A failure is printed once as its result line and named in the summary; the service's warning is not shown.
    assert written.count("SecretNotFound") == 4 and "WARNING" not in written
    assert sum(line.startswith("ERROR: item") for line in lines) == 4  # errors of the app are shown
    assert "\r[" in written  # the bar was drawn while the items ran


def test_not_on_a_terminal_there_is_no_bar() -> None:
    out, err = io.StringIO(), io.StringIO()
    console = Console(out, err)
    assert run_batch(list(range(1, 7)), work, 2, console) == 1
    assert "[" not in err.getvalue() and "\r" not in err.getvalue()
    assert err.getvalue() == "4 of 6 succeeded; failed: prod/ns-3/- (SecretNotFound), prod/ns-6/- (SecretNotFound).\n"
    assert len(out.getvalue().splitlines()) == 6 and out.getvalue().startswith("{"), "JSON lines when not a terminal"


def test_verbose_shows_info_lines_and_puts_the_level_back() -> None:
    terminal = Terminal()
    console = Console(terminal, terminal)
    logger = logging.getLogger(log.name)
    before = logger.level
    with app_logs(console, verbose=True):
        log.info("hello %s", "operator")
    with app_logs(console, verbose=False):
        log.info("not shown")
    assert screen(terminal.getvalue()) == ["INFO: hello operator", ""]
    assert logger.level == before and not any(type(h).__name__ == "ConsoleHandler" for h in logger.handlers)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["create", "--workers", "0", "contoso-telemetry"], "argument --workers: '0' is less than 1"),
        (["list", "--state", "broken"], "argument --state: invalid choice: 'broken'"),
        (["show"], "the following arguments are required: NAMESPACE"),
        (["list", "--settings", "/no/such/local.settings.json"], "--settings /no/such/local.settings.json: cannot"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(argv: list[str], fragment: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(argv, out, err) == 2
    assert out.getvalue() == ""
    [line] = err.getvalue().splitlines()
    assert line.startswith("error: ") and fragment in line
