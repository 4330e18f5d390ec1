"""Options several commands share."""

from __future__ import annotations

import argparse


def add_workers(command: argparse.ArgumentParser) -> None:
    """`--workers`: how many requests of a file run at once."""
    command.add_argument("--workers", type=int, default=4, help="parallel requests (default 4)")
