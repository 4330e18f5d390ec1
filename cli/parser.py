"""The argument parser: the top level, and each command's own options (registered by its module)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TextIO

from shared.runtime import Runtime

#: A command: the parsed arguments, the runtime, stdout, stderr -> the exit status.
Command = Callable[[argparse.Namespace, Runtime, TextIO, TextIO], int]


def parser() -> argparse.ArgumentParser:
    """The argument parser of the CLI (each subcommand sets `run`)."""
    from . import create, dataflow, listing, reconcile, show

    top = argparse.ArgumentParser(prog="python -m cli", description="Event Hubs → Adobe connections and dataflows.")
    top.add_argument("--settings", help="a local.settings.json whose Values are used as app settings")
    sub = top.add_subparsers(dest="command", required=True)
    for module in (create, dataflow, show, listing, reconcile):
        module.register(sub)
    return top
