"""Secret values: a wrapper that never prints its value, and the one scrubber for outward text.

Every secret the app handles (SAS keys, client secrets, access tokens, storage account keys) is
registered here when it is wrapped in a `Secret`. `scrub()` replaces every run of
`MIN_FRAGMENT` or more characters of a registered value, so a secret cannot reach a response,
a log line, a record, a queue message or an exception message even when a service quotes it
back in an error text, or when that text is cut. Scrub first, cut after.

A value is registered with the forms in which JSON or a URL quotes it (`\\uXXXX` and `\\/`
escapes, percent-encoding), so an echo of a request body or a form is scrubbed too. A value
shorter than `MIN_SECRET_LENGTH` is never registered: its fragments would match ordinary text
(a key `tel` would mangle every `telemetry`); the places that read secrets refuse such values.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from typing import Final, NoReturn
from urllib.parse import quote, quote_plus

REDACTED: Final = "***"
#: The shortest run of a secret's characters that counts as a leak.
MIN_FRAGMENT: Final = 8
#: The shortest value accepted as a secret (SAS key, client secret): a shorter one is refused before use.
MIN_SECRET_LENGTH: Final = 16
#: Secret values remembered by one worker, the least recently used forgotten first: every use registers a
#: value again (parsing a secret, building a request body, a token), so only values no request holds are dropped.
MAX_REGISTERED: Final = 512
_JSON_ESCAPE: Final = re.compile(r"\\u[0-9a-f]{4}")


def too_short(value: str) -> bool:
    """Whether a secret value is too short to be scrubbed without mangling other text (refuse it)."""
    return len(value) < MIN_SECRET_LENGTH


def quoted_forms(value: str) -> tuple[str, ...]:
    """The value as JSON and URLs can quote it: JSON string escapes (`\\u00e9`, either hex case, with
    `\\/`, and JSON in JSON), percent-encoding (path, component, form). The value itself first."""
    in_json = json.dumps(value)[1:-1]
    forms = [
        value,
        in_json,
        in_json.replace("/", "\\/"),
        _upper_hex_escapes(in_json),
        json.dumps(in_json)[1:-1],
        quote(value, safe=""),
        quote(value),
        quote_plus(value, safe=""),
    ]
    return tuple(dict.fromkeys(forms))


def _upper_hex_escapes(text: str) -> str:
    return _JSON_ESCAPE.sub(lambda match: match.group(0).upper().replace("\\U", "\\u"), text)


class _Registry:
    """The secret values of this process, indexed by every MIN_FRAGMENT-character window of each quoted form."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self._grams: dict[str, int] = {}

    def add(self, value: str) -> None:
        if too_short(value):
            return
        with self._lock:
            if value in self._values:
                self._values.move_to_end(value)
                return
            forms = quoted_forms(value)
            self._values[value] = forms
            self._index(forms, +1)
            while len(self._values) > MAX_REGISTERED:
                _, old = self._values.popitem(last=False)
                self._index(old, -1)

    def _index(self, forms: tuple[str, ...], delta: int) -> None:
        for form in forms:
            for i in range(len(form) - MIN_FRAGMENT + 1):
                gram = form[i : i + MIN_FRAGMENT]
                count = self._grams.get(gram, 0) + delta
                if count > 0:
                    self._grams[gram] = count
                else:
                    self._grams.pop(gram, None)

    def scrub(self, text: str) -> str:
        if not self._grams:
            return text
        with self._lock:
            grams = self._grams
            covered_until = -1
            spans: list[list[int]] = []
            for i in range(len(text) - MIN_FRAGMENT + 1):
                if text[i : i + MIN_FRAGMENT] in grams:
                    end = i + MIN_FRAGMENT
                    if spans and i <= covered_until:
                        spans[-1][1] = end
                    else:
                        spans.append([i, end])
                    covered_until = end
        if not spans:
            return text
        parts, last = [], 0
        for start, end in spans:
            parts.append(text[last:start])
            parts.append(REDACTED)
            last = end
        parts.append(text[last:])
        return "".join(parts)


_registry = _Registry()


def register_secret(value: str) -> None:
    """Remember a secret value so `scrub` removes it, its quoted forms and every long enough fragment of them
    (a value shorter than MIN_SECRET_LENGTH is ignored: the callers refuse it first)."""
    _registry.add(value)


def scrub(text: str) -> str:
    """`text` with every run of 8 or more characters of a known secret replaced by `***`."""
    return _registry.scrub(text)


def refuse_pickling(obj: object) -> NoReturn:
    """Objects that hold secret values are never serialised (a pickle would carry the raw value)."""
    raise TypeError(f"{type(obj).__name__} holds secret values and cannot be pickled")


class Secret:
    """A secret string. Only `reveal()` gives the value; printing, logging or formatting it does not.

    Created with `scrubbed=True` (the default), the value is registered with the scrubber. Raw Key
    Vault values (whole connection strings, JSON documents) are wrapped with `scrubbed=False`:
    their secret parts are registered when parsed, their public parts (namespace, rule name)
    must stay readable in logs.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str, *, scrubbed: bool = True) -> None:
        self._value = value
        if scrubbed:
            register_secret(value)

    def reveal(self) -> str:
        """The secret value, for the one place that must send it (Adobe's request body, IMS form)."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED})"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        refuse_pickling(self)
