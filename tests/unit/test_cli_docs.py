"""The README's "Command line (operators)" section names every command and option of the CLI, and no other."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from cli.parser import parser
from shared.errors import ConnectorError, retryable

ROOT = Path(__file__).resolve().parents[2]
GLOBAL = "every command"


def _section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Command line (operators)")
    end = readme.index("\n## ", start + 1)
    return readme[start:end]


def _options(command: argparse.ArgumentParser) -> set[str]:
    return {option for action in command._actions for option in action.option_strings if option not in ("-h", "--help")}


def _commands() -> dict[str, set[str]]:
    """Each command's options, and the top level's (the global options) under GLOBAL."""
    top = parser()
    [sub] = [action for action in top._actions if isinstance(action, argparse._SubParsersAction)]
    return {GLOBAL: _options(top), **{name: _options(command) for name, command in sub.choices.items()}}


def _documented() -> dict[str, set[str]]:
    """The section's table of commands: `command [ARGS]` | `--option`, ..."""
    rows = re.findall(r"^\| (`[^|]+`|every command) \| ([^|]+) \|$", _section(), flags=re.MULTILINE)
    return {
        name.strip("`").split()[0] if name != GLOBAL else GLOBAL: set(re.findall(r"`(--[a-z-]+)`", options))
        for name, options in rows
    }


def test_the_table_lists_every_command_with_exactly_its_options() -> None:
    commands, documented = _commands(), _documented()
    assert set(documented) == set(commands)
    for name, options in commands.items():
        own = options if name == GLOBAL else options - commands[GLOBAL]
        assert documented[name] == own, f"{name}: README has {sorted(documented[name])}, the parser {sorted(own)}"


def test_every_command_has_an_example_and_every_option_in_the_section_exists() -> None:
    section, commands = _section(), _commands()
    examples = set(re.findall(r"-m cli(?: --settings \S+| --verbose)* ([a-z][a-z-]*)", section))
    assert examples == set(commands) - {GLOBAL}
    known = set().union(*commands.values())
    mentioned = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", section))
    assert mentioned <= known, f"README names options the CLI lacks: {sorted(mentioned - known)}"
    assert known <= mentioned


def test_retry_failed_names_the_codes_a_retry_can_help() -> None:
    paragraph = next(line for line in _section().split("\n- ") if line.startswith("`retry-failed`"))
    named = set(re.findall(r"`([A-Z][A-Za-z]+)`", paragraph))
    classes: list[type[ConnectorError]] = [ConnectorError]
    codes = set()
    while classes:
        error_class = classes.pop()
        codes.add(error_class.code)
        classes.extend(error_class.__subclasses__())
    assert named == {code for code in codes if retryable(code)}
