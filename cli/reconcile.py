"""`reconcile`: the timer's pass from an operator's terminal, with a progress bar and a summary table
(`--json`: the pass's report as one JSON object, names included, for scripts)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from shared.runtime import Runtime

from .console import Console
from .options import add_json, non_negative_int, positive_int, sandbox_name
from .progress import Progress


def register(sub: Any) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = sub.add_parser(
        "reconcile", help="list every namespace of AZURE_SUBSCRIPTION_IDS and make the records match"
    )
    command.add_argument("--dry-run", action="store_true", help="report only: queue, create, adopt or mark nothing")
    command.add_argument("--now", action="store_true", help="create here with a bounded pool instead of queueing")
    command.add_argument("--concurrency", type=positive_int, default=8, help="parallel creates with --now (default 8)")
    command.add_argument(
        "--adopt-in",
        action="append",
        default=[],
        type=sandbox_name,
        metavar="SANDBOX",
        help="also adopt the connections of this sandbox (repeatable; after lost storage, for sandboxes besides "
        "ADOBE_SANDBOX_NAME)",
    )
    command.add_argument(
        "--allow-deletes",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="mark at most N vanished namespaces deleted in this run (default RECONCILE_MAX_DELETE; needs "
        "RECONCILE_DELETE=true)",
    )
    add_json(command, "print the report as one JSON object (counts, gone and failed namespaces)")
    command.set_defaults(run=run)
    return command


def run(args: argparse.Namespace, runtime: Runtime, console: Console) -> int:
    progress: Progress | None = None

    def step(done: int, total: int) -> None:
        nonlocal progress
        if progress is None:
            progress = console.progress(total)
        progress.step(True)

    try:
        report = runtime.reconciler().run(
            dry_run=args.dry_run,
            now=args.now,
            concurrency=args.concurrency,
            progress=step,
            adopt_in=args.adopt_in,
            max_delete=args.allow_deletes,
        )
    except KeyboardInterrupt:
        console.end_status()
        console.note("interrupted: the creates under way finished and released their claims; run reconcile again.")
        return 130
    console.end_status()
    status = 1 if report.failed or report.listing_failures or report.deletes_refused else 0
    if args.json:
        console.result({"dryRun": args.dry_run, "now": args.now, **_camel(dataclasses.asdict(report))}, indent=2)
        return status
    if report.skipped:
        console.note(report.summary())
        return 0
    rows = [
        ("namespaces seen", report.seen),
        ("queued" if not args.now else "created", report.queued if not args.now else report.created),
        ("already ready", report.ready),
        ("pending secret", report.pending_secret),
        ("failed records", len(report.names.get("failed_records", []))),
        ("verifies queued", report.verifies),
        ("gone", len(report.gone)),
        ("marked deleted", report.marked_deleted),
        ("adopted", report.adopted),
        ("unmanaged", len(report.unmanaged)),
        ("failed", len(report.failed)),
        ("subscriptions not listed", len(report.listing_failures)),
    ]
    title = "reconcile" + (" (dry run: nothing changed)" if args.dry_run else "")
    console.line(title)
    for label, value in rows:
        console.line(f"  {label:<26}{value:>8}")
    for subscription, reason in report.listing_failures.items():
        console.note(f"subscription {subscription} not listed: {reason}")
    for namespace, reason in report.failed.items():
        console.note(f"{namespace}: {reason}")
    for category, names in sorted(report.names.items()):
        shown = ", ".join(names[:20]) + (f" (+{len(names) - 20} more)" if len(names) > 20 else "")
        console.note(f"{category.replace('_', ' ')}: {shown}")
    for namespace in report.gone:
        console.note(f"gone: {namespace}")
    for namespace in report.unmanaged:
        console.note(f"unmanaged (never seen in AZURE_SUBSCRIPTION_IDS, left alone): {namespace}")
    if report.deletes_refused:
        console.note(
            f"error: {len(report.gone)} namespaces are gone, more than the limit: none marked deleted; check the "
            "listing, then run reconcile --allow-deletes N to allow more once."
        )
    return status


def _camel(fields: dict[str, Any]) -> dict[str, Any]:
    """`pending_secret` -> `pendingSecret`, as the app's other JSON."""
    return {name.split("_")[0] + "".join(p.title() for p in name.split("_")[1:]): v for name, v in fields.items()}
