"""`make package` (tools/package.py): the deployment zip holds only what the app needs, each module with
bytecode beside it that Python uses without checking the source, so a read-only app folder compiles nothing."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tools.package import APP_FILES, PACKAGE_NAME, app_sources, build

TAG = sys.implementation.cache_tag  # e.g. cpython-311


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("dist"), [sys.executable])


def pyc_of(source: str) -> str:
    folder, _, name = source.rpartition("/")
    return f"{folder + '/' if folder else ''}__pycache__/{name.removesuffix('.py')}.{TAG}.pyc"


def test_the_package_holds_the_app_and_nothing_else(package: Path) -> None:
    assert package.name == PACKAGE_NAME
    names = set(zipfile.ZipFile(package).namelist())
    sources = {path.as_posix() for path in app_sources()}
    assert {name for name in names if not name.endswith(".pyc")} == sources
    assert set(APP_FILES) <= names and "shared/adobe/throttle.py" in names and "create_connection/http.py" in names
    tops = {name.split("/")[0] for name in names}
    assert tops == {"function_app.py", "host.json", "requirements.txt", "create_connection", "shared", "__pycache__"}
    modules = [name for name in sources if name.endswith(".py")]
    assert {name for name in names if name.endswith(".pyc")} == {pyc_of(name) for name in modules}


def test_the_bytecode_is_unchecked_hash_based(package: Path) -> None:
    with zipfile.ZipFile(package) as archive:
        for name in (n for n in archive.namelist() if n.endswith(".pyc")):
            header = archive.read(name)[:16]
            assert header[:4] == importlib.util.MAGIC_NUMBER, name
            assert int.from_bytes(header[4:8], "little") == 0b01, name  # hash-based, check_source off


def test_a_read_only_copy_imports_the_app_from_the_shipped_bytecode(package: Path, tmp_path: Path) -> None:
    """The app folder as deployed (no bytecode written): the shipped .pyc is what runs, even where the source
    beside it says otherwise, and nothing is written into the folder."""
    with zipfile.ZipFile(package) as archive:
        archive.extractall(tmp_path)
    (tmp_path / "shared" / "clock.py").write_text('raise SystemExit("the source was compiled")\n')
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for path in tmp_path.rglob("*"):
        path.chmod(path.stat().st_mode & ~0o222)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHONPYCACHEPREFIX", "PYTHONPATH"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    script = "import shared.clock, function_app; print(len(function_app.app.get_functions()))"
    try:
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
    finally:
        for path in tmp_path.rglob("*"):
            path.chmod(path.stat().st_mode | 0o200)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.strip()) == 10  # the ten functions, indexed from the package alone
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
