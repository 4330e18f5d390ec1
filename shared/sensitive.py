"""Secret values: a wrapper that never prints its value, and the one scrubber for outward text.

Every secret the app handles (SAS keys, client secrets, access tokens, storage account keys) is
registered here when it is wrapped in a `Secret`. `scrub()` replaces every run of
`MIN_FRAGMENT` or more characters of a registered value, so a secret cannot reach a response,
a log line, a record, a queue message or an exception message even when a service quotes it
back in an error text, or when that text is cut. Scrub first, cut after.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Final, NoReturn

REDACTED: Final = "***"
#: The shortest run of a secret's characters that counts as a leak.
MIN_FRAGMENT: Final = 8
#: Secret values remembered by one worker, the least recently used forgotten first: every use registers a
#: value again (parsing a secret, building a request body, a token), so only values no request holds are dropped.
MAX_REGISTERED: Final = 512


class _Registry:
    """The secret values of this process, indexed by every MIN_FRAGMENT-character window."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: OrderedDict[str, None] = OrderedDict()
        self._grams: dict[str, int] = {}
        self._short: set[str] = set()

    def add(self, value: str) -> None:
        if not value:
            return
        with self._lock:
            if value in self._values:
                self._values.move_to_end(value)
                return
            self._values[value] = None
            self._index(value, +1)
            while len(self._values) > MAX_REGISTERED:
                old, _ = self._values.popitem(last=False)
                self._index(old, -1)

    def _index(self, value: str, delta: int) -> None:
        if len(value) < MIN_FRAGMENT:
            (self._short.add if delta > 0 else self._short.discard)(value)
            return
        for i in range(len(value) - MIN_FRAGMENT + 1):
            gram = value[i : i + MIN_FRAGMENT]
            count = self._grams.get(gram, 0) + delta
            if count > 0:
                self._grams[gram] = count
            else:
                self._grams.pop(gram, None)

    def scrub(self, text: str) -> str:
        if not self._grams and not self._short:
            return text
        with self._lock:
            grams, short = self._grams, tuple(self._short)
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
        if spans:
            parts, last = [], 0
            for start, end in spans:
                parts.append(text[last:start])
                parts.append(REDACTED)
                last = end
            parts.append(text[last:])
            text = "".join(parts)
        for value in short:
            text = text.replace(value, REDACTED)
        return text


_registry = _Registry()


def register_secret(value: str) -> None:
    """Remember a secret value so `scrub` removes it (and every long enough fragment of it)."""
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
