"""`reconcile`: the timer's pass from an operator's terminal, with a progress bar and a summary table."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from shared.runtime import Runtime

from .progress import Progress


def register(sub: Any) -> None:
    command: argparse.ArgumentParser = sub.add_parser(
        "reconcile", help="list every namespace of AZURE_SUBSCRIPTION_IDS and make the records match"
    )
    command.add_argument("--dry-run", action="store_true", help="report only: queue, create, adopt or mark nothing")
    command.add_argument("--now", action="store_true", help="create here with a bounded pool instead of queueing")
    command.add_argument("--concurrency", type=int, default=8, help="parallel creates with --now (default 8)")
    command.set_defaults(run=run)


def run(args: argparse.Namespace, runtime: Runtime, out: TextIO, err: TextIO) -> int:
    progress: Progress | None = None

    def step(done: int, total: int) -> None:
        nonlocal progress
        if progress is None:
            progress = Progress(total, err)
        progress.step(True)

    try:
        report = runtime.reconciler().run(
            dry_run=args.dry_run, now=args.now, concurrency=max(1, args.concurrency), progress=step
        )
    except KeyboardInterrupt:
        err.write("interrupted: the creates under way finished and released their claims; run reconcile again.\n")
        return 130
    if report.skipped:
        err.write(report.summary() + "\n")
        return 0
    rows = [
        ("namespaces seen", report.seen),
        ("queued" if not args.now else "created", report.queued if not args.now else report.created),
        ("already ready", report.ready),
        ("pending secret", report.pending_secret),
        ("verifies queued", report.verifies),
        ("gone", len(report.gone)),
        ("marked deleted", report.marked_deleted),
        ("adopted", report.adopted),
        ("failed", len(report.failed)),
        ("subscriptions not listed", len(report.listing_failures)),
    ]
    title = "reconcile" + (" (dry run: nothing changed)" if args.dry_run else "")
    out.write(title + "\n")
    for label, value in rows:
        out.write(f"  {label:<26}{value:>8}\n")
    for subscription, reason in report.listing_failures.items():
        err.write(f"subscription {subscription} not listed: {reason}\n")
    for namespace, reason in report.failed.items():
        err.write(f"{namespace}: {reason}\n")
    for namespace in report.gone:
        err.write(f"gone: {namespace}\n")
    return 1 if report.failed or report.listing_failures else 0
