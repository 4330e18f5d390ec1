"""Options several commands share, and option names in the errors of what they fill in."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from shared.errors import InvalidRequest
from shared.eventhubs import validate_sandbox


def add_global(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """`--settings` and `--verbose`: on the top level and again on every command, so they may come before
    or after the command (given after it, a command's value wins; not given, it leaves the top level's)."""
    unset = None if top else argparse.SUPPRESS
    parser.add_argument(
        "--settings", metavar="FILE", default=unset, help="a local.settings.json whose Values are used as app settings"
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="also show the app's log lines (INFO and up) on stderr",
    )


def positive_int(text: str) -> int:
    """An argparse type: a whole number of 1 or more."""
    return _at_least(text, 1)


def non_negative_int(text: str) -> int:
    """An argparse type: a whole number of 0 or more."""
    return _at_least(text, 0)


def _at_least(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{text!r} is less than {minimum}")
    return value


def sandbox_name(text: str) -> str:
    """An argparse type: a Platform sandbox name (lowercase letters, digits and hyphens)."""
    try:
        return validate_sandbox(text)
    except InvalidRequest as err:
        raise argparse.ArgumentTypeError(err.message) from None


def add_workers(command: argparse.ArgumentParser) -> None:
    """`--workers`: how many requests of a file run at once."""
    command.add_argument("--workers", type=positive_int, default=4, help="parallel requests (default 4)")


def add_json(command: argparse.ArgumentParser, help_text: str = "print JSON instead of a table") -> None:
    """`--json`: records as JSON (for machines) instead of the table."""
    command.add_argument("--json", action="store_true", help=help_text)


def named_by_option(err: InvalidRequest, options: Mapping[str, str]) -> InvalidRequest:
    """The error of a request field filled in from an option, naming the option instead of the field."""
    option = options.get(err.field or "")
    if option is None:
        return err
    return InvalidRequest(f"{option}: {err.message}", field=err.field)
