"""python -m devstack: the local stack for `func start`.

serve          run the stand-ins until Ctrl-C or SIGTERM; write local.settings.json for them
add-namespace  make a namespace known to a running serve: its connection string in the vault,
               listed by Resource Graph, its event hubs listed by Adobe
add-dataset    add a Catalog dataset (with an XDM schema) to a running serve, for dataflows
event          print an Event Grid event (a JSON array of one) to POST to a local host's
               /runtime/webhooks/eventgrid?functionName=...
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from devstack.azurite import find_repo_root
from devstack.statefile import ServeState

EVENT_KINDS = ("namespace-write", "namespace-delete", "secret-new-version")


def _root(args: argparse.Namespace) -> Path:
    return Path(args.root) if args.root else find_repo_root()


def _state_dir(args: argparse.Namespace) -> Path:
    return Path(args.state_dir) if args.state_dir else _root(args) / ".devstack"


def _serve(args: argparse.Namespace) -> int:
    from devstack.serve import ServeOptions, serve

    options = ServeOptions(
        root=_root(args),
        namespace=args.namespace,
        sandboxes=tuple(args.sandbox or ("prod",)),
        state_dir=_state_dir(args),
        settings_path=Path(args.settings) if args.settings else None,
        force=args.force,
        print_env=args.print_env,
    )
    return serve(options)


def _no_devstack(reason: str) -> int:
    print(f"no devstack is running: {reason}. Start one with `python -m devstack serve`.", file=sys.stderr)
    return 2


def _running(args: argparse.Namespace) -> ServeState | int:
    """The state of the running serve, or the exit status after saying there is none."""
    from devstack.statefile import StateFileError, pid_alive, read_state, state_path

    path = state_path(_state_dir(args))
    try:
        state = read_state(path)
    except StateFileError as exc:
        return _no_devstack(str(exc))
    if state is None:
        return _no_devstack(f"there is no {path}")
    if not pid_alive(state.pid):
        return _no_devstack(f"{path} was left by pid {state.pid}, which has exited")
    return state


def _add_dataset(args: argparse.Namespace) -> int:
    from devstack.admin import AdminError, AdminUnreachable, add_dataset

    state = _running(args)
    if isinstance(state, int):
        return state
    try:
        added = add_dataset(state.admin_url, state.admin_token, args.name, sandbox=args.sandbox, dataset_id=args.id)
    except AdminUnreachable as exc:
        return _no_devstack(f"serve (pid {state.pid}) does not answer at {state.admin_url} ({exc})")
    except AdminError as exc:
        print(f"add-dataset: {exc}", file=sys.stderr)
        return 2 if exc.status == 400 else 1
    described = f"{added['id']} ({added['name']!r}, sandbox {added['sandbox']})"
    print(f"added dataset {described} to the devstack of pid {state.pid}")
    print(f"  use it: python -m cli dataflow --namespace NAMESPACE --event-hub HUB --dataset {added['id']}")
    return 0


def _add_namespace(args: argparse.Namespace) -> int:
    from devstack.admin import AdminError, AdminUnreachable, add_namespace

    state = _running(args)
    if isinstance(state, int):
        return state
    try:
        added = add_namespace(
            state.admin_url,
            state.admin_token,
            args.name,
            scoped=args.scoped,
            secret=not args.no_secret,
            event_hubs=args.event_hub,
        )
    except AdminUnreachable as exc:
        return _no_devstack(f"serve (pid {state.pid}) does not answer at {state.admin_url} ({exc})")
    except AdminError as exc:
        print(f"add-namespace: {exc}", file=sys.stderr)
        return 2 if exc.status == 400 else 1
    scope = f" (EntityPath={added['entity_path']})" if added.get("entity_path") else ""
    secret = f"secret {added['secret_name']}{scope}" if added.get("secret_name") else "no secret (--no-secret)"
    if added.get("rotated"):
        secret += " (a NEW VERSION: the namespace was there already, so its key rotated)"
    print(f"added {added['namespace']} to the devstack of pid {state.pid}:")
    print(f"  Key Vault       {secret}")
    print(f"  Resource Graph  {added['resource_id']}")
    print(f"  Adobe explore   event hubs {', '.join(added['event_hubs'])}")
    if added.get("rotated"):
        event = f"python -m devstack event secret-new-version {added['namespace']}"
        print(f"  the app applies the new key on the secret's event: {event}")
    return 0


def _event(args: argparse.Namespace) -> int:
    from devstack.events import as_cloud_event, namespace_event, secret_event
    from devstack.stack import SAS_SECRET_TEMPLATE

    now = datetime.now(UTC)
    if args.kind == "secret-new-version":
        event = secret_event(SAS_SECRET_TEMPLATE.format(namespace=args.name), event_time=now)
    else:
        action: Literal["write", "delete"] = "write" if args.kind == "namespace-write" else "delete"
        event = namespace_event(action, args.name, event_time=now, event_hub=args.event_hub)
    if args.cloudevents:
        event = as_cloud_event(event)
    print(json.dumps([event], indent=2))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devstack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", help="repository root holding node_modules (default: found)")
    common.add_argument("--state-dir", help="where serve leaves its state file (default: <root>/.devstack)")

    serve = commands.add_parser("serve", parents=[common], help="run the stand-ins and write local.settings.json")
    serve.add_argument("--namespace", default="contoso-telemetry", help="sample Event Hubs namespace to seed")
    serve.add_argument("--sandbox", action="append", help="sandbox that exists in the Adobe stand-in (repeatable)")
    serve.add_argument("--settings", help="where to write local.settings.json (default: <root>/local.settings.json)")
    serve.add_argument("--force", action="store_true", help="replace a local.settings.json serve did not write")
    serve.add_argument("--print-env", action="store_true", help="also print the settings as export lines")

    add = commands.add_parser("add-namespace", parents=[common], help="add a namespace to a running serve")
    add.add_argument("name", help="Event Hubs namespace name")
    add.add_argument("--scoped", metavar="HUB", help="store a connection string scoped to this event hub")
    add.add_argument("--no-secret", action="store_true", help="store no connection string in the vault")
    add.add_argument(
        "--event-hub",
        action="append",
        metavar="HUB",
        help="event hub Adobe lists (repeatable; default: HUB of --scoped, else clicks and views)",
    )

    dataset = commands.add_parser("add-dataset", parents=[common], help="add a dataset to a running serve")
    dataset.add_argument("name", help="the dataset's name")
    dataset.add_argument("--sandbox", help="its sandbox (default: ADOBE_SANDBOX_NAME of serve, prod)")
    dataset.add_argument("--id", help="its id (default: 24 random hex digits, as Catalog makes them)")

    event = commands.add_parser("event", help="print an Event Grid event (a JSON array) for a local host")
    event.add_argument("kind", choices=EVENT_KINDS)
    event.add_argument("name", help="the namespace (secret-new-version: of its SAS secret)")
    event.add_argument("--event-hub", metavar="HUB", help="namespace-write/-delete: of this event hub in it")
    event.add_argument("--cloudevents", action="store_true", help="in the CloudEvents 1.0 schema")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    args = _parser().parse_args(argv)
    handlers = {"serve": _serve, "add-namespace": _add_namespace, "add-dataset": _add_dataset, "event": _event}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
