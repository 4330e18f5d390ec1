"""`make package`: the Functions deployment zip, with only what the app needs and its modules precompiled.

    python -m tools.package [--out dist] [--python INTERPRETER ...]

The zip holds function_app.py, host.json, requirements.txt and the packages the app imports
(create_connection/, shared/), nothing else (no tests, devstack, bench, cli, docs). Each module is
compiled by every `--python` given (3.11 and 3.13: one `__pycache__/<module>.cpython-3XX.pyc` each, beside
its source) with `--invalidation-mode unchecked-hash`: Python uses the bytecode without comparing it with
the source's time stamp, which a zip or a mounted package does not keep, so a read-only app folder
(WEBSITE_RUN_FROM_PACKAGE, Flex Consumption) never compiles the app at a cold start. The platform's remote
build installs requirements.txt (pip compiles the libraries as it installs them).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
APP_FILES: Final = ("function_app.py", "host.json", "requirements.txt")
APP_PACKAGES: Final = ("create_connection", "shared")
PACKAGE_NAME: Final = "function-app.zip"
ZIP_TIME: Final = (1980, 1, 1, 0, 0, 0)  # every entry's time stamp: the same sources make the same zip


class PackageError(RuntimeError):
    """The package could not be built (a missing file, an interpreter that failed)."""


def app_sources(root: Path = ROOT) -> list[Path]:
    """What the app needs, relative to `root`: the top-level files and every module of its packages."""
    missing = [name for name in (*APP_FILES, *APP_PACKAGES) if not (root / name).exists()]
    if missing:
        raise PackageError(f"not found in {root}: {', '.join(missing)}")
    modules = (
        path.relative_to(root)
        for package in APP_PACKAGES
        for path in (root / package).rglob("*.py")
        if "__pycache__" not in path.parts
    )
    return [Path(name) for name in APP_FILES] + sorted(modules)


def precompile(staging: Path, interpreters: Sequence[str]) -> None:
    """Compile every module in `staging` with each interpreter, unchecked-hash, into __pycache__ beside it."""
    targets = [str(staging / "function_app.py"), *(str(staging / package) for package in APP_PACKAGES)]
    for interpreter in interpreters:
        command = [interpreter, "-m", "compileall", "-q", "-f", "--invalidation-mode", "unchecked-hash"]
        result = subprocess.run(
            [*command, "-s", str(staging), *targets],
            capture_output=True,
            text=True,
            check=False,
            env=_compile_env(),
        )
        if result.returncode != 0:
            raise PackageError(f"{interpreter} could not compile the app:\n{result.stdout}{result.stderr}")


def _compile_env() -> dict[str, str]:
    """This environment without what would move or skip the bytecode (it must land beside the sources)."""
    dropped = ("PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "PYTHONHOME")
    return {key: value for key, value in os.environ.items() if key not in dropped}


def write_zip(staging: Path, target: Path) -> None:
    """Every file of `staging`, sorted, with fixed time stamps and permissions (a reproducible zip)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in staging.rglob("*") if p.is_file()):
            entry = zipfile.ZipInfo(path.relative_to(staging).as_posix(), date_time=ZIP_TIME)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, path.read_bytes())
    partial.replace(target)


def build(out_dir: Path, interpreters: Sequence[str], root: Path = ROOT) -> Path:
    """Build `out_dir`/function-app.zip and return its path."""
    if not interpreters:
        raise PackageError("no interpreter to compile the app with")
    with tempfile.TemporaryDirectory(prefix="function-app-") as temp:
        staging = Path(temp)
        for relative in app_sources(root):
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / relative, staging / relative)
        precompile(staging, interpreters)
        target = out_dir / PACKAGE_NAME
        write_zip(staging, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="directory of the zip (default: dist)")
    parser.add_argument(
        "--python",
        action="append",
        default=[],
        help="an interpreter to compile with (repeatable: one per Python version the app may run on; "
        "default: this one)",
    )
    args = parser.parse_args(argv)
    interpreters = [python for python in args.python if python] or [sys.executable]
    try:
        target = build(args.out, interpreters)
    except PackageError as err:
        print(f"make package: {err}", file=sys.stderr)
        return 1
    with zipfile.ZipFile(target) as archive:
        names = archive.namelist()
    compiled = sum(1 for name in names if name.endswith(".pyc"))
    print(
        f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}: {len(names)} files, "
        f"{compiled} precompiled modules ({', '.join(interpreters)}), {target.stat().st_size // 1024} KiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
