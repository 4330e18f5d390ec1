"""The argument parser: the top level, and each command's own options (registered by its module).

Every usage error is raised as InvalidRequest (one line, exit status 2), never printed by argparse."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from shared.errors import InvalidRequest
from shared.runtime import Runtime

from .console import Console
from .options import add_global
from .version import COMMAND, version_line

#: A command: the parsed arguments, the runtime, the console -> the exit status.
Command = Callable[[argparse.Namespace, Runtime, Console], int]


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line naming what is wrong (and where to look)."""

    def error(self, message: str) -> NoReturn:
        raise InvalidRequest(f"{message} (see: {self.prog} --help)")


def program() -> str:
    """How the CLI was called: the installed command, or `python -m cli`."""
    return COMMAND if Path(sys.argv[0]).name == COMMAND else "python -m cli"


def parser() -> argparse.ArgumentParser:
    """The argument parser of the CLI (each command sets `run`, and takes the global options too)."""
    from . import create, dataflow, delete, health, listing, reconcile, retry_failed, show

    top = Parser(prog=program(), description="Event Hubs → Adobe connections and dataflows.")
    top.add_argument("--version", action="version", version=version_line())
    add_global(top, top=True)
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for module in (create, dataflow, show, listing, delete, retry_failed, reconcile, health):
        command = module.register(sub)
        add_global(command, top=False)
    return top
