"""Request files: one request per line; blank lines and # comments skipped; every line checked first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from shared.errors import InvalidRequest

T = TypeVar("T")


def parse_file(path: Path, parse: Callable[[str], T]) -> list[T]:
    """Every request of the file, parsed; InvalidRequest naming `file:line` for the first bad one."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest(f"{path}: not UTF-8 text") from None
    except OSError as err:
        raise InvalidRequest(f"{path}: cannot be read ({err.strerror or err})") from None
    requests = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            requests.append(parse(stripped))
        except InvalidRequest as err:
            raise InvalidRequest(f"{path}:{number}: {err.message}") from None
        except ValueError:
            raise InvalidRequest(f"{path}:{number}: not valid JSON") from None
    return requests
