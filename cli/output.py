"""How records are rendered: JSON, on one line unless indented."""

from __future__ import annotations

import json
from typing import Any


def json_text(value: dict[str, Any], *, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False)
