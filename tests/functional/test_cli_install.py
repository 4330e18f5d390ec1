"""`pip install .` packages the CLI with its console script, which then works from any folder.

The install is real (pip builds the wheel with the setuptools of requirements-dev.txt and installs
it, console script included) but offline: --no-index, --no-build-isolation, --no-deps (the running
venv already holds the dependencies), into a --target folder under tmp_path."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from cli.version import COMMAND, VERSION
from devstack.azurite import find_repo_root

ROOT = find_repo_root()
PACKAGED = ("pyproject.toml", "README.md", "requirements.txt", "cli", "shared")


def _setuptools_builds_wheels() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    major, minor = (int(part) for part in setuptools.__version__.split(".")[:2])
    return (major, minor) >= (70, 1)  # bdist_wheel built in: no `wheel` package needed


def test_the_console_script_names_the_cli_entry_point() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {COMMAND: "cli.main:run"}
    version = subprocess.run(
        [sys.executable, "-m", "cli", "--version"], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert version.returncode == 0 and version.stdout.startswith(f"{COMMAND} {VERSION} (Python ")


@pytest.mark.timeout(240)
@pytest.mark.skipif(not _setuptools_builds_wheels(), reason="needs setuptools>=70.1 (requirements-dev.txt)")
def test_pip_install_then_the_command_works_from_another_folder(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy, so the build leaves no build/ or egg-info in the repository
    source.mkdir()
    for name in PACKAGED:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, source / name)
    target = tmp_path / "installed"
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": "", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-build-isolation"]
    installed = subprocess.run(
        [*pip, "--target", str(target), str(source)], capture_output=True, text=True, timeout=200, env=env
    )
    assert installed.returncode == 0, installed.stderr
    assert {"cli", "shared"} <= {path.name for path in target.iterdir()}
    assert not (target / "tests").exists() and not (target / "devstack").exists(), "only the CLI and its core"

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = target / "bin" / COMMAND
    run_env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(target), "HOME": str(elsewhere)}
    version = subprocess.run(
        [str(script), "--version"], cwd=elsewhere, capture_output=True, text=True, timeout=60, env=run_env
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith(f"{COMMAND} {VERSION} (Python ")
    usage = subprocess.run(
        [str(script), "show"], cwd=elsewhere, capture_output=True, text=True, timeout=60, env=run_env
    )
    assert usage.returncode == 2 and f"see: {COMMAND} show --help" in usage.stderr, usage.stderr
    where = subprocess.run(
        [sys.executable, "-c", "import cli; print(cli.__file__)"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=run_env,
    )
    assert where.stdout.strip().startswith(str(target)), "the installed package, not the repository's"
