"""Request files: one request per line; blank lines and # comments skipped; every line checked first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from shared.errors import InvalidRequest

T = TypeVar("T")


def parse_file(path: Path, parse: Callable[[str], T]) -> list[T]:
    """Every request of the file, parsed; InvalidRequest (one line) naming `file:line` and the problem of
    the first bad line, and the numbers of the other bad lines."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest(f"{path}: not UTF-8 text") from None
    except OSError as err:
        raise InvalidRequest(f"{path}: cannot be read ({err.strerror or err})") from None
    requests = []
    bad: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            requests.append(parse(stripped))
        except InvalidRequest as err:
            bad.append((number, err.message))
        except ValueError:
            bad.append((number, "not valid JSON"))
    if bad:
        (first, problem), others = bad[0], [number for number, _ in bad[1:]]
        also = f" (also bad: line{'s' if len(others) > 1 else ''} {_numbers(others)})" if others else ""
        raise InvalidRequest(f"{path}:{first}: {problem}{also}")
    return requests


def _numbers(numbers: list[int], shown: int = 10) -> str:
    """`5, 9 and 12`, or the first ten and how many more."""
    text = [str(n) for n in numbers[:shown]]
    if len(numbers) > shown:
        return ", ".join(text) + f" and {len(numbers) - shown} more"
    return ", ".join(text[:-1]) + f" and {text[-1]}" if len(text) > 1 else text[0]
