"""`--settings`: the Values of a local.settings.json as app settings (the environment wins, as in Core Tools)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from shared.errors import InvalidRequest


def load_settings(path: str) -> list[str]:
    """Put the file's Values into the environment, except those already exported (Core Tools' rule:
    "Skipping 'X' from local settings as it's already defined in current environment variables").
    Returns the names whose exported value differs from the file's; InvalidRequest (one line) for a
    file that cannot be used."""

    def bad(reason: str) -> InvalidRequest:
        return InvalidRequest(f"--settings {path}: {reason}")

    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise bad("not UTF-8 text") from None
    except OSError as err:
        raise bad(f"cannot be read ({err.strerror or type(err).__name__})") from None
    try:
        document = json.loads(text)
    except ValueError as err:
        raise bad(f"not valid JSON ({err})") from None
    values = document.get("Values") if isinstance(document, dict) else None
    if not isinstance(values, dict):
        raise bad('not a local.settings.json (it needs a "Values" object)')
    settings = {}
    for name, value in values.items():
        if isinstance(value, bool):
            settings[name] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            settings[name] = str(value)
        else:
            raise bad(f"Values.{name} is not a string")
    os.environ.update({name: value for name, value in settings.items() if name not in os.environ})
    return sorted(name for name, value in settings.items() if os.environ[name] != value)


def overridden_note(path: str, names: list[str]) -> str:
    """The stderr line naming every exported variable that beats the file."""
    return (
        f"note: the environment overrides {path} for {', '.join(names)} (exported variables win, as with func "
        "start; unset them to use the file's values)"
    )
