"""How records are printed: JSON, one line each unless indented."""

from __future__ import annotations

import json
from typing import Any, TextIO


def emit(out: TextIO, value: dict[str, Any], *, indent: int | None = None) -> None:
    out.write(json.dumps(value, indent=indent, ensure_ascii=False) + "\n")
