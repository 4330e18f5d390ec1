"""Validated record keys and filters from the options of `show` and `list`."""

from __future__ import annotations

import argparse

from shared.eventhubs import validate_event_hub, validate_namespace, validate_sandbox
from shared.models import ConnectionKey
from shared.runtime import Runtime


def connection_key(args: argparse.Namespace, runtime: Runtime) -> ConnectionKey:
    """namespace, --sandbox (default: the app's default sandbox) and --event-hub."""
    return ConnectionKey(
        sandbox=validate_sandbox(args.sandbox) if args.sandbox else runtime.settings.default_sandbox,
        namespace=validate_namespace(args.namespace),
        event_hub=validate_event_hub(args.event_hub) if args.event_hub else None,
    )


def optional_sandbox(value: str | None) -> str | None:
    return validate_sandbox(value) if value else None


def optional_namespace(value: str | None) -> str | None:
    return validate_namespace(value) if value else None
