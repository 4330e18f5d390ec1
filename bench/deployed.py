"""The app folder as Azure runs it, for the cold starts: a read-only copy of `make package`'s zip.

With WEBSITE_RUN_FROM_PACKAGE (and on Flex Consumption) the app folder is read-only: Python cannot write
`__pycache__` there, so only the bytecode the package ships is used. Simulated here (a bind mount may be
unavailable) by an extracted copy made read-only and PYTHONDONTWRITEBYTECODE=1 (which also holds for root,
whom a read-only mode does not stop). The benchmark's own child modules (not in the package) sit in a
separate folder on PYTHONPATH, precompiled, so both sides load them alike; the project's checkout is not
on the path at all, so a module missing from the package fails the cold start as it would in Azure.
"""

from __future__ import annotations

import compileall
import py_compile
import shutil
import stat
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bench.harness import OUT, ROOT
from tools.package import build

DEPLOYED = OUT / "deployed"
HARNESS_MODULES = ("__init__.py", "child.py", "worker.py", "baseline.py")


@dataclass(frozen=True)
class Deployed:
    """Where the cold starts run."""

    app: Path  # the package extracted, with the bytecode it ships; read-only
    plain: Path  # the same without that bytecode (a deployment of the bare sources); read-only
    harness: Path  # bench's child modules, for PYTHONPATH

    def env(self, base: dict[str, str]) -> dict[str, str]:
        """A child's environment: no bytecode written, none looked for elsewhere, the harness importable."""
        env = {key: value for key, value in base.items() if key != "PYTHONPYCACHEPREFIX"}
        env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(self.harness))
        return env


def prepare() -> Deployed:
    """Build the package with this interpreter and lay out the read-only copies (anew each run)."""
    if DEPLOYED.exists():
        _set_writable(DEPLOYED, True)
        shutil.rmtree(DEPLOYED)
    package = build(DEPLOYED / "dist", [sys.executable])
    deployed = Deployed(DEPLOYED / "app", DEPLOYED / "plain", DEPLOYED / "harness")
    for folder in (deployed.app, deployed.plain):
        with zipfile.ZipFile(package) as archive:
            archive.extractall(folder)
    for cache in list(deployed.plain.rglob("__pycache__")):
        shutil.rmtree(cache)
    (deployed.harness / "bench").mkdir(parents=True)
    for name in HARNESS_MODULES:
        shutil.copyfile(ROOT / "bench" / name, deployed.harness / "bench" / name)
    compileall.compile_dir(deployed.harness, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    for folder in (deployed.app, deployed.plain, deployed.harness):
        _set_writable(folder, False)
    return deployed


def _set_writable(folder: Path, writable: bool) -> None:
    write = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod((mode | stat.S_IWUSR) if writable else (mode & ~write))
