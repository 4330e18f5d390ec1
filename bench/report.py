"""The benchmark's table, summary and bench/RESULTS.md."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

GATES = ("exact", "soft", "info")
LIBRARIES = (
    "azure-functions",
    "azure-core",
    "azure-identity",
    "azure-keyvault-secrets",
    "azure-data-tables",
    "requests",
)


@dataclass
class Row:
    """One figure: the function path, the baseline, their ratio, the target and whether it is met.

    gate: `exact` (a deterministic count; checked by every run, smoke included), `soft` (a timing
    or memory target; reported, and fails the run only with --strict) or `info` (no target).
    """

    section: str
    figure: str
    function: str
    baseline: str = "-"
    ratio: str = "-"
    target: str = "-"
    ok: bool | None = None
    gate: str = "info"

    @property
    def result(self) -> str:
        if self.ok is None:
            return ""
        return "PASS" if self.ok else "FAIL"


def render_table(rows: list[Row], *, markdown: bool = False) -> str:
    """The rows as an aligned text table (or a Markdown table)."""
    header = ("#", "Figure", "Function", "Baseline", "Ratio F/B", "Target", "Result")
    body = [(r.section, r.figure, r.function, r.baseline, r.ratio, r.target, r.result) for r in rows]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(str(row[i])) for row in [header, *body]) for i in range(len(header))]
    rule = "  ".join("-" * w for w in widths)

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()

    return "\n".join([line(header), rule, *[line(row) for row in body]])


def machine() -> dict[str, str]:
    """CPU model, cores, memory, OS, Python, Node and library versions, git revision."""
    cpu = "unknown"
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for text in Path("/proc/meminfo").read_text().splitlines():
            if text.startswith("MemTotal"):
                memory = f"{int(text.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    versions = []
    for name in LIBRARIES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (missing)")
    return {
        "CPU": cpu,
        "Cores": str(os.cpu_count()),
        "Memory": memory,
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "Node (Azurite)": _run(["node", "--version"]),
        "Libraries": ", ".join(versions),
        "Revision": _run(["git", "describe", "--always", "--dirty"]),
    }


def _comparison(comparison: list[tuple[str, str, str, str]]) -> list[str]:
    """Issue 23's rows before the work (the issue's own figures) and in this run."""
    if not comparison:
        return []
    return [
        "## Before and after (issue 23)",
        "",
        "Before: the issue's figures (main at 944e7b6); after: this run (see the table above for the full rows).",
        "",
        "| Figure | Before | After | Target |",
        "|---|---|---|---|",
        *[f"| {figure} | {before} | {after} | {target} |" for figure, before, after, target in comparison],
        "",
        "The issue's health row (the health pass over 1,000 dataflows against its ideal, <= 1.25) is not measured "
        "by this benchmark yet.",
        "",
    ]


def _run(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10, check=False).stdout.strip() or "?"
    except OSError:
        return "?"


def write_results(
    path: Path,
    rows: list[Row],
    summary: list[str],
    notes: list[str],
    *,
    seconds: float,
    command: str,
    load: tuple[float, float],
    comparison: list[tuple[str, str, str, str]] | None = None,
) -> None:
    """bench/RESULTS.md: when, where, how to reproduce, the table, the summary and the notes."""
    info = machine()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmark results",
        "",
        f"Measured {now} by `{command}` (the whole run took {seconds:.0f} s). Reproduce with:",
        "",
        "```sh",
        "make bench          # full run; rewrites this file",
        "make bench-smoke    # the few-iterations run CI does (does not write this file)",
        "```",
        "",
        "## Machine",
        "",
        *[f"- {key}: {value}" for key, value in info.items()],
        f"- Load average (1 min) at the start and the end of the run: {load[0]:.2f}, {load[1]:.2f} "
        "(other work on the machine adds noise; function and baseline are interleaved so it hits both)",
        "",
        "## Figures",
        "",
        "Ratios are function ÷ baseline. `exact` targets (call counts) are checked on every run, smoke",
        "included; timing and memory targets are reported, and fail the run only with `--strict`.",
        "",
        render_table(rows, markdown=True),
        "",
        *_comparison(comparison or []),
        "## Summary",
        "",
        *[f"- {line}" for line in summary],
        "",
        "## How it is measured",
        "",
        *[f"- {line}" for line in notes],
        "",
    ]
    path.write_text("\n".join(lines))
