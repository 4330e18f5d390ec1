"""Thread-safe store of Platform objects, per resource kind and sandbox, in creation order.

Every Flow Service or Catalog resource the stand-in serves (connections today; source and target
connections, flows, datasets later) is a :class:`Record`: its JSON document (``data``, with an
``"id"``), the sandbox it lives in, a store-wide sequence number (creation order, used for stable
listing and continuation tokens) and free-form ``flags`` (e.g. ``in_use``) that are not part of
the document. Handlers that read-modify-write hold :attr:`Store.lock`.
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Record", "Store", "new_etag", "now_ms"]


def now_ms() -> int:
    """Milliseconds since the epoch, as Platform timestamps (``createdAt``, ``updatedAt``) are."""
    return int(time.time() * 1000)


def new_etag() -> str:
    """A fresh etag in the form Platform uses: a quoted string, ``"\\"<uuid>\\""``."""
    return f'"{uuid.uuid4()}"'


@dataclass
class Record:
    """One stored resource."""

    kind: str
    sandbox: str
    seq: int
    data: dict[str, Any]
    flags: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """The resource id (``data["id"]``)."""
        return str(self.data["id"])

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of the document."""
        return copy.deepcopy(self.data)


class Store:
    """Records by (kind, id); listing is per kind and sandbox, oldest first."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        """Hold it around a read-modify-write of a record."""
        self._records: dict[tuple[str, str], Record] = {}
        self._seq = 0

    def add(self, kind: str, sandbox: str, data: dict[str, Any], **flags: Any) -> Record:
        """Store a document (an ``"id"`` is generated when it has none); returns its record."""
        with self.lock:
            data.setdefault("id", str(uuid.uuid4()))
            self._seq += 1
            record = Record(kind, sandbox, self._seq, data, dict(flags))
            self._records[(kind, record.id)] = record
            return record

    def get(self, kind: str, record_id: str, sandbox: str | None = None) -> Record | None:
        """The record of that kind and id (in that sandbox, when given), or None."""
        with self.lock:
            found = self._records.get((kind, record_id))
        if found is None or (sandbox is not None and found.sandbox != sandbox):
            return None
        return found

    def list(self, kind: str, sandbox: str | None = None) -> list[Record]:
        """Records of a kind (in a sandbox, when given), oldest first."""
        with self.lock:
            records = [r for (k, _), r in self._records.items() if k == kind]
        return sorted((r for r in records if sandbox is None or r.sandbox == sandbox), key=lambda r: r.seq)

    def remove(self, kind: str, record_id: str) -> Record | None:
        """Forget a record; returns it, or None when there was none."""
        with self.lock:
            return self._records.pop((kind, record_id), None)

    def clear(self, kind: str | None = None) -> None:
        """Forget every record (of one kind, when given)."""
        with self.lock:
            if kind is None:
                self._records.clear()
            else:
                for key in [key for key in self._records if key[0] == kind]:
                    del self._records[key]

    def kinds(self) -> set[str]:
        """The kinds that have at least one record."""
        with self.lock:
            return {kind for kind, _ in self._records}
