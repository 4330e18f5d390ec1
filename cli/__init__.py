"""Operator command line on the same core as the function app: connections and dataflows.

    python -m cli create contoso-telemetry [--sandbox prod] [--event-hub clicks] [--name N] [--description D]
    python -m cli create --file namespaces.txt [--workers 4]
    python -m cli dataflow --namespace contoso-telemetry --event-hub clicks --dataset <id> [--sandbox prod]
    python -m cli dataflow --file dataflows.jsonl [--dataset <id>] [--workers 4]
    python -m cli show contoso-telemetry [--sandbox prod] [--event-hub clicks] [--json]
    python -m cli list [--sandbox prod] [--namespace contoso-telemetry] [--state failed] [--kind dataflow] [--json]
    python -m cli delete contoso-telemetry [--sandbox prod] [--event-hub clicks] [--adobe]
    python -m cli retry-failed [--dry-run] [--kind connection|dataflow]
    python -m cli reconcile [--dry-run] [--now] [--concurrency 8] [--adopt-in SANDBOX ...]

Settings come from the environment (as for the function app) or `--settings local.settings.json`;
`--settings` and `--verbose` go before or after the command. Exit status: 0 when everything
succeeded, 1 when any item failed, 2 for bad usage or settings (one line on stderr).

An operator tool: it is not part of the Functions package (see `.funcignore`).
"""

from .main import main

__all__ = ["main"]
