"""In-memory fakes of the core's interfaces (records, Adobe, secrets, verify queue, clock).

Fakes of the outside world only, never of the project's own code: the service and the claim
protocol run unchanged over them, without sockets.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.adobe import AdobeConnection, ConnectionMissing, Dataset
from shared.clock import Clock
from shared.errors import ConnectorError, DependencyUnavailable, SecretNotFound
from shared.models import ConnectionKey, ConnectionRecord
from shared.records import StoredRecord, WriteConflict
from shared.retry import Deadline
from shared.secrets import SecretValue
from shared.sensitive import Secret


class FakeTime:
    """A monotonic clock that advances only when `sleep` is called, and records each sleep."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []
        self.start = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.t)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def clock(self) -> Clock:
        return Clock(now=self.now, monotonic=self.monotonic, sleep=self.sleep)


class FakeRecords:
    """A record store with etags and conditional writes, like Table storage; given storage's clock, it reports
    each entity's server Timestamp and each read's server Date, as Table storage does."""

    def __init__(self, storage_now: Callable[[], datetime] | None = None) -> None:
        self.rows: dict[ConnectionKey, tuple[ConnectionRecord, str]] = {}
        self.storage_now = storage_now
        self.written: dict[ConnectionKey, datetime] = {}
        self.operations = 0
        self._etags = itertools.count(1)
        #: Called before each write (to interleave another invocation's write).
        self.before_write: Callable[[], None] = lambda: None
        #: Called before each read (to interleave another invocation between a read and what follows it).
        self.before_get: Callable[[], None] = lambda: None

    def _etag(self) -> str:
        return f'W/"{next(self._etags)}"'

    def get(self, key: ConnectionKey) -> StoredRecord | None:
        self.before_get()
        self.operations += 1
        row = self.rows.get(key)
        if row is None:
            return None
        read_at = self.storage_now() if self.storage_now else None
        return StoredRecord(row[0], row[1], written_at=self.written.get(key), read_at=read_at)

    def insert(self, record: ConnectionRecord) -> StoredRecord:
        self.before_write()
        self.operations += 1
        if record.key in self.rows:
            raise WriteConflict(str(record.key))
        etag = self._etag()
        self.rows[record.key] = (record, etag)
        self._stamp(record.key)
        return StoredRecord(record, etag)

    def _stamp(self, key: ConnectionKey) -> None:
        if self.storage_now is not None:
            self.written[key] = self.storage_now()

    def replace(self, record: ConnectionRecord, etag: str) -> StoredRecord:
        self.before_write()
        self.operations += 1
        row = self.rows.get(record.key)
        if row is None or row[1] != etag:
            raise WriteConflict(str(record.key))
        new = self._etag()
        self.rows[record.key] = (record, new)
        self._stamp(record.key)
        return StoredRecord(record, new)

    def delete(self, key: ConnectionKey, etag: str) -> None:
        self.operations += 1
        row = self.rows.get(key)
        if row is None or row[1] != etag:
            raise WriteConflict(str(key))
        del self.rows[key]

    def list(self, sandbox: str | None = None, namespace: str | None = None) -> Iterator[ConnectionRecord]:
        self.operations += 1
        for key, (record, _) in list(self.rows.items()):
            if (sandbox is None or key.sandbox == sandbox) and (namespace is None or key.namespace == namespace):
                yield record

    def record(self, key: ConnectionKey) -> ConnectionRecord:
        return self.rows[key][0]


@dataclass
class FakeObject:
    id: str
    name: str
    body: dict[str, Any]
    created_at: float

    @property
    def content(self) -> dict[str, Any]:
        """What Flow Service lists of it."""
        return {**self.body, "id": self.id, "name": self.name, "createdAt": self.created_at}


def _passes(content: dict[str, Any], filters: Sequence[tuple[str, str]]) -> bool:
    """Flow Service's `property=key==value` filters (dotted keys)."""
    for key, value in filters:
        actual: Any = content
        for part in key.split("."):
            actual = actual.get(part) if isinstance(actual, dict) else None
        if actual is None or str(actual) not in value.split(","):
            return False
    return True


@dataclass
class FakeAdobe:
    """Flow Service in memory. `script` says what each POST does, in order (then "ok"):

    - "ok": created and answered;
    - "lost": created, but the answer is lost (an uncertain outcome);
    - "late": not visible yet, answer lost; committed by `land_late()` (Adobe committing after the client gave up);
    - "503": refused with a retryable status, nothing created;
    - "reject": refused for good (4xx).
    """

    script: list[str] = field(default_factory=list)
    #: A script per collection (taken before `script`): deterministic when objects are made side by side.
    scripts: dict[str, list[str]] = field(default_factory=dict)
    objects: dict[tuple[str, str], list[FakeObject]] = field(default_factory=dict)
    late: list[tuple[str, str, FakeObject]] = field(default_factory=list)
    calls: int = 0
    posts: int = 0
    lists: int = 0
    deletes: list[str] = field(default_factory=list)
    patches: int = 0
    max_attempts: int = 4
    event_hubs: list[str] = field(default_factory=list)
    datasets: dict[str, Dataset] = field(default_factory=dict)
    #: `get_connection` answers 503 (Adobe cannot be asked whether a connection exists).
    fail_gets: bool = False
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def _store(self, sandbox: str, collection: str, body: dict[str, Any]) -> FakeObject:
        n = next(self._ids)
        return FakeObject(f"obj-{n}", str(body["name"]), body, float(n))

    def land_late(self) -> None:
        for sandbox, collection, obj in self.late:
            self.objects.setdefault((sandbox, collection), []).append(obj)
        self.late.clear()

    def in_adobe(self, sandbox: str = "prod", collection: str = "connections") -> list[FakeObject]:
        return list(self.objects.get((sandbox, collection), []))

    def create(
        self,
        sandbox: str,
        collection: str,
        body: dict[str, Any],
        deadline: Deadline,
        *,
        look_up_first: bool,
        lookup: Callable[[], AdobeConnection | None],
    ) -> AdobeConnection:
        uncertain = look_up_first
        check = look_up_first
        for _ in range(self.max_attempts):
            if check:
                found = lookup()
                if found is not None:
                    return replace(found, uncertain=True)
            self.calls += 1
            self.posts += 1
            scripted = self.scripts.get(collection) or self.script
            step = scripted.pop(0) if scripted else "ok"
            obj = self._store(sandbox, collection, body)
            if step == "ok":
                self.objects.setdefault((sandbox, collection), []).append(obj)
                return AdobeConnection(obj.id, f'"{obj.id}"', "req", created=True, uncertain=uncertain)
            if step == "reject":
                from shared.errors import AdobeErrorInfo, AdobeRejected

                raise AdobeRejected("Adobe refused POST.", adobe=AdobeErrorInfo(400, "1401-400", "req"))
            if step == "lost":
                self.objects.setdefault((sandbox, collection), []).append(obj)
            elif step == "late":
                self.late.append((sandbox, collection, obj))
            uncertain = uncertain or step in ("lost", "late", "503")
            check = True
        err = DependencyUnavailable("Adobe Flow Service is unavailable.", dependency="Adobe Flow Service")
        err.outcome_unknown = uncertain
        raise err

    def list_objects(
        self, sandbox: str, collection: str, filters: Sequence[tuple[str, str]], deadline: Deadline
    ) -> list[AdobeConnection]:
        self.calls += 1
        self.lists += 1
        found = [o for o in self.objects.get((sandbox, collection), []) if _passes(o.content, filters)]
        return [AdobeConnection(o.id, f'"{o.id}"', None, created_at=o.created_at, content=o.content) for o in found]

    def delete(self, sandbox: str, collection: str, object_id: str, deadline: Deadline) -> bool:
        self.calls += 1
        objects = self.objects.get((sandbox, collection), [])
        kept = [o for o in objects if o.id != object_id]
        self.objects[(sandbox, collection)] = kept
        self.deletes.append(object_id)
        return len(kept) != len(objects)

    def auth_spec_name(self, sandbox: str, documented: str, params: Iterable[str], deadline: Deadline) -> str:
        return documented

    def forget_auth_specs(self, sandbox: str) -> None:
        return None

    def get_connection(self, sandbox: str, connection_id: str, deadline: Deadline) -> AdobeConnection | None:
        self.calls += 1
        if self.fail_gets:
            raise DependencyUnavailable("Adobe Flow Service is unavailable.", dependency="Adobe Flow Service")
        for obj in self.objects.get((sandbox, "connections"), []):
            if obj.id == connection_id:
                return AdobeConnection(obj.id, f'"{obj.id}"', None)
        return None

    def list_connections(self, sandbox: str, deadline: Deadline) -> list[dict[str, Any]]:
        self.calls += 1
        return [o.content for o in self.in_adobe(sandbox)]

    def explore(self, sandbox: str, connection_id: str, deadline: Deadline) -> tuple[str, ...]:
        self.calls += 1
        return tuple(self.event_hubs)

    def read_dataset(self, sandbox: str, dataset_id: str, deadline: Deadline) -> Dataset | None:
        self.calls += 1
        return self.datasets.get(dataset_id)

    def update_auth_params(
        self, sandbox: str, connection_id: str, etag: str | None, params: dict[str, Any], deadline: Deadline
    ) -> AdobeConnection:
        found = self.get_connection(sandbox, connection_id, deadline)
        if found is None:
            raise ConnectionMissing(connection_id)
        self.patches += 1
        for obj in self.objects.get((sandbox, "connections"), []):
            if obj.id == connection_id:
                obj.body = {**obj.body, "auth": {**obj.body["auth"], "params": dict(params)}}
        return found


class FakeSecrets:
    """Key Vault in memory: name -> value, with versions."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        self.values = dict(values or {})
        self.reads = 0
        #: The current version of each secret ("v1" unless set): a rotation stores a new one.
        self.versions: dict[str, str] = {}

    def get(self, name: str, deadline: Deadline) -> SecretValue:
        self.reads += 1
        if name not in self.values:
            raise SecretNotFound(f"Key Vault secret '{name}' was not found.", secret_name=name)
        return SecretValue(name, Secret(self.values[name], scrubbed=False), self.versions.get(name, "v1"))

    def invalidate(self, name: str) -> None:
        return None


class FakeVerifies:
    """The request queue's delayed verify messages, in memory."""

    def __init__(self) -> None:
        self.scheduled: list[tuple[ConnectionKey, float]] = []
        self.fail: ConnectorError | None = None

    def schedule(self, key: ConnectionKey, delay: float) -> None:
        if self.fail is not None:
            raise self.fail
        self.scheduled.append((key, delay))


class NoEvents:
    def __init__(self) -> None:
        self.published: list[str] = []

    def publish(self, event: str, record: ConnectionRecord, error: ConnectorError | None = None) -> None:
        self.published.append(event)
