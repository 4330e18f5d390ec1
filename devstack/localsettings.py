"""``local.settings.json`` for ``func start`` against the stand-ins: the document, and writing it safely.

:func:`local_settings` turns a stack's ``env()`` (:meth:`devstack.stack.LocalStack.env`) into the
file Core Tools reads: every app setting, the service ones pointing at the stand-ins and the rest at
their defaults, plus what a local host needs (``FUNCTIONS_WORKER_RUNTIME``, ``RECONCILE_SCHEDULE``
for the timer's ``%RECONCILE_SCHEDULE%``). The file carries a top-level
:data:`MARKER` key (Core Tools reads only ``IsEncrypted``, ``Values``, ``Host`` and
``ConnectionStrings``); :func:`write_local_settings` replaces an existing file only when it has that
marker or when forced, so a ``local.settings.json`` someone wrote by hand is never lost.

:func:`write_ca_bundle` writes the public roots (``certifi``) followed by the stand-ins' CA: with
``CONNECTOR_CA_BUNDLE`` pointing at it, the app trusts the HTTPS stand-ins and still the public CAs.

The file uses only settings no developer machine exports: Core Tools (and ``cli --settings``) let an
exported variable beat the file, so a corporate ``REQUESTS_CA_BUNDLE``/``SSL_CERT_FILE`` or a service
principal's ``AZURE_CLIENT_ID`` would otherwise point the app elsewhere. The CA bundle is therefore
``CONNECTOR_CA_BUNDLE`` and the identity ``CONNECTOR_IDENTITY_CLIENT_ID=system`` (the identity
stand-in's system-assigned identity), both the app's own settings, which win over those variables.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import certifi

from devstack.privatefile import write_private
from devstack.resourcegraph import DEFAULT_SUBSCRIPTION

__all__ = [
    "DEFAULTS",
    "LEFT_TO_THE_MACHINE",
    "MARKER",
    "WriteOutcome",
    "local_settings",
    "write_ca_bundle",
    "write_local_settings",
]

MARKER = "_devstack"
MARKER_TEXT = (
    "Written by `python -m devstack serve` for the stand-ins it runs (their ports change on every run). "
    "serve rewrites this file while this key is here: remove the key to keep the file as yours."
)

#: The settings a local host needs that the stack's env() leaves out, and every other app setting at
#: its default (README, "Settings"). Values must be strings: Core Tools ignores a file with others.
#: Never a variable a machine may export (see the module's docstring): :data:`LEFT_TO_THE_MACHINE`.
DEFAULTS: dict[str, str] = {
    "FUNCTIONS_WORKER_RUNTIME": "python",
    "AzureWebJobsFeatureFlags": "EnableWorkerIndexing",
    "CONNECTOR_IDENTITY_CLIENT_ID": "system",  # the identity stand-in's system-assigned identity, whatever
    # AZURE_CLIENT_ID a machine exports (for its own service principal)
    "AZURE_SUBSCRIPTION_IDS": DEFAULT_SUBSCRIPTION,  # where add-namespace lists namespaces
    "RECONCILE_SCHEDULE": "0 */5 * * * *",  # every 5 minutes locally (30 in Azure)
    "RECONCILE_DELETE": "false",
    "RECONCILE_MAX_DELETE": "10",
    "RECONCILE_GONE_GRACE_SECONDS": "900",
    "HUB_VISIBLE_AFTER_SECONDS": "300",
    "HEALTH_SCHEDULE": "0 */15 * * * *",  # the host resolves %HEALTH_SCHEDULE%: always set
    "HEALTH_WINDOW_MINUTES": "180",
    "HEALTH_LAG_MINUTES": "60",
    "HEALTH_MAX_FAILED_RATIO": "0.005",
    "HEALTH_REENABLE": "false",
    "HTTP_TIMEOUT_SECONDS": "10",
    "RETRY_BUDGET_SECONDS": "45",
    "CLAIM_LEASE_SECONDS": "120",
    "CLAIM_WAIT_SECONDS": "10",
    "VERIFY_AFTER_SECONDS": "3600",
    "VERIFY_DELAY_SECONDS": "120",
    "DATAFLOWS_TABLE": "EventHubsDataflows",
    "DATAFLOW_DATASET_ID": "",
    "DATAFLOW_DATA_TYPE": "xdm",
    "DATAFLOW_CONSUMER_GROUP": "$Default",
    "DATAFLOW_RESET": "earliest",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "",  # no telemetry export locally
}

#: Variables of the machine, not the app: the file leaves them out, so an exported one overrides nothing.
LEFT_TO_THE_MACHINE = frozenset({"REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "AZURE_CLIENT_ID"})

WriteOutcome = Literal["created", "replaced", "overwritten", "kept"]
"""``created`` (no file was there), ``replaced`` (serve's own earlier file), ``overwritten`` (someone
else's file, forced), ``kept`` (someone else's file, left alone)."""


def local_settings(env: Mapping[str, str], *, ca_bundle: Path | None = None) -> dict[str, Any]:
    """The ``local.settings.json`` document: :data:`DEFAULTS` overlaid with ``env``; ``ca_bundle``
    (else ``env``'s ``REQUESTS_CA_BUNDLE``) becomes ``CONNECTOR_CA_BUNDLE``; none of
    :data:`LEFT_TO_THE_MACHINE` is written."""
    values = {**DEFAULTS, **env}
    bundle = str(ca_bundle) if ca_bundle is not None else values.get("REQUESTS_CA_BUNDLE")
    if bundle:
        values["CONNECTOR_CA_BUNDLE"] = bundle
    for name in LEFT_TO_THE_MACHINE:
        values.pop(name, None)
    return {MARKER: MARKER_TEXT, "IsEncrypted": False, "Values": values}


def written_by_devstack(path: Path) -> bool:
    """Whether the file at ``path`` is a JSON object carrying :data:`MARKER`."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(document, dict) and MARKER in document


def write_local_settings(path: Path, document: Mapping[str, Any], *, force: bool = False) -> WriteOutcome:
    """Write ``document`` to ``path`` unless a file is there that serve did not write (then only
    with ``force``). The file is replaced atomically and readable by its owner only (it holds
    IDENTITY_HEADER)."""
    if not path.exists():
        outcome: WriteOutcome = "created"
    elif written_by_devstack(path):
        outcome = "replaced"
    elif force:
        outcome = "overwritten"
    else:
        return "kept"
    write_private(path, json.dumps(document, indent=2) + "\n")
    return outcome


def write_ca_bundle(path: Path, ca_pem: bytes) -> Path:
    """Write the public roots followed by ``ca_pem`` to ``path``; returns ``path``."""
    public = Path(certifi.where()).read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(public.rstrip(b"\n") + b"\n\n# devstack stand-ins\n" + ca_pem)
    return path
