"""Operator command line on the same core: create (one namespace or a file of them), show, list.

    python -m shared.cli create contoso-telemetry [--sandbox prod] [--event-hub clicks] [--auth-type sas]
    python -m shared.cli create --file namespaces.txt [--workers 4]
    python -m shared.cli show contoso-telemetry [--sandbox prod] [--event-hub clicks]
    python -m shared.cli list [--sandbox prod] [--namespace contoso-telemetry] [--state failed]

Settings come from the environment (as for the function app) or `--settings local.settings.json`.
Exit status: 0 when everything succeeded, 1 when any item failed, 2 for bad usage or settings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TextIO

from .errors import ConfigurationError, ConnectorError, InvalidRequest
from .eventhubs import validate_event_hub, validate_namespace, validate_sandbox
from .models import ConnectionKey, ConnectionRequest
from .payloads import parse_request
from .runtime import Runtime, get_runtime
from .service import Source


def _requests_from_file(path: Path, default_sandbox: str, overrides: dict[str, Any]) -> Iterator[ConnectionRequest]:
    """One request per line: a namespace name, or a JSON request object. Blank lines and # comments skipped."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            body = json.loads(text) if text.startswith("{") else {"namespace": text, **overrides}
            yield parse_request(body, default_sandbox)
        except (ValueError, InvalidRequest) as err:
            message = err.message if isinstance(err, InvalidRequest) else "not valid JSON"
            raise InvalidRequest(f"{path}:{number}: {message}") from None


class Progress:
    """A one-line progress bar on a terminal; periodic plain lines otherwise."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.done, self.failed, self.stream = total, 0, 0, stream
        self.tty = stream.isatty()

    def step(self, ok: bool) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        width = 30
        filled = width * self.done // max(1, self.total)
        line = f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} ({self.failed} failed)"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if self.done == self.total else ""))
            self.stream.flush()
        elif self.done == self.total or self.done % max(1, self.total // 10) == 0:
            self.stream.write(line + "\n")


def _create_one(runtime: Runtime, request: ConnectionRequest) -> dict[str, Any]:
    try:
        outcome = runtime.service.create_or_get(request, Source("cli"))
    except ConnectorError as err:
        return {
            "namespace": request.namespace,
            "sandbox": request.sandbox,
            "eventHubName": request.event_hub,
            **err.to_body(),
        }
    return outcome.record.to_json(created=outcome.created)


def cmd_create(args: argparse.Namespace, runtime: Runtime, out: TextIO, err: TextIO) -> int:
    overrides = {
        k: v
        for k, v in (("sandbox", args.sandbox), ("eventHubName", args.event_hub), ("authType", args.auth_type))
        if v
    }
    if args.file:
        requests = list(_requests_from_file(Path(args.file), runtime.settings.default_sandbox, overrides))
    elif args.namespace:
        requests = [parse_request({"namespace": args.namespace, **overrides}, runtime.settings.default_sandbox)]
    else:
        raise InvalidRequest("create needs a namespace or --file.")
    progress = Progress(len(requests), err) if len(requests) > 1 else None
    failures = 0
    with ThreadPoolExecutor(max(1, args.workers)) as pool:
        for result in pool.map(lambda r: _create_one(runtime, r), requests):
            ok = "error" not in result
            failures += 0 if ok else 1
            out.write(json.dumps(result, ensure_ascii=False) + "\n")
            if progress is not None:
                progress.step(ok)
    err.write(f"{len(requests) - failures} of {len(requests)} succeeded.\n")
    return 0 if failures == 0 else 1


def _key(args: argparse.Namespace, runtime: Runtime) -> ConnectionKey:
    return ConnectionKey(
        sandbox=validate_sandbox(args.sandbox) if args.sandbox else runtime.settings.default_sandbox,
        namespace=validate_namespace(args.namespace),
        event_hub=validate_event_hub(args.event_hub) if args.event_hub else None,
    )


def cmd_show(args: argparse.Namespace, runtime: Runtime, out: TextIO, err: TextIO) -> int:
    record = runtime.service.get(_key(args, runtime))
    out.write(json.dumps(record.to_json(), indent=2, ensure_ascii=False) + "\n")
    return 0


def cmd_list(args: argparse.Namespace, runtime: Runtime, out: TextIO, err: TextIO) -> int:
    namespace = validate_namespace(args.namespace) if args.namespace else None
    sandbox = validate_sandbox(args.sandbox) if args.sandbox else None
    count = 0
    for record in runtime.records.list(sandbox=sandbox, namespace=namespace):
        if args.state and record.state.value != args.state:
            continue
        out.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
        count += 1
    err.write(f"{count} record(s).\n")
    return 0


def parser() -> argparse.ArgumentParser:
    """The argument parser of the CLI."""
    top = argparse.ArgumentParser(prog="python -m shared.cli", description="Event Hubs → Adobe connections.")
    top.add_argument("--settings", help="a local.settings.json whose Values are used as app settings")
    sub = top.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create (or find) connections")
    create.add_argument("namespace", nargs="?")
    create.add_argument("--file", help="one namespace (or JSON request) per line")
    create.add_argument("--workers", type=int, default=4, help="parallel requests (default 4)")
    create.add_argument("--auth-type", choices=("sas", "aad"))
    for command in (create, sub.add_parser("show", help="show one record")):
        if command is not create:
            command.add_argument("namespace")
        command.add_argument("--sandbox")
        command.add_argument("--event-hub")
    listing = sub.add_parser("list", help="list records")
    listing.add_argument("--sandbox")
    listing.add_argument("--namespace")
    listing.add_argument("--state", choices=("creating", "ready", "pending_secret", "failed", "deleted"))
    return top


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run the CLI; returns the exit status."""
    args = parser().parse_args(argv)
    if args.settings:
        values = json.loads(Path(args.settings).read_text(encoding="utf-8")).get("Values", {})
        os.environ.update({k: str(v) for k, v in values.items() if k not in os.environ})
    commands = {"create": cmd_create, "show": cmd_show, "list": cmd_list}
    try:
        return commands[args.command](args, get_runtime(), out, err)
    except ConfigurationError as error:
        err.write(f"error: {error.message}\n")
        return 2
    except InvalidRequest as error:
        err.write(f"error: {error.message}\n")
        return 2
    except ConnectorError as error:
        err.write(f"error: {error.code}: {error.message}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
