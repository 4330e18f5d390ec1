"""``python -m devstack serve``: run a LocalStack for ``func start`` until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from devstack.stack import LocalStack


def _serve(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    stack = LocalStack(Path(args.root) if args.root else None, sandboxes=args.sandbox or ("prod",))
    try:
        with stack:
            secret_name, _, _ = stack.add_eventhubs_namespace(args.namespace)
            listed = stack.resource_graph.add_namespace(args.namespace)
            print(f"# devstack is running; sample namespace {args.namespace!r} (secret {secret_name})")
            print(f"# Azurite: {stack.azurite.describe() if stack.azurite else 'not started'}")
            print(f"# Resource Graph: {stack.resource_graph.base_url} lists {listed['id']}")
            print("# Environment (eval in a shell):")
            for key, value in stack.env().items():
                print(f"export {key}={shlex.quote(value)}")
            print("# local.settings.json:")
            print(json.dumps(stack.local_settings(), indent=2))
            print("# Press Ctrl-C to stop.", flush=True)
            try:
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
            print("# stopping devstack", flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the local stack and print its settings")
    serve.add_argument("--namespace", default="contoso-telemetry", help="sample Event Hubs namespace to seed")
    serve.add_argument("--sandbox", action="append", help="sandbox that exists in the Adobe stand-in (repeatable)")
    serve.add_argument("--root", help="repository root holding node_modules (default: found)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
