"""Validated record keys and filters from the options of `show`, `list` and `delete` (errors name the option)."""

from __future__ import annotations

import argparse

from shared.eventhubs import validate_event_hub, validate_namespace, validate_sandbox
from shared.models import ConnectionKey
from shared.runtime import Runtime


def add_key(command: argparse.ArgumentParser) -> None:
    """NAMESPACE, `--sandbox` and `--event-hub`: one connection record."""
    command.add_argument("namespace", metavar="NAMESPACE", help="the Event Hubs namespace")
    command.add_argument("--sandbox", help="the Platform sandbox (default: the app's default sandbox)")
    command.add_argument("--event-hub", help="the event hub of a connection scoped to one")


def connection_key(args: argparse.Namespace, runtime: Runtime) -> ConnectionKey:
    """namespace, --sandbox (default: the app's default sandbox) and --event-hub."""
    return ConnectionKey(
        sandbox=validate_sandbox(args.sandbox, "--sandbox") if args.sandbox else runtime.settings.default_sandbox,
        namespace=validate_namespace(args.namespace, "NAMESPACE"),
        event_hub=validate_event_hub(args.event_hub, "--event-hub") if args.event_hub else None,
    )


def optional_sandbox(value: str | None) -> str | None:
    return validate_sandbox(value, "--sandbox") if value else None


def optional_namespace(value: str | None) -> str | None:
    return validate_namespace(value, "--namespace") if value else None
