"""``python -m devstack serve``: run a LocalStack for ``func start`` until Ctrl-C or SIGTERM.

On start it seeds a sample namespace and a sample dataset (its id is ``DATAFLOW_DATASET_ID`` in the
settings, so dataflows work without naming one), writes ``local.settings.json`` for the stand-ins (not over a
file someone else wrote, unless forced: :mod:`devstack.localsettings`), a CA bundle, starts the
admin endpoint (:mod:`devstack.admin`) and leaves the state file (:mod:`devstack.statefile`) that
``add-namespace`` reads; on stop it removes the state file and the CA bundle.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from devstack.admin import AdminServer
from devstack.localsettings import WriteOutcome, write_ca_bundle, write_local_settings
from devstack.stack import LocalStack, SeededNamespace
from devstack.statefile import ServeState, StateFileError, pid_alive, read_state, remove_state, state_path, write_state

__all__ = ["EVENTS_QUEUE", "SAMPLE_DATASET_ID", "SAMPLE_DATASET_NAME", "ServeOptions", "serve"]

EVENTS_QUEUE = "eventhubs-connection-events"
#: The sample dataset serve seeds (the id the README's examples use).
SAMPLE_DATASET_ID = "65e1c1a4f2b3c4001b2c3d4e"
SAMPLE_DATASET_NAME = "Event Hubs events"


@dataclass(frozen=True)
class ServeOptions:
    """``root``: the repository (node_modules, default state dir and settings path)."""

    root: Path
    namespace: str = "contoso-telemetry"
    sandboxes: Sequence[str] = ("prod",)
    state_dir: Path | None = None
    settings_path: Path | None = None
    force: bool = False
    print_env: bool = False

    @property
    def state_directory(self) -> Path:
        return self.state_dir or self.root / ".devstack"

    @property
    def settings_file(self) -> Path:
        return self.settings_path or self.root / "local.settings.json"


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _already_running(path: Path) -> int | None:
    """The pid of a live serve that owns the state file at ``path``, if any."""
    try:
        state = read_state(path)
    except StateFileError:
        return None
    return state.pid if state is not None and pid_alive(state.pid) else None


def _settings_message(outcome: WriteOutcome, target: Path, copy: Path) -> str:
    if outcome == "kept":
        return (
            f"{_shown(target)} was not written by devstack serve: left it alone, so func start reads yours.\n"
            f"The one for these stand-ins is {_shown(copy)} (serve --force writes it over yours)."
        )
    verb = {"created": "wrote", "replaced": "rewrote", "overwritten": "overwrote (--force)"}[outcome]
    return f"{verb} {_shown(target)} for func start"


def _describe(stack: LocalStack, admin: AdminServer, sample: SeededNamespace, dataset_id: str) -> list[str]:
    azurite = stack.azurite
    storage = (
        f"blob {azurite.blob_port}, queue {azurite.queue_port}, table {azurite.table_port} (pid {azurite.pid})"
        if azurite
        else "not started"
    )
    return [
        f"  Azurite         {storage}",
        f"  identity        {stack.identity.endpoint}",
        f"  Key Vault       {stack.keyvault.url}",
        f"  Resource Graph  {stack.resource_graph.url}",
        f"  Adobe           IMS {stack.adobe.ims_url}, Platform {stack.adobe.platform_url}",
        f"  admin           {admin.base_url} (for add-namespace, add-dataset)",
        f"Sample namespace {sample.namespace}: secret {sample.secret_name}, event hubs {', '.join(sample.event_hubs)}",
        f"Sample dataset {dataset_id} ({SAMPLE_DATASET_NAME!r}, sandbox {stack.default_sandbox}): DATAFLOW_DATASET_ID",
    ]


def serve(options: ServeOptions, out: TextIO = sys.stdout) -> int:
    """Run until SIGINT or SIGTERM; 0, or 2 when a serve already owns the state directory."""
    state_file = state_path(options.state_directory)
    running = _already_running(state_file)
    if running is not None:
        print(f"devstack serve is already running (pid {running}, {_shown(state_file)}); stop it first.", file=out)
        return 2
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda signum, frame: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with LocalStack(options.root, sandboxes=options.sandboxes, events_queue=EVENTS_QUEUE) as stack:
            _run(stack, options, state_file, stop, out)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _run(stack: LocalStack, options: ServeOptions, state_file: Path, stop: threading.Event, out: TextIO) -> None:
    def seeded(namespace: SeededNamespace) -> None:
        scope = f" (EntityPath={namespace.entity_path})" if namespace.entity_path else ""
        secret = f"secret {namespace.secret_name}{scope}" if namespace.secret_name else "no secret"
        print(f"add-namespace {namespace.namespace}: {secret}, event hubs {', '.join(namespace.event_hubs)}", file=out)
        out.flush()

    sample = stack.seed_namespace(options.namespace)
    dataset_id = stack.adobe.add_dataset(
        SAMPLE_DATASET_NAME, sandbox=stack.default_sandbox, dataset_id=SAMPLE_DATASET_ID
    )
    bundle = write_ca_bundle(options.state_directory / "ca-bundle.pem", stack.keyvault.ca_pem)
    document = stack.local_settings(bundle)
    document["Values"]["DATAFLOW_DATASET_ID"] = dataset_id
    outcome = write_local_settings(options.settings_file, document, force=options.force)
    settings_used = options.settings_file
    if outcome == "kept":
        settings_used = options.state_directory / "local.settings.json"
        write_local_settings(settings_used, document, force=True)
    admin = AdminServer(stack, on_seeded=seeded)
    with admin:
        services = {
            "KEY_VAULT_URL": stack.keyvault.url,
            "IDENTITY_ENDPOINT": stack.identity.endpoint,
            "AZURE_RESOURCE_MANAGER_URL": stack.resource_graph.url,
            "ADOBE_IMS_URL": stack.adobe.ims_url,
            "ADOBE_PLATFORM_URL": stack.adobe.platform_url,
        }
        state = ServeState(os.getpid(), admin.base_url, admin.token, str(settings_used), services)
        write_state(state_file, state)
        try:
            print(f"devstack is running (pid {state.pid}); Ctrl-C stops it.", file=out)
            for line in _describe(stack, admin, sample, dataset_id):
                print(line, file=out)
            print(_settings_message(outcome, options.settings_file, settings_used), file=out)
            if options.print_env:
                for key, value in document["Values"].items():
                    print(f"export {key}={shlex.quote(value)}", file=out)
            print(
                "Next: func start (with .venv activated); python -m devstack add-namespace NAME [--scoped HUB] "
                "[--no-secret]; python -m devstack add-dataset NAME",
                file=out,
            )
            out.flush()
            while not stop.wait(0.5):
                pass
            print("stopping devstack", file=out, flush=True)
        finally:
            remove_state(state_file, state.pid)
            bundle.unlink(missing_ok=True)
